// The simulated disk of one target, under the REAL chunk engine (storage/chunk-engine/chunk-engine.ts)
// and the REAL exactly-once records (storage/channel-records.ts), through their injection points
// (ChunkEngine.openOn, BlockFiles.on, ChannelRecords.openOn):
// - the chunk-metadata store and the records table beside it (one lmdb env, `chunks.mdb`): ordered
//   key-value maps where a transaction is visible after one disk operation and durable only after a
//   flush (`flushed`), as with lmdb; a chunk commit and its client write's record are one
//   transaction, so a crash keeps both or neither;
// - the block files: sparse files of 4 KiB pages where a write is visible at once and durable only
//   after `sync` (fdatasync).
// A crash keeps only what was flushed or synced; the next incarnation opens new stores on it.
// Faults a seed can inject: a flipped byte in a committed chunk's block (the engine must answer
// CHUNK_CORRUPT), and a full disk (a write needing new space fails with ENOSPC, which the engine and
// replicator must surface as NO_SPACE). Every operation takes simulated time and never completes
// once its process is dead.
import { join } from 'node:path';
import { blocksPerFile } from '../../storage/chunk-engine/block-allocator.js';
import { BlockFiles } from '../../storage/chunk-engine/block-files.js';
import type { BlockFile, BlockIo } from '../../storage/chunk-engine/block-io.js';
import { ChunkEngine } from '../../storage/chunk-engine/chunk-engine.js';
import type {
  ChunkMetaStore,
  CommitRecord,
  RecordsStore,
  StoredRecord,
} from '../../storage/chunk-engine/meta-store.js';
import { decodeChunkKey } from '../../storage/chunk-engine/chunk-key.js';
import { decodeChunkMeta, type BlockLocation } from '../../storage/chunk-engine/chunk-meta.js';
import { ChannelRecords } from '../../storage/channel-records.js';
import type { Clock } from '../../common/clock.js';
import { crc32c } from '../../common/crc32c.js';
import type { SimScheduler } from './scheduler.js';

const PAGE_BYTES = 4096;

/** One committed chunk as the checker sees it: metadata plus its bytes. */
export interface StoredChunk {
  version: number;
  chainVersion: number;
  content: Buffer;
  /** The bytes fail the CRC32C recorded with them (corrupt on the medium, or a resync's damaged copy). */
  failsChecksum: boolean;
  /** The CRC32C recorded with the bytes (the chunk's metadata): what the engine answered for them. */
  recordedCrc: number;
}

export function keyOf(ino: number, index: number): string {
  return `${ino}:${index}`;
}

export function parseKey(key: string): { ino: number; index: number } {
  const [ino, index] = key.split(':').map(Number) as [number, number];
  return { ino, index };
}

type Pages = Map<number, Buffer>;

/** What survives a crash: the flushed metadata and records, the synced pages of each file. */
export class SimDisk {
  readonly meta = new Map<string, { key: Buffer; value: Buffer }>();
  readonly records = new Map<string, StoredRecord>();
  readonly files = new Map<string, Pages>();
  /**
   * Damaged bytes of the medium (file → byte position → XOR mask): reads see them, the checker's
   * commit log does not (it records what was written); a write over a position mends it.
   */
  readonly damage = new Map<string, Map<number, number>>();
  /** Full-disk fault: writes needing a new page fail with ENOSPC while set. */
  full = false;
  /** The incarnation's open view, for faults that damage the medium under it. */
  current: SimTargetStore | undefined;
}

export interface SimDiskHooks {
  /** A chunk commit or removal became visible on this target (metadata put). */
  onCommit(key: string, chunk: StoredChunk | undefined): void;
}

/** The stores of one target in one process lifetime. */
export class SimTargetStore {
  readonly meta: SimMetaStore;
  readonly io: SimBlockIo;
  readonly engine: ChunkEngine;
  readonly channels: ChannelRecords;

  constructor(
    readonly disk: SimDisk,
    readonly dir: string,
    private readonly sched: SimScheduler,
    alive: () => boolean,
    clock: Clock,
    hooks: SimDiskHooks,
  ) {
    const op = () => this.sched.delay(diskOpMs(this.sched), alive);
    this.io = new SimBlockIo(disk, op);
    this.meta = new SimMetaStore(disk, op, (key, value) => hooks.onCommit(...this.describe(key, value)));
    disk.current = this;
    this.engine = ChunkEngine.openOn({
      dir,
      meta: this.meta,
      files: BlockFiles.on(join(dir, 'data'), { io: this.io, direct: false }),
      blockIo: { kind: 'fs', reason: 'simulated in-memory block files (test/sim)' },
      clock,
      fsync: true,
    });
    this.channels = ChannelRecords.openOn(this.meta.records, { clock });
  }

  /** A metadata put or removal as the checker records it: chunk key and (for a put) its content. */
  private describe(key: Buffer, value: Buffer | undefined, asOnMedium = false): [string, StoredChunk | undefined] {
    const address = decodeChunkKey(key);
    return [keyOf(address.ino, address.index), value === undefined ? undefined : this.chunkOf(value, asOnMedium)];
  }

  /** A chunk's metadata and bytes: as written (the commit log), or as the medium holds them now (damaged). */
  private chunkOf(value: Buffer, asOnMedium = false): StoredChunk {
    const meta = decodeChunkMeta(value);
    const path = blockPath(this.dir, meta.block);
    const content =
      meta.length === 0 ? Buffer.alloc(0) : this.io.readNow(path, blockStart(meta.block), meta.length, asOnMedium);
    return {
      version: meta.commitVersion,
      chainVersion: meta.chainVersion,
      content,
      failsChecksum: crc32c(content) !== meta.crc32c,
      recordedCrc: meta.crc32c,
    };
  }

  /**
   * Visible committed chunks with their bytes as written, or as on the medium (`asOnMedium`: the
   * checker's final state, where damage nobody repaired shows as other bytes).
   */
  snapshot(asOnMedium = false): Map<string, StoredChunk> {
    const out = new Map<string, StoredChunk>();
    for (const { key, value } of [...this.meta.visible.values()].sort((a, b) => Buffer.compare(a.key, b.key))) {
      const [name, chunk] = this.describe(key, value, asOnMedium);
      out.set(name, chunk!);
    }
    return out;
  }

  /** Whether every visible metadata change and written page is durable (quiescence). */
  get allFlushed(): boolean {
    return this.meta.unflushed.length === 0 && this.io.allSynced;
  }

  /** Chunks whose committed bytes are damaged on the medium. */
  damagedKeys(): Set<string> {
    const out = new Set<string>();
    for (const { key, value } of this.meta.visible.values()) {
      const meta = decodeChunkMeta(value);
      const start = blockStart(meta.block);
      for (const at of this.disk.damage.get(blockPath(this.dir, meta.block))?.keys() ?? []) {
        if (meta.length > 0 && at >= start && at < start + meta.length) {
          const address = decodeChunkKey(key);
          out.add(keyOf(address.ino, address.index));
        }
      }
    }
    return out;
  }

  /**
   * Flips one byte of a committed chunk's block on the medium (reads see it, and after a crash
   * too), skipping chunks in `spare` (damaged on another replica: the chain must keep a good copy).
   * Returns the chunk.
   */
  corruptOne(pick: (n: number) => number, spare: Set<string>): string | undefined {
    const chunks = [...this.meta.visible.values()]
      .map(({ key, value }) => ({ key, meta: decodeChunkMeta(value), address: decodeChunkKey(key) }))
      .filter((c) => c.meta.length > 0 && !spare.has(keyOf(c.address.ino, c.address.index)))
      .sort((a, b) => Buffer.compare(a.key, b.key));
    if (chunks.length === 0) return undefined;
    const victim = chunks[pick(chunks.length)]!;
    const at = blockStart(victim.meta.block) + pick(victim.meta.length);
    this.io.flipByte(blockPath(this.dir, victim.meta.block), at);
    const address = decodeChunkKey(victim.key);
    return keyOf(address.ino, address.index);
  }
}

function diskOpMs(sched: SimScheduler): number {
  // Mostly fast, sometimes slow: slow operations reorder work between chunks and replicas.
  return sched.chance(0.05) ? sched.uniform(5, 30) : sched.uniform(0.05, 1.5);
}

/** Where BlockFiles puts a block (same layout as block-files.ts: c<log2>-<n>.dat, fixed-size slots). */
function blockPath(dir: string, block: BlockLocation): string {
  return join(dir, 'data', `c${block.classLog2}-${Math.floor(block.blockNo / blocksPerFile(block.classLog2))}.dat`);
}

function blockStart(block: BlockLocation): number {
  return (block.blockNo % blocksPerFile(block.classLog2)) * 2 ** block.classLog2;
}

/** One write of a transaction: a table's entry set (value) or removed (undefined). */
interface TxnWrite<V> {
  table: Map<string, V>;
  durable: Map<string, V>;
  name: string;
  value: V | undefined;
}

/**
 * An lmdb env of ordered key-value tables: a transaction is visible after one disk operation and
 * durable after a flush; transactions commit in order, each whole.
 */
class SimKv {
  unflushed: Array<{ id: number; writes: Array<TxnWrite<unknown>> }> = [];
  private nextTxn = 1;

  constructor(private readonly op: () => Promise<void>) {}

  /** One transaction: `build` runs on the visible tables once the disk operation is done. */
  async transaction<T>(
    build: () => { result: T; writes: Array<TxnWrite<unknown>> },
    onVisible?: () => void,
  ): Promise<T> {
    await this.op();
    const { result, writes } = build();
    for (const w of writes) {
      if (w.value === undefined) w.table.delete(w.name);
      else w.table.set(w.name, w.value);
    }
    this.unflushed.push({ id: this.nextTxn++, writes });
    onVisible?.();
    return result;
  }

  async flush(): Promise<boolean> {
    const upTo = this.nextTxn - 1;
    await this.op();
    while (this.unflushed.length > 0 && this.unflushed[0]!.id <= upTo) {
      for (const w of this.unflushed.shift()!.writes) {
        if (w.value === undefined) w.durable.delete(w.name);
        else w.durable.set(w.name, w.value);
      }
    }
    return true;
  }
}

type MetaRow = { key: Buffer; value: Buffer };

/** The chunk-metadata store (lmdb's part the engine uses), keys ordered as bytes, and the records table. */
class SimMetaStore implements ChunkMetaStore {
  private readonly kv: SimKv;
  readonly visible: Map<string, MetaRow>;
  private readonly visibleRecords: Map<string, StoredRecord>;
  readonly records: RecordsStore;

  constructor(
    private readonly disk: SimDisk,
    op: () => Promise<void>,
    private readonly onChange: (key: Buffer, value: Buffer | undefined) => void,
  ) {
    this.kv = new SimKv(op);
    this.visible = new Map(disk.meta);
    this.visibleRecords = new Map(disk.records);
    this.records = {
      // A record write alone (a resync's records, a forgotten one): durable when it resolves, as
      // lmdb's default transaction.
      put: async (key, value) => {
        const done = await this.kv.transaction(() => this.recordWrite(key, value));
        await this.kv.flush();
        return done;
      },
      remove: async (key, seqnum) => {
        const done = await this.kv.transaction(() => {
          const stored = this.visibleRecords.get(key);
          if (stored === undefined || stored.seqnum > seqnum) return { result: false, writes: [] };
          return { result: true, writes: [this.recordsWrite(key, undefined)] };
        });
        await this.kv.flush();
        return done;
      },
      getRange: () =>
        [...this.visibleRecords.entries()].map(([key, value]) => ({ key, value: structuredClone(value) })),
    };
  }

  get unflushed(): unknown[] {
    return this.kv.unflushed;
  }

  get(key: Buffer): Buffer | undefined {
    return this.visible.get(key.toString('hex'))?.value;
  }

  put(key: Buffer, value: Buffer): Promise<boolean> {
    return this.metaTxn(key, value, undefined);
  }

  remove(key: Buffer): Promise<boolean> {
    return this.metaTxn(key, undefined, undefined);
  }

  commitWith(key: Buffer, value: Buffer | undefined, record: CommitRecord): Promise<boolean> {
    return this.metaTxn(key, value, record);
  }

  /** A metadata put or removal, with a record in the same transaction. */
  private metaTxn(key: Buffer, value: Buffer | undefined, record: CommitRecord | undefined): Promise<boolean> {
    const name = key.toString('hex');
    const row = value === undefined ? undefined : { key: Buffer.from(key), value: Buffer.from(value) };
    return this.kv.transaction(
      () => {
        const existed = this.visible.has(name);
        const writes: Array<TxnWrite<unknown>> = [
          { table: this.visible, durable: this.disk.meta, name, value: row } as TxnWrite<unknown>,
        ];
        if (record !== undefined) writes.push(...this.recordWrite(record.key, record.value).writes);
        return { result: row !== undefined || existed, writes };
      },
      () => {
        this.onChange(row?.key ?? Buffer.from(key), row?.value);
        // lmdb's own write thread flushes a committed transaction soon even when nobody waits for it.
        void this.kv.flush();
      },
    );
  }

  /** A record put unless its channel's stored record is newer (lmdb stores a copy). */
  private recordWrite(key: string, value: StoredRecord): { result: boolean; writes: Array<TxnWrite<unknown>> } {
    const stored = this.visibleRecords.get(key);
    if (stored !== undefined && stored.seqnum > value.seqnum) return { result: false, writes: [] };
    return { result: true, writes: [this.recordsWrite(key, structuredClone(value))] };
  }

  private recordsWrite(name: string, value: StoredRecord | undefined): TxnWrite<unknown> {
    return { table: this.visibleRecords, durable: this.disk.records, name, value } as TxnWrite<unknown>;
  }

  get flushed(): Promise<boolean> {
    return this.kv.flush();
  }

  *getRange(options: RangeLike): Iterable<{ key: Buffer; value: Buffer }> {
    const rows = [...this.visible.values()].sort((a, b) => Buffer.compare(a.key, b.key));
    if (options.reverse) rows.reverse();
    let count = 0;
    for (const row of rows) {
      if (!inRange(row.key, options)) continue;
      if (options.limit !== undefined && count >= options.limit) return;
      count++;
      yield row;
    }
  }

  *getKeys(options: RangeLike): Iterable<Buffer> {
    for (const row of this.getRange(options)) yield row.key;
  }

  async close(): Promise<void> {}
}

interface RangeLike {
  start?: unknown;
  end?: unknown;
  reverse?: boolean;
  limit?: number;
  exclusiveStart?: boolean;
  inclusiveEnd?: boolean;
}

/** lmdb's range rules: forward [start, end), reverse (end, start]; the flags flip each bound. */
function inRange(key: Buffer, options: RangeLike): boolean {
  const start = options.start as Buffer | undefined;
  const end = options.end as Buffer | undefined;
  const sign = options.reverse ? -1 : 1;
  if (start !== undefined) {
    const c = sign * Buffer.compare(key, start);
    if (c < 0 || (c === 0 && options.exclusiveStart)) return false;
  }
  if (end !== undefined) {
    const c = sign * Buffer.compare(key, end);
    if (c > 0 || (c === 0 && !options.inclusiveEnd)) return false;
  }
  return true;
}

/** Sparse block files: written pages visible at once, durable after sync. */
class SimBlockIo implements BlockIo {
  readonly kind = 'fs' as const;
  private readonly volatile = new Map<string, Pages>();
  /** Pages written since the last sync of their file (owned by `volatile`, not shared with the disk). */
  private readonly dirty = new Map<string, Set<number>>();

  constructor(
    private readonly disk: SimDisk,
    private readonly op: () => Promise<void>,
  ) {
    for (const [path, pages] of disk.files) this.volatile.set(path, new Map(pages));
  }

  get allSynced(): boolean {
    for (const pages of this.dirty.values()) if (pages.size > 0) return false;
    return true;
  }

  private pages(path: string): Pages {
    let pages = this.volatile.get(path);
    if (pages === undefined) this.volatile.set(path, (pages = new Map()));
    return pages;
  }

  /** Reads the current bytes at once, as written or (`damaged`) as the medium returns them. */
  readNow(path: string, position: number, length: number, damaged: boolean): Buffer {
    const out = Buffer.alloc(length);
    const pages = this.volatile.get(path);
    if (pages === undefined) return out;
    for (let at = position; at < position + length; ) {
      const page = Math.floor(at / PAGE_BYTES);
      const inPage = at - page * PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - inPage, position + length - at);
      pages.get(page)?.copy(out, at - position, inPage, inPage + n);
      at += n;
    }
    if (damaged) {
      for (const [at, mask] of this.disk.damage.get(path) ?? []) {
        if (at >= position && at < position + length) out[at - position]! ^= mask;
      }
    }
    return out;
  }

  private writeNow(path: string, position: number, data: Uint8Array): void {
    const damage = this.disk.damage.get(path);
    for (const at of damage?.keys() ?? []) if (at >= position && at < position + data.length) damage!.delete(at);
    const pages = this.pages(path);
    let dirty = this.dirty.get(path);
    if (dirty === undefined) this.dirty.set(path, (dirty = new Set()));
    const durablePages = this.disk.files.get(path);
    for (let at = position; at < position + data.length; ) {
      const page = Math.floor(at / PAGE_BYTES);
      if (!pages.has(page) && !durablePages?.has(page) && this.disk.full) {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
      }
      if (!dirty.has(page)) {
        pages.set(page, Buffer.from(pages.get(page) ?? Buffer.alloc(PAGE_BYTES)));
        dirty.add(page);
      }
      const inPage = at - page * PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - inPage, position + data.length - at);
      pages.get(page)!.set(data.subarray(at - position, at - position + n), inPage);
      at += n;
    }
  }

  private syncNow(path: string): void {
    const dirty = this.dirty.get(path);
    if (dirty === undefined || dirty.size === 0) return;
    let durable = this.disk.files.get(path);
    if (durable === undefined) this.disk.files.set(path, (durable = new Map()));
    const pages = this.pages(path);
    for (const page of dirty) durable.set(page, pages.get(page)!);
    dirty.clear();
  }

  /** Damages the medium: reads of byte `at` return it flipped, before and after a crash. */
  flipByte(path: string, at: number): void {
    let damage = this.disk.damage.get(path);
    if (damage === undefined) this.disk.damage.set(path, (damage = new Map()));
    damage.set(at, (damage.get(at) ?? 0) ^ 0x5a);
  }

  async open(path: string): Promise<BlockFile> {
    return {
      direct: false,
      read: async (position, length, into) => {
        await this.op();
        const bytes = this.readNow(path, position, length, true);
        if (into === undefined) return bytes;
        bytes.copy(into);
        return into;
      },
      write: async (position, data) => {
        await this.op();
        this.writeNow(path, position, data);
      },
      sync: async () => {
        await this.op();
        // fdatasync makes durable at least what was written before it started (here: all of it).
        this.syncNow(path);
      },
      close: async () => {},
    };
  }
}
