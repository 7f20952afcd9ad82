// Reading the shards of a committed step: one shard (whole or a range), many shards in parallel,
// and verifying a whole step with progress (docs/checkpoints.md, "Integrity").
//
// Guarantees: a whole-shard read returns bytes matching the manifest's size and CRC32C or fails
// with DATA_CORRUPTED naming the shard (a shard is read as VERIFY_READ_BYTES reads, SHARD_READ_DEPTH in
// flight, its CRC32C computed piece by piece in order); at most SHARD_READS_PARALLEL shards are read at once, each
// verify read through one VERIFY_READ_BYTES buffer; verifyStep reports every damaged or missing
// shard (in manifest order) and fails only on other errors (then no new shard read starts). An
// aborted signal stops them between reads (it is not passed into each read: a read of many chunks
// would add a listener per chunk to a signal shared by every read in flight).
import { posix } from 'node:path';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError, isSpindleError } from '../../common/errors.js';
import { forEachLimit } from '../loader/dataset/for-each-limit.js';
import type { SpindleClient } from '../spindle-client.js';
import { checkRank, checkShardName } from './args.js';
import { SHARD_READS_PARALLEL, SHARD_READ_DEPTH, VERIFY_READ_BYTES } from './constants.js';
import { type CheckpointManifest, type ShardRecord, rankDirName } from './format.js';

export interface ReadShardOptions {
  /** First byte to read (default 0). A range read is not checked against the CRC32C. */
  readonly offset?: number;
  /** Bytes to read (default: to the end of the shard). */
  readonly length?: number;
  /**
   * Read into this memory (at least `length` bytes) instead of a new Buffer: a restore filling
   * tensors that exist, or one buffer reused step after step, skips the page faults of fresh memory.
   * The result is a Buffer over its first `length` bytes. Its content is undefined after a failure.
   */
  readonly into?: Uint8Array;
}

/** One shard (or a range of it) for readShards. */
export interface ShardRequest extends ReadShardOptions {
  readonly rank: number;
  readonly name: string;
}

/** Where verify is: called after every read, and once per finished shard. */
export interface VerifyProgress {
  /** Bytes read and checked so far, across every shard. */
  readonly bytesDone: number;
  /** Bytes of every shard of the step (the manifest's sizes). */
  readonly bytesTotal: number;
  /** Shards finished, intact or not. */
  readonly shardsDone: number;
  readonly shardsTotal: number;
}

export interface VerifyOptions {
  readonly onProgress?: (progress: VerifyProgress) => void;
  readonly signal?: AbortSignal;
}

/** A shard verify found damaged or missing. */
export interface DamagedShard {
  readonly rank: number;
  readonly name: string;
  /** What is wrong, naming the shard and the step. */
  readonly problem: string;
}

export interface VerifyReport {
  readonly manifest: CheckpointManifest;
  /** Empty when every shard matches its size and CRC32C. */
  readonly damaged: readonly DamagedShard[];
}

type Handle = Awaited<ReturnType<SpindleClient['open']>>;

/** The shard files of one committed step. */
export interface StepFiles {
  readonly client: SpindleClient;
  readonly manifest: CheckpointManifest;
  readonly stepPath: string;
}

function corruptedShard(step: number, shard: ShardRecord, detail: string): SpindleError {
  return new SpindleError(
    ErrorCode.DATA_CORRUPTED,
    `shard ${rankDirName(shard.rank)}/${shard.name} of step ${step} is damaged: ${detail}`,
  );
}

/**
 * handle.readAt, but a chunk of the shard that failed its checksum on every replica (the client
 * fails over from a damaged replica on its own) is DATA_CORRUPTED naming the shard.
 */
async function readAtChecked(
  handle: Handle,
  step: number,
  shard: ShardRecord,
  position: number,
  target: Buffer,
): Promise<number> {
  try {
    return await handle.readAt(position, target);
  } catch (err) {
    if (!isSpindleError(err, ErrorCode.CHUNK_CORRUPT)) throw err;
    throw corruptedShard(
      step,
      shard,
      `a read at byte ${position} failed its checksum on every replica (${err.message})`,
    );
  }
}

function shardPath(files: StepFiles, shard: ShardRecord): string {
  return posix.join(files.stepPath, rankDirName(shard.rank), shard.name);
}

async function openShard(files: StepFiles, shard: ShardRecord): Promise<Handle> {
  try {
    return await files.client.open(shardPath(files, shard), 'r');
  } catch (err) {
    if (isSpindleError(err, ErrorCode.NOT_FOUND))
      throw corruptedShard(files.manifest.step, shard, 'its file is missing');
    throw err;
  }
}

function checkSize(step: number, shard: ShardRecord, fileBytes: number): void {
  if (fileBytes !== shard.bytes) {
    throw corruptedShard(step, shard, `it is ${fileBytes} bytes, the manifest says ${shard.bytes}`);
  }
}

function checkCrc(step: number, shard: ShardRecord, actual: number): void {
  if (actual >>> 0 !== shard.crc32c) {
    throw corruptedShard(step, shard, `CRC32C ${actual >>> 0}, the manifest says ${shard.crc32c}`);
  }
}

/** The manifest's record of a shard, after checking the request; NOT_FOUND when there is none. */
function findShard(manifest: CheckpointManifest, rank: number, name: string): ShardRecord {
  checkRank(rank, manifest.worldSize);
  checkShardName(name);
  const shard = manifest.shards.find((entry) => entry.rank === rank && entry.name === name);
  if (shard === undefined) {
    throw new SpindleError(ErrorCode.NOT_FOUND, `step ${manifest.step} has no shard ${rankDirName(rank)}/${name}`);
  }
  return shard;
}

interface ReadRange {
  readonly offset: number;
  readonly length: number;
  /** The caller's memory to read into (checked); a new Buffer when absent. */
  readonly into: Buffer | undefined;
}

function checkInto(into: unknown, length: number): Buffer | undefined {
  if (into === undefined) return undefined;
  if (!(into instanceof Uint8Array)) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `into must be a Uint8Array, got ${typeof into}`);
  }
  if (into.length < length) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `into holds ${into.length} bytes, the read needs ${length}`);
  }
  return Buffer.from(into.buffer, into.byteOffset, length);
}

function checkRange(shard: ShardRecord, options: ReadShardOptions): ReadRange {
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > shard.bytes) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `offset must be 0..${shard.bytes}, got ${String(offset)}`);
  }
  const length = options.length ?? shard.bytes - offset;
  if (!Number.isSafeInteger(length) || length < 0 || offset + length > shard.bytes) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `length must be 0..${shard.bytes - offset} (the shard is ${shard.bytes} bytes), got ${String(length)}`,
    );
  }
  return { offset, length, into: checkInto(options.into, length) };
}

/** Fills `piece` from the file at `position`; DATA_CORRUPTED when the file ends first. */
async function readPiece(
  handle: Handle,
  step: number,
  shard: ShardRecord,
  position: number,
  piece: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  for (let filled = 0; filled < piece.length; ) {
    signal?.throwIfAborted();
    const count = await readAtChecked(handle, step, shard, position + filled, piece.subarray(filled));
    if (count === 0) throw corruptedShard(step, shard, `it ends at byte ${position + filled}, not ${shard.bytes}`);
    filled += count;
  }
}

async function readChecked(files: StepFiles, shard: ShardRecord, range: ReadRange, signal?: AbortSignal) {
  const step = files.manifest.step;
  const whole = range.offset === 0 && range.length === shard.bytes;
  const target = range.into ?? Buffer.allocUnsafe(range.length);
  const handle = await openShard(files, shard);
  // Pieces in flight, oldest first: each is CRC'd once it and every piece before it are in.
  const inflight: Array<{ piece: Buffer; read: Promise<void> }> = [];
  let crc = 0;
  const takeOldest = async () => {
    const { piece, read } = inflight.shift()!;
    await read;
    if (whole) crc = crc32c(piece, crc);
  };
  try {
    for (let at = 0; at < range.length; at += VERIFY_READ_BYTES) {
      const piece = target.subarray(at, Math.min(range.length, at + VERIFY_READ_BYTES));
      const read = readPiece(handle, step, shard, range.offset + at, piece, signal);
      read.catch(() => undefined); // awaited in order below; a later piece may fail first
      inflight.push({ piece, read });
      if (inflight.length >= SHARD_READ_DEPTH) await takeOldest();
    }
    while (inflight.length > 0) await takeOldest();
    if (whole) {
      checkSize(step, shard, (await handle.stat()).size);
      checkCrc(step, shard, crc);
    }
  } finally {
    // A failed piece leaves others reading into the target: let them settle before closing.
    await Promise.allSettled(inflight.map(({ read }) => read));
    await handle.close();
  }
  return target;
}

/** Reads one shard of the step (see ReadShardOptions); a whole shard is checked. */
export function readShard(files: StepFiles, rank: number, name: string, options: ReadShardOptions = {}) {
  const shard = findShard(files.manifest, rank, name);
  return readChecked(files, shard, checkRange(shard, options));
}

/**
 * Reads shards (or ranges) of the step, SHARD_READS_PARALLEL at a time, in request order. Every
 * request is checked before any read; the first failure stops new reads and is thrown.
 */
export async function readShards(
  files: StepFiles,
  requests: readonly ShardRequest[],
  signal?: AbortSignal,
): Promise<Buffer[]> {
  if (!Array.isArray(requests)) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'requests must be an array of { rank, name, offset?, length? }');
  }
  const planned = requests.map((request) => {
    const shard = findShard(files.manifest, request?.rank, request?.name);
    return { shard, range: checkRange(shard, request) };
  });
  const results: Buffer[] = new Array(planned.length);
  await forEachLimit([...planned.keys()], SHARD_READS_PARALLEL, async (index) => {
    signal?.throwIfAborted();
    const { shard, range } = planned[index]!;
    results[index] = await readChecked(files, shard, range, signal);
  });
  return results;
}

/** Reads every shard of the step whole, in parallel, and reports the damaged ones. */
export async function verifyStep(files: StepFiles, options: VerifyOptions = {}): Promise<VerifyReport> {
  const { manifest } = files;
  const problems: (DamagedShard | undefined)[] = new Array(manifest.shards.length);
  const progress = {
    bytesDone: 0,
    bytesTotal: manifest.shards.reduce((sum, shard) => sum + shard.bytes, 0),
    shardsDone: 0,
    shardsTotal: manifest.shards.length,
  };
  const report = () => options.onProgress?.({ ...progress });
  const buffers: Buffer[] = [];
  await forEachLimit([...manifest.shards.keys()], SHARD_READS_PARALLEL, async (index) => {
    options.signal?.throwIfAborted();
    const shard = manifest.shards[index]!;
    const buffer = buffers.pop() ?? Buffer.allocUnsafe(VERIFY_READ_BYTES);
    try {
      await verifyShard(files, shard, buffer, options.signal, (bytes) => {
        progress.bytesDone += bytes;
        report();
      });
    } catch (err) {
      if (!isSpindleError(err, ErrorCode.DATA_CORRUPTED)) throw err;
      problems[index] = { rank: shard.rank, name: shard.name, problem: err.message };
    } finally {
      buffers.push(buffer);
    }
    progress.shardsDone++;
    report();
  });
  return { manifest, damaged: problems.filter((problem) => problem !== undefined) };
}

async function verifyShard(
  files: StepFiles,
  shard: ShardRecord,
  buffer: Buffer,
  signal: AbortSignal | undefined,
  onRead: (bytes: number) => void,
): Promise<void> {
  const step = files.manifest.step;
  const handle = await openShard(files, shard);
  try {
    checkSize(step, shard, (await handle.stat()).size);
    let crc = 0;
    for (let position = 0; position < shard.bytes; ) {
      const piece = buffer.subarray(0, Math.min(buffer.length, shard.bytes - position));
      signal?.throwIfAborted();
      const count = await readAtChecked(handle, step, shard, position, piece);
      if (count === 0) throw corruptedShard(step, shard, `it ends at byte ${position}`);
      crc = crc32c(buffer.subarray(0, count), crc);
      position += count;
      onRead(count);
    }
    checkCrc(step, shard, crc);
  } finally {
    await handle.close();
  }
}
