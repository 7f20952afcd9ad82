// The chunk engine of one target (docs/design.md §4, docs/3fs-notes.md §2.5): chunk metadata in an lmdb env
// in the target directory, data in size-class files of fixed-size blocks, copy-on-write updates.
//
// Guarantees:
// - An update is two steps. `applyUpdate` writes the new bytes (into a fresh block, or past the
//   committed length of the current block for an append) and fsyncs them; the result is a
//   *pending* version held in memory. `commit` then replaces the chunk's metadata in one lmdb
//   transaction and waits until it is flushed; only then is the old block returned to the free map.
//   A crash anywhere before the metadata flush leaves the old committed version intact.
// - Reads serve only committed metadata and bytes: a pending update is invisible (its bytes are in
//   another block or beyond the committed length), and a block a reader holds is not reused until
//   the reader lets go.
// - Every chunk carries a CRC32C of its bytes and one per segment (4 KiB for chunks written now,
//   64 KiB for format-1 ones: chunk-meta.ts); reads verify the segments they touch and fail with
//   CHUNK_CORRUPT on a mismatch.
// - Decoded metadata is cached (chunk-meta-cache.ts); the cache changes with lmdb in the same
//   event-loop turn as every commit and removal, so a read never sees older metadata than lmdb.
// - The free-block map is rebuilt from committed metadata when the engine opens.
//
// Callers serialize updates of one chunk (the chain replicator holds a per-chunk lock); reads need
// no lock.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../common/clock.js';
import { createLogger, type Logger } from '../../common/logger.js';
import { crc32c, crc32cCombine } from '../../common/crc32c.js';
import { ErrorCode, SpindleError, assert } from '../../common/errors.js';
import { UpdateType } from '../../proto/index.js';
import {
  BLOCK_SIZE_MAX_BYTES,
  CHUNK_META_CACHE_ENTRIES_MAX,
  CRC_SEGMENT_BYTES,
  CRC_SEGMENT_BYTES_FORMAT_1,
} from '../constants.js';
import { ChunkMetaCache } from './chunk-meta-cache.js';
import { BlockAllocator, classForLength } from './block-allocator.js';
import { BlockFiles } from './block-files.js';
import type { BlockIoKind, BlockIoMode } from './block-io.js';
import { chooseBlockIo } from './choose-block-io.js';
import { lmdbWrite } from './lmdb-failures.js';
import { openLmdbMetaStore } from './lmdb-meta-store.js';
import type { ChunkMetaStore, CommitRecord, RecordsStore } from './meta-store.js';
import { SpaceGuard, type SpaceLimits } from './space-guard.js';
import { isBroken } from '../test-breaks.js';
import {
  chunkKeyString,
  decodeChunkKey,
  encodeChunkKey,
  inoKeyRange,
  isChunkKey,
  type ChunkAddress,
} from './chunk-key.js';
import {
  decodeChunkMeta,
  encodeChunkMeta,
  segmentCount,
  type BlockLocation,
  type CommittedChunkMeta,
} from './chunk-meta.js';

export interface ChunkEngineOptions {
  /** Target directory; holds `chunks.mdb` and `data/`. */
  dir: string;
  clock?: Clock;
  /**
   * fsync data blocks and wait for the lmdb flush before an update or commit resolves (default
   * true; off only for throwaway test clusters: StorageConfig.fsync).
   */
  fsync?: boolean;
  /**
   * Block I/O backend: fs, uring, or auto (probe io_uring in the target, fall back to fs); default
   * $SPINDLE_BLOCK_IO, else auto (choose-block-io.ts).
   */
  blockIo?: BlockIoMode;
  /** Where the backend choice is logged (default: a process logger, once per choice). */
  logger?: Logger;
  /** Reserved space (space-guard.ts); undefined = no limit but the disk's own. */
  space?: SpaceLimits;
}

/** What openOn() builds an engine from (open() makes them from a target directory). */
export interface ChunkEngineParts {
  /** Names the target in errors and logs. */
  dir: string;
  meta: ChunkMetaStore;
  files: BlockFiles;
  blockIo: BlockIoReport;
  clock: Clock;
  fsync: boolean;
  space?: SpaceGuard;
}

/** The block I/O backend an engine uses, and why. */
export interface BlockIoReport {
  kind: BlockIoKind;
  reason: string;
}

let fallbackLogger: Logger | undefined;
const announced = new Set<string>();

/** Logs a backend choice: to the caller's logger, else once per distinct choice per process. */
function announceBlockIo(dir: string, report: BlockIoReport, logger: Logger | undefined): void {
  const fields = { dir, blockIo: report.kind, reason: report.reason };
  if (logger !== undefined) {
    logger.info(fields, 'block I/O backend chosen');
    return;
  }
  const key = `${report.kind}:${report.reason.replaceAll(dir, '<dir>')}`;
  if (announced.has(key)) return;
  announced.add(key);
  fallbackLogger ??= createLogger({ name: 'spindle', base: { component: 'storage.block-io' } });
  fallbackLogger.info(fields, 'block I/O backend chosen');
}

/** The checksums a chunk was committed with (which its bytes may no longer match). */
export interface DamagedChecksums {
  crc32c: number;
  segmentCrcs: ArrayLike<number>;
  /**
   * Bytes per segment of `segmentCrcs` (chunk-meta.ts). Undefined when it came over the wire
   * (DamagedChunk has no such field): applyDamagedCopy infers it from the count of CRCs.
   */
  segmentBytes?: number;
}

/**
 * The segment size of `count` segment CRCs of `length` bytes: the current size or format 1's
 * (the only two a sender can have). For a chunk of at most one small segment both fit and mean the
 * same CRC. Undefined when neither fits.
 */
function segmentBytesFor(length: number, count: number): number | undefined {
  return [CRC_SEGMENT_BYTES, CRC_SEGMENT_BYTES_FORMAT_1].find((size) => segmentCount(length, size) === count);
}

/** One update as the engine applies it. */
export interface ChunkUpdate {
  type: UpdateType;
  /** WRITE: byte offset; TRUNCATE: the new length. */
  offset: number;
  /** WRITE/REPLACE: the bytes. */
  data: Uint8Array;
  /** CRC32C of `data`, verified by the caller (saves passes over the bytes). Must be right. */
  dataCrc32c?: number;
}

/** Public view of a chunk's state. */
export interface ChunkInfo {
  ino: number;
  index: number;
  /** Committed version (0 when the chunk exists only as a pending update). */
  commitVersion: number;
  /** Pending version, equal to commitVersion when nothing is in flight. */
  updateVersion: number;
  chainVersion: number;
  /** Committed length. */
  length: number;
  /** CRC32C of the committed bytes. */
  crc32c: number;
}

/** What a pending update produced (compared along the chain before commit). */
export interface PendingResult {
  version: number;
  /** Length after the update (0 for a removal). */
  length: number;
  /** CRC32C of the whole chunk after the update (0 for a removal). */
  crc32c: number;
  removed: boolean;
}

interface PendingUpdate extends PendingResult {
  /** Block holding the pending bytes (undefined: removal or empty chunk). */
  block: BlockLocation | undefined;
  /** True when `block` is a fresh block (copy-on-write) rather than the committed block (append in place). */
  ownsBlock: boolean;
  /** Segment size of `segmentCrcs`. */
  segmentBytes: number;
  segmentCrcs: Uint32Array;
  /** Identifies the update, so a retried copy is recognised (type, offset, length, data CRC). */
  fingerprint: string;
}

export interface ReadResultData {
  data: Buffer;
  /** CRC32C of `data` (from the verified segment CRCs; the bulk path sends it as the frame's). */
  dataCrc32c: number;
  /** Committed length of the whole chunk. */
  chunkLength: number;
  commitVersion: number;
}

const NO_BLOCK: BlockLocation = { classLog2: 0, blockNo: 0 };

function hasBlock(location: BlockLocation): boolean {
  return location.classLog2 !== 0;
}

/**
 * CRC32C of committed bytes [offset, end) of a chunk, `bytes` holding [readStart, …): whole
 * segments from their (verified) stored CRCs, combined without touching the bytes; partial
 * segments at either edge computed from the bytes.
 */
function rangeCrc32c(meta: CommittedChunkMeta, bytes: Buffer, readStart: number, offset: number, end: number): number {
  let crc = 0;
  for (let at = offset; at < end; ) {
    const segment = Math.floor(at / meta.segmentBytes);
    const segmentStart = segment * meta.segmentBytes;
    const segmentEnd = Math.min(meta.length, segmentStart + meta.segmentBytes);
    const pieceEnd = Math.min(end, segmentEnd);
    crc =
      at === segmentStart && pieceEnd === segmentEnd
        ? crc32cCombine(crc, meta.segmentCrcs[segment]!, segmentEnd - segmentStart)
        : crc32c(bytes.subarray(at - readStart, pieceEnd - readStart), crc);
    at = pieceEnd;
  }
  return crc;
}

/** The stored CRC of segments [first, end) of a chunk: their segment CRCs combined, no bytes touched. */
function storedSegmentsCrc32c(meta: CommittedChunkMeta, first: number, end: number): number {
  let crc = meta.segmentCrcs[first]!;
  for (let seg = first + 1; seg < end; seg++) {
    const segmentEnd = Math.min(meta.length, (seg + 1) * meta.segmentBytes);
    crc = crc32cCombine(crc, meta.segmentCrcs[seg]!, segmentEnd - seg * meta.segmentBytes);
  }
  return crc;
}

/** The first segment of `bytes` (read from segment `first` on) that does not match its stored CRC. */
function firstBadSegment(meta: CommittedChunkMeta, bytes: Buffer, first: number): number | undefined {
  for (let seg = first, at = 0; at < bytes.length; seg++, at += meta.segmentBytes) {
    const piece = bytes.subarray(at, Math.min(bytes.length, at + meta.segmentBytes));
    if (crc32c(piece) !== meta.segmentCrcs[seg]) return seg;
  }
  return undefined;
}

function segmentCrcsOf(content: Uint8Array, segmentBytes: number): Uint32Array {
  const crcs = new Uint32Array(segmentCount(content.length, segmentBytes));
  for (let i = 0; i < crcs.length; i++) {
    crcs[i] = crc32c(content.subarray(i * segmentBytes, Math.min(content.length, (i + 1) * segmentBytes)));
  }
  return crcs;
}

/** Identifies an update's content; two updates with the same fingerprint write the same bytes. */
export function updateFingerprint(update: ChunkUpdate): string {
  return `${update.type}:${update.offset}:${update.data.length}:${update.dataCrc32c ?? crc32c(update.data)}`;
}

/** Free scratch buffers a chunk engine keeps for small reads (more are made when all are in use). */
const READ_SCRATCH_KEPT = 32;

/** Reusable buffers of one size; a request larger than that size gets a fresh one (not kept). */
class ScratchBuffers {
  private readonly free: Buffer[] = [];

  constructor(
    private readonly bytes: number,
    private readonly kept: number,
  ) {}

  acquire(length: number): Buffer {
    if (length > this.bytes) return Buffer.allocUnsafe(length);
    return (this.free.pop() ?? Buffer.allocUnsafe(this.bytes)).subarray(0, length);
  }

  release(buffer: Buffer): void {
    if (buffer.buffer.byteLength !== this.bytes || buffer.byteOffset !== 0 || this.free.length >= this.kept) return;
    this.free.push(Buffer.from(buffer.buffer, 0, this.bytes));
  }
}

export class ChunkEngine {
  private readonly pending = new Map<string, PendingUpdate>();
  /** Scratch buffers for small reads (see read()). */
  private readonly readScratch = new ScratchBuffers(2 * CRC_SEGMENT_BYTES_FORMAT_1, READ_SCRATCH_KEPT);
  /** Decoded committed metadata of recently used chunks (the lmdb record decoded once, not per read). */
  private readonly metaCache = new ChunkMetaCache(CHUNK_META_CACHE_ENTRIES_MAX);
  private closed = false;
  private committedBytes = 0;
  private committedChunks = 0;

  private constructor(
    readonly dir: string,
    private readonly env: ChunkMetaStore,
    private readonly db: ChunkMetaStore,
    private readonly files: BlockFiles,
    private readonly allocator: BlockAllocator,
    private readonly clock: Clock,
    private readonly fsync: boolean,
    /** The block I/O backend this engine chose when it opened, and why. */
    readonly blockIo: BlockIoReport,
    /** Refuses writes that need new space on a (nearly) full disk; undefined = no reserve. */
    readonly space: SpaceGuard | undefined,
  ) {}

  /** Opens (creating if needed) the engine of a target directory and rebuilds the free-block map. */
  static async open(options: ChunkEngineOptions): Promise<ChunkEngine> {
    await mkdir(options.dir, { recursive: true });
    const fsync = options.fsync ?? true;
    const env = openLmdbMetaStore(join(options.dir, 'chunks.mdb'), fsync);
    let files: BlockFiles | undefined;
    try {
      const db = env;
      // Durable targets write whole blocks with O_DIRECT (see block-files.ts); throwaway ones keep
      // the page cache, where an unsynced write costs no disk time.
      const dataDir = join(options.dir, 'data');
      await mkdir(dataDir, { recursive: true });
      const choice = await chooseBlockIo(dataDir, { mode: options.blockIo });
      files = await BlockFiles.open(dataDir, { direct: fsync, io: choice.io });
      const blockIo = { kind: choice.kind, reason: choice.reason };
      announceBlockIo(options.dir, blockIo, options.logger);
      const allocator = new BlockAllocator();
      const engine = new ChunkEngine(
        options.dir,
        env,
        db,
        files,
        allocator,
        options.clock ?? systemClock,
        fsync,
        blockIo,
        options.space === undefined ? undefined : new SpaceGuard(options.dir, options.space),
      );
      engine.rebuild();
      return engine;
    } catch (err) {
      await files?.close();
      await env.close();
      throw err;
    }
  }

  /**
   * An engine on given parts, opened at once (the free-block map rebuilt from `meta`): how the
   * simulator runs this engine on its in-memory disk (test/sim). open() does the same on lmdb and files.
   */
  static openOn(parts: ChunkEngineParts): ChunkEngine {
    const { dir, meta, files, clock, fsync, blockIo, space } = parts;
    const engine = new ChunkEngine(dir, meta, meta, files, new BlockAllocator(), clock, fsync, blockIo, space);
    engine.rebuild();
    return engine;
  }

  private rebuild(): void {
    for (const { key, value } of this.db.getRange({})) {
      if (!isChunkKey(key)) continue; // the records table's entry in the root db
      const meta = decodeChunkMeta(value);
      if (hasBlock(meta.block)) this.allocator.markUsed(meta.block);
      this.committedBytes += meta.length;
      this.committedChunks++;
    }
  }

  /** A block write needing `bytes` of new disk space, through the space guard when there is one. */
  private guardSpace(bytes: number, write: () => Promise<void>): Promise<void> {
    return this.space === undefined ? write() : this.space.guard(bytes, write);
  }

  private checkOpen(): void {
    if (this.closed) throw new SpindleError(ErrorCode.CANCELLED, `target ${this.dir} is closed`);
  }

  private async flushed(): Promise<void> {
    if (this.fsync) await this.env.flushed;
  }

  /**
   * Writes a chunk's record (`meta`, or its removal) to lmdb and then the cache, in the turn the
   * write resolves: reads while it ran may have cached what lmdb held before, and the cache must
   * not depend on when lmdb's read snapshots see the write. A failed write forgets the entry.
   */
  private async cachedWrite(key: string, meta: CommittedChunkMeta | undefined, write: () => Promise<boolean>) {
    try {
      await write();
    } catch (err) {
      this.metaCache.forget(key);
      throw err;
    }
    this.metaCache.set(key, meta);
  }

  /** Committed metadata, or undefined when the chunk does not exist. */
  committed(ino: number, index: number): CommittedChunkMeta | undefined {
    this.checkOpen();
    const key = chunkKeyString(ino, index);
    const cached = this.metaCache.get(key);
    if (cached !== undefined) return cached.meta;
    const raw = this.db.get(encodeChunkKey(ino, index));
    const meta = raw === undefined ? undefined : decodeChunkMeta(raw);
    this.metaCache.set(key, meta);
    return meta;
  }

  /** The pending update of a chunk, if any. */
  pendingOf(ino: number, index: number): (PendingResult & { fingerprint: string }) | undefined {
    return this.pending.get(chunkKeyString(ino, index));
  }

  info(ino: number, index: number): ChunkInfo | undefined {
    const meta = this.committed(ino, index);
    const pending = this.pending.get(chunkKeyString(ino, index));
    if (meta === undefined && pending === undefined) return undefined;
    return toInfo({ ino, index }, meta, pending);
  }

  /**
   * Reads committed bytes [offset, offset + length) clipped to the chunk's length. Never waits for
   * and never returns a pending update. CHUNK_NOT_FOUND when the chunk does not exist,
   * CHUNK_CORRUPT when the bytes do not match their checksum.
   */
  async read(ino: number, index: number, offset: number, length: number): Promise<ReadResultData> {
    const meta = this.committed(ino, index);
    if (meta === undefined) throw new SpindleError(ErrorCode.CHUNK_NOT_FOUND, `chunk ${ino}:${index} does not exist`);
    const end = Math.min(meta.length, offset + length);
    if (offset >= end)
      return { data: Buffer.alloc(0), dataCrc32c: 0, chunkLength: meta.length, commitVersion: meta.commitVersion };
    // Hold the block (synchronously, right after reading the metadata) so a concurrent commit cannot reuse it.
    this.allocator.retain(meta.block);
    try {
      const segmentBytes = meta.segmentBytes;
      const firstSegment = Math.floor(offset / segmentBytes);
      const endSegment = Math.ceil(end / segmentBytes);
      const readStart = firstSegment * segmentBytes;
      const readEnd = Math.min(meta.length, endSegment * segmentBytes);
      // A range much smaller than the segments that must be read to verify it (a 4 KiB read of
      // one 64 KiB segment): read into a reused scratch buffer and hand out a copy of the range,
      // instead of a fresh buffer of the whole segments per read (measured: that allocation and
      // its garbage were a fifth of a storage node's CPU under 4 KiB random reads).
      const readLength = readEnd - readStart;
      const scratch = (end - offset) * 2 <= readLength ? this.readScratch.acquire(readLength) : undefined;
      try {
        const bytes = await this.files.read(meta.block, readStart, readLength, scratch);
        // One pass over the bytes read, compared with their segments' stored CRCs combined (the
        // whole-chunk CRC when all of it was read): as strong as a check per segment against a
        // damaged block, without a checksum call per 4 KiB on large reads.
        const bytesCrc = crc32c(bytes);
        const expected =
          readStart === 0 && readEnd === meta.length
            ? meta.crc32c
            : storedSegmentsCrc32c(meta, firstSegment, endSegment);
        if (bytesCrc !== expected && !isBroken('read-skips-checksum')) {
          const bad = firstBadSegment(meta, bytes, firstSegment) ?? firstSegment;
          throw new SpindleError(
            ErrorCode.CHUNK_CORRUPT,
            `chunk ${ino}:${index} v${meta.commitVersion} failed its checksum ` +
              `at byte ${bad * segmentBytes}; read another replica`,
          );
        }
        const range = bytes.subarray(offset - readStart, end - readStart);
        return {
          data: scratch === undefined ? range : Buffer.from(range),
          dataCrc32c:
            offset === readStart && end === readEnd ? bytesCrc : rangeCrc32c(meta, bytes, readStart, offset, end),
          chunkLength: meta.length,
          commitVersion: meta.commitVersion,
        };
      } finally {
        if (scratch !== undefined) this.readScratch.release(scratch);
      }
    } finally {
      this.allocator.release(meta.block);
    }
  }

  /**
   * The chunk's full content as of its latest version, pending included (for a full-chunk replace
   * sent to a syncing successor). Caller holds the chunk lock. Undefined when removed or absent.
   */
  async readLatest(ino: number, index: number): Promise<Buffer | undefined> {
    const pending = this.pending.get(chunkKeyString(ino, index));
    if (pending !== undefined) {
      if (pending.removed) return undefined;
      if (pending.block === undefined) return Buffer.alloc(0);
      return this.files.read(pending.block, 0, pending.length);
    }
    const meta = this.committed(ino, index);
    if (meta === undefined) return undefined;
    return this.readCommittedAll(ino, index, meta);
  }

  /**
   * The chunk's full latest content for a full-chunk copy (a resync, or a forward to a syncing
   * successor), pending included, as the block holds it; with `damaged` set to the checksums the
   * content was written under when it no longer matches them (a corrupt block, or an append in
   * place onto one). The receiver stores such a copy with applyDamagedCopy: its reads fail like
   * ours, never return wrong bytes. Undefined when removed or absent. Caller holds the chunk lock.
   */
  async readForCopy(ino: number, index: number): Promise<{ data: Buffer; damaged?: DamagedChecksums } | undefined> {
    const pending = this.pending.get(chunkKeyString(ino, index));
    const meta = pending === undefined ? this.committed(ino, index) : undefined;
    const source = pending ?? meta;
    if (source === undefined || pending?.removed === true) return undefined;
    const block = pending !== undefined ? pending.block : meta!.block;
    const data =
      source.length === 0 || block === undefined ? Buffer.alloc(0) : await this.files.read(block, 0, source.length);
    if (crc32c(data) === source.crc32c) return { data };
    return {
      data,
      damaged: { crc32c: source.crc32c, segmentCrcs: source.segmentCrcs, segmentBytes: source.segmentBytes },
    };
  }

  /**
   * Like applyUpdate with a REPLACE of `data`, but the pending version keeps the given checksums
   * (a sender's recorded ones that `data` fails): the receiving end of readForCopy. Once committed,
   * reads of the segments that fail answer CHUNK_CORRUPT, as on the sender; nothing serves wrong
   * bytes, and a repair from a good copy (chunk-repair.ts) mends it. Caller holds the chunk lock.
   */
  async applyDamagedCopy(
    ino: number,
    index: number,
    version: number,
    data: Buffer,
    checksums: DamagedChecksums,
  ): Promise<PendingResult> {
    const segmentBytes = checksums.segmentBytes ?? segmentBytesFor(data.length, checksums.segmentCrcs.length);
    if (segmentBytes === undefined || checksums.segmentCrcs.length !== segmentCount(data.length, segmentBytes)) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `a damaged copy of chunk ${ino}:${index} has ${checksums.segmentCrcs.length} segment CRCs ` +
          `for ${data.length} bytes`,
      );
    }
    await this.applyUpdate(ino, index, version, {
      type: UpdateType.REPLACE,
      offset: 0,
      data,
      dataCrc32c: crc32c(data),
    });
    const pending = this.pending.get(chunkKeyString(ino, index))!;
    pending.crc32c = checksums.crc32c;
    pending.segmentBytes = segmentBytes;
    pending.segmentCrcs = Uint32Array.from(checksums.segmentCrcs);
    return publicPending(pending);
  }

  private async readCommittedAll(ino: number, index: number, meta: CommittedChunkMeta): Promise<Buffer> {
    if (meta.length === 0) return Buffer.alloc(0);
    const bytes = await this.files.read(meta.block, 0, meta.length);
    if (crc32c(bytes) !== meta.crc32c) {
      throw new SpindleError(
        ErrorCode.CHUNK_CORRUPT,
        `chunk ${ino}:${index} v${meta.commitVersion} failed its checksum`,
      );
    }
    return bytes;
  }

  /**
   * Applies an update as pending version `version` on top of the committed version, replacing any
   * earlier pending update. The new bytes are on disk when this resolves. Caller holds the lock.
   */
  async applyUpdate(ino: number, index: number, version: number, update: ChunkUpdate): Promise<PendingResult> {
    this.checkOpen();
    const key = chunkKeyString(ino, index);
    this.abort(ino, index);
    const meta = this.committed(ino, index);
    const fingerprint = updateFingerprint(update);
    const oldLength = meta?.length ?? 0;

    if (update.type === UpdateType.REMOVE) {
      const pending: PendingUpdate = {
        version,
        length: 0,
        crc32c: 0,
        removed: true,
        block: undefined,
        ownsBlock: false,
        segmentBytes: CRC_SEGMENT_BYTES,
        segmentCrcs: new Uint32Array(0),
        fingerprint,
      };
      this.pending.set(key, pending);
      return publicPending(pending);
    }

    let newLength: number;
    switch (update.type) {
      case UpdateType.WRITE:
        newLength = Math.max(oldLength, update.offset + update.data.length);
        break;
      case UpdateType.REPLACE:
        newLength = update.data.length;
        break;
      case UpdateType.TRUNCATE:
        newLength = update.offset;
        break;
      default:
        throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `unknown update type ${update.type}`);
    }
    if (newLength > BLOCK_SIZE_MAX_BYTES) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `chunk would grow to ${newLength} bytes, above the largest chunk (${BLOCK_SIZE_MAX_BYTES})`,
      );
    }

    // Append in place: the bytes go past the committed length of the committed block, which no
    // reader of the committed version looks at. Zeros fill any gap (the area may hold old bytes).
    if (
      update.type === UpdateType.WRITE &&
      meta !== undefined &&
      hasBlock(meta.block) &&
      update.offset >= oldLength &&
      update.data.length > 0 &&
      newLength <= 2 ** meta.block.classLog2
    ) {
      const gap = update.offset - oldLength;
      const tail = gap === 0 ? update.data : Buffer.concat([Buffer.alloc(gap), update.data]);
      // Bytes past the committed length may be a hole of the sparse file: count them as new.
      await this.guardSpace(tail.length, () => this.files.write(meta.block, oldLength, tail));
      if (this.fsync) await this.files.sync(meta.block);
      // The chunk keeps its segment size (a format-1 chunk its 64 KiB) until it is rewritten.
      const segmentBytes = meta.segmentBytes;
      const segmentCrcs = new Uint32Array(segmentCount(newLength, segmentBytes));
      segmentCrcs.set(meta.segmentCrcs);
      for (let at = oldLength; at < newLength; ) {
        const seg = Math.floor(at / segmentBytes);
        const segEnd = Math.min(newLength, (seg + 1) * segmentBytes);
        const start = seg < meta.segmentCrcs.length ? meta.segmentCrcs[seg]! : 0;
        segmentCrcs[seg] = crc32c(tail.subarray(at - oldLength, segEnd - oldLength), start);
        at = segEnd;
      }
      const pending: PendingUpdate = {
        version,
        length: newLength,
        crc32c: crc32c(tail, meta.crc32c),
        removed: false,
        block: meta.block,
        ownsBlock: false,
        segmentBytes,
        segmentCrcs,
        fingerprint,
      };
      this.pending.set(key, pending);
      return publicPending(pending);
    }

    // Copy on write: build the new content and write it to a fresh block.
    let content: Buffer;
    /** CRC of the whole new content when it is known without another pass (the update's data CRC). */
    let contentCrc: number | undefined;
    if (
      update.type === UpdateType.REPLACE ||
      (update.type === UpdateType.WRITE && update.offset === 0 && update.data.length >= oldLength)
    ) {
      content = Buffer.from(update.data.buffer, update.data.byteOffset, update.data.byteLength);
      contentCrc = update.dataCrc32c;
    } else {
      content = Buffer.alloc(newLength);
      if (meta !== undefined && oldLength > 0) {
        const old = await this.readCommittedAll(ino, index, meta);
        old.copy(content, 0, 0, Math.min(oldLength, newLength));
      }
      if (update.type === UpdateType.WRITE) content.set(update.data, update.offset);
    }
    let block: BlockLocation | undefined;
    if (newLength > 0) {
      const classLog2 = classForLength(newLength);
      // Only a block past every block ever used takes new disk space (freed ones are reused).
      const freshBytes = this.allocator.nextIsFresh(classLog2) ? newLength : 0;
      const at = this.allocator.allocate(classLog2);
      block = at;
      try {
        await this.guardSpace(freshBytes, () => this.files.write(at, 0, content));
        if (freshBytes > 0) this.allocator.markWritten(at);
        if (this.fsync) await this.files.sync(block);
      } catch (err) {
        this.allocator.free(block);
        throw err;
      }
    }
    const pending: PendingUpdate = {
      version,
      length: newLength,
      crc32c: contentCrc ?? crc32c(content),
      removed: false,
      block,
      ownsBlock: block !== undefined,
      segmentBytes: CRC_SEGMENT_BYTES,
      segmentCrcs: segmentCrcsOf(content, CRC_SEGMENT_BYTES),
      fingerprint,
    };
    if (this.closed) {
      if (block !== undefined) this.allocator.free(block);
      this.checkOpen();
    }
    this.pending.set(key, pending);
    return publicPending(pending);
  }

  /**
   * Makes pending version `version` the committed one: one lmdb transaction, flushed to disk before
   * this resolves; the replaced block is freed afterwards. `record` (the exactly-once record of the
   * client write this commit carries out) is written in the same transaction. Returns the chunk's
   * state after commit (undefined for a removal).
   */
  async commit(
    ino: number,
    index: number,
    version: number,
    chainVersion: number,
    record?: CommitRecord,
  ): Promise<ChunkInfo | undefined> {
    this.checkOpen();
    const key = chunkKeyString(ino, index);
    const pending = this.pending.get(key);
    if (pending === undefined || pending.version !== version) {
      throw new SpindleError(ErrorCode.INTERNAL, `chunk ${key} has no pending version ${version} to commit`);
    }
    const dbKey = encodeChunkKey(ino, index);
    const old = this.committed(ino, index);
    if (pending.removed) {
      if (old !== undefined) {
        await lmdbWrite(`remove of chunk ${key}`, async () => {
          await this.cachedWrite(key, undefined, () =>
            record === undefined ? this.db.remove(dbKey) : this.db.commitWith(dbKey, undefined, record),
          );
          await this.flushed();
        });
      } else if (record !== undefined) {
        await lmdbWrite(`record of chunk ${key}`, async () => {
          await this.db.records.put(record.key, record.value);
          await this.flushed();
        });
      }
    } else {
      const meta: CommittedChunkMeta = {
        commitVersion: version,
        chainVersion,
        length: pending.length,
        crc32c: pending.crc32c,
        block: pending.block ?? NO_BLOCK,
        segmentBytes: pending.segmentBytes,
        segmentCrcs: pending.segmentCrcs,
        updatedUs: this.clock.nowUs(),
      };
      await lmdbWrite(`commit of chunk ${key}`, async () => {
        const value = encodeChunkMeta(meta);
        await this.cachedWrite(key, meta, () =>
          record === undefined ? this.db.put(dbKey, value) : this.db.commitWith(dbKey, value, record),
        );
        await this.flushed();
      });
    }
    // The pending entry may have been replaced only by this caller (it holds the lock).
    assert(this.pending.get(key) === pending, `pending update of ${key} changed during its commit`);
    this.pending.delete(key);
    if (old !== undefined) {
      this.committedBytes -= old.length;
      this.committedChunks--;
      if (hasBlock(old.block) && (pending.removed || pending.ownsBlock || pending.block === undefined))
        this.allocator.free(old.block);
    }
    if (pending.removed) return undefined;
    this.committedBytes += pending.length;
    this.committedChunks++;
    return {
      ino,
      index,
      commitVersion: version,
      updateVersion: version,
      chainVersion,
      length: pending.length,
      crc32c: pending.crc32c,
    };
  }

  /** Drops a pending update (a failed write); its fresh block goes back to the free map. */
  abort(ino: number, index: number): void {
    const key = chunkKeyString(ino, index);
    const pending = this.pending.get(key);
    if (pending === undefined) return;
    this.pending.delete(key);
    if (pending.ownsBlock && pending.block !== undefined) this.allocator.free(pending.block);
  }

  /** Chunk addresses of `ino` with index >= fromIndex, committed or pending, in index order. */
  listChunks(ino: number, fromIndex = 0): ChunkAddress[] {
    this.checkOpen();
    const seen = new Set<string>();
    const out: ChunkAddress[] = [];
    const { start, end } = inoKeyRange(ino, fromIndex);
    for (const key of this.db.getKeys({ start, end })) {
      if (!isChunkKey(key)) continue;
      const address = decodeChunkKey(key);
      seen.add(chunkKeyString(address.ino, address.index));
      out.push(address);
    }
    for (const [key] of this.pending) {
      const [pIno, pIndex] = key.split(':').map(Number) as [number, number];
      if (pIno === ino && pIndex >= fromIndex && !seen.has(key)) out.push({ ino: pIno, index: pIndex });
    }
    return out.sort((a, b) => a.index - b.index);
  }

  /**
   * Deletes a chunk at once (committed and pending), as one flushed lmdb transaction. Used by
   * RemoveChunks; caller holds the chunk lock. Returns whether a committed chunk existed.
   */
  async removeNow(ino: number, index: number): Promise<boolean> {
    this.checkOpen();
    this.abort(ino, index);
    const old = this.committed(ino, index);
    if (old === undefined) return false;
    await lmdbWrite(`remove of chunk ${ino}:${index}`, async () => {
      await this.cachedWrite(chunkKeyString(ino, index), undefined, () => this.db.remove(encodeChunkKey(ino, index)));
      await this.flushed();
    });
    this.committedBytes -= old.length;
    this.committedChunks--;
    if (hasBlock(old.block)) this.allocator.free(old.block);
    return true;
  }

  /** The committed chunk of `ino` with the highest index, if any. */
  lastChunk(ino: number): { index: number; length: number; commitVersion: number } | undefined {
    this.checkOpen();
    const { start, end } = inoKeyRange(ino, 0);
    for (const { key, value } of this.db.getRange({
      start: end,
      end: start,
      reverse: true,
      exclusiveStart: true,
      inclusiveEnd: true,
      limit: 2, // one may be the records table's entry (ino INO_MAX's range holds it)
    })) {
      if (!isChunkKey(key)) continue;
      const meta = decodeChunkMeta(value);
      return { index: decodeChunkKey(key).index, length: meta.length, commitVersion: meta.commitVersion };
    }
    return undefined;
  }

  /** Committed chunk metadata in key order, after `after` (exclusive), at most `limit` rows. */
  dump(options: { after?: ChunkAddress; limit: number; ino?: number }): { chunks: ChunkInfo[]; hasMore: boolean } {
    this.checkOpen();
    let start: Buffer | undefined;
    let end: Buffer | undefined;
    if (options.ino !== undefined && options.ino > 0) ({ start, end } = inoKeyRange(options.ino, 0));
    if (options.after !== undefined) {
      // Smallest key greater than `after`: the same 16 bytes followed by a zero byte.
      const afterKey = Buffer.concat([encodeChunkKey(options.after.ino, options.after.index), Buffer.alloc(1)]);
      if (start === undefined || Buffer.compare(afterKey, start) > 0) start = afterKey;
    }
    const chunks: ChunkInfo[] = [];
    let hasMore = false;
    // No row limit: the records table's entry may be among the rows (lmdb reads them lazily).
    for (const { key, value } of this.db.getRange({ start, end })) {
      if (!isChunkKey(key)) continue;
      if (chunks.length === options.limit) {
        hasMore = true;
        break;
      }
      const address = decodeChunkKey(key);
      chunks.push(
        toInfo(address, decodeChunkMeta(value), this.pending.get(chunkKeyString(address.ino, address.index))),
      );
    }
    return { chunks, hasMore };
  }

  /** The target's exactly-once records table (same env as the chunk metadata: commit() writes to it). */
  get records(): RecordsStore {
    return this.db.records;
  }

  /** Sum of committed chunk lengths. */
  usedBytes(): number {
    return this.committedBytes;
  }

  /** Bytes of data blocks in use (≥ usedBytes: blocks are powers of two). */
  allocatedBytes(): number {
    return this.allocator.usedBytes();
  }

  chunkCount(): number {
    return this.committedChunks;
  }

  /** For tests: whether a block is marked used. */
  isBlockUsed(location: BlockLocation): boolean {
    return this.allocator.isUsed(location);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [key] of this.pending) {
      const [ino, index] = key.split(':').map(Number) as [number, number];
      this.abort(ino, index);
    }
    await this.files.close();
    await this.env.close();
  }
}

function publicPending(pending: PendingUpdate): PendingResult {
  return { version: pending.version, length: pending.length, crc32c: pending.crc32c, removed: pending.removed };
}

function toInfo(
  address: ChunkAddress,
  meta: CommittedChunkMeta | undefined,
  pending: PendingUpdate | undefined,
): ChunkInfo {
  const commitVersion = meta?.commitVersion ?? 0;
  return {
    ino: address.ino,
    index: address.index,
    commitVersion,
    updateVersion: pending?.version ?? commitVersion,
    chainVersion: meta?.chainVersion ?? 0,
    length: meta?.length ?? 0,
    crc32c: meta?.crc32c ?? 0,
  };
}
