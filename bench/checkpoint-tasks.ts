// The bench worker tasks of suite `checkpoint` (bench/checkpoint.ts), run by bench/checkpoint-worker.ts
// inside a bench worker process, and the content of every shard the suite writes.
//
// A shard of rank r is made of 1 MiB blocks: block i is one fixed pseudo-random MiB whose first 8
// bytes are replaced by r and i (little-endian uint32 each), so no two blocks of a step are equal,
// nothing compresses them, and a reader can check every byte against what rank r wrote without
// holding a second copy of the shard. Sizes are bytes; `meta` is the host:port of the cluster's meta.

/**
 * Which API a save task uses: begin + writeShard + finish, or the async Checkpoints.save (copies
 * the shard into staging memory, then writes and finishes in the background).
 */
export type SaveMode = 'writeShard' | 'save';

export type CheckpointTask =
  /** One rank's part of saving one step: begin, one shard `shardName` of `shardBytes`, finish. */
  | {
      kind: 'ckpt-save';
      meta: string;
      dir: string;
      step: number;
      worldSize: number;
      rank: number;
      saveId: string;
      shardName: string;
      shardBytes: number;
      mode: SaveMode;
      /** The Checkpoints' staging budget (the async save); the library's default when absent. */
      stagingBytes?: number;
    }
  /** Reads one rank's shard of a committed step whole (CRC-checked by readShard), then checks its bytes. */
  | { kind: 'ckpt-load'; meta: string; dir: string; step: number; rank: number; shardName: string; shardBytes: number };

/**
 * Wall-clock instants (ms since the epoch, sub-ms precision: performance.timeOrigin + now) of one
 * rank's save, comparable between the processes of one host.
 */
export interface SaveMarks {
  /** "go": the clock of the save starts, before begin() or save(). */
  startedAtMs: number;
  /** writeShard: begin() resolved (save() begins inside, unseen). */
  begunAtMs?: number;
  /** save(): `captured` resolved (the caller may change its buffer from here). */
  capturedAtMs?: number;
  /** writeShard: the shard is synced and closed (save() writes inside, unseen). */
  writtenAtMs?: number;
  /** finish() (or save()'s `committed`) resolved: on the committing rank, the step is committed and visible. */
  finishedAtMs: number;
  committed: boolean;
  /** This rank made the commit (created the manifest and renamed the staging directory). */
  committer: boolean;
}

/** Wall-clock instants of one rank's load. */
export interface LoadMarks {
  startedAtMs: number;
  endedAtMs: number;
}

const BLOCK_BYTES = 1 << 20;
const HEADER_BYTES = 8;

let patternCache: Buffer | undefined;

/** The fixed pseudo-random MiB every block is cut from (xorshift32). */
function blockPattern(): Buffer {
  if (patternCache !== undefined) return patternCache;
  const b = Buffer.allocUnsafe(BLOCK_BYTES);
  let x = 0x6d2b79f5;
  for (let i = 0; i < BLOCK_BYTES; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  patternCache = b;
  return b;
}

/** The shard rank `rank` writes: `bytes` bytes of stamped blocks. */
export function shardContent(rank: number, bytes: number): Buffer {
  const pattern = blockPattern();
  const out = Buffer.allocUnsafe(bytes);
  for (let block = 0, at = 0; at < bytes; block++, at += BLOCK_BYTES) {
    const length = Math.min(BLOCK_BYTES, bytes - at);
    pattern.copy(out, at, 0, length);
    stamp(out, at, length, rank, block);
  }
  return out;
}

function stamp(out: Buffer, at: number, length: number, rank: number, block: number): void {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32LE(rank >>> 0, 0);
  header.writeUInt32LE(block >>> 0, 4);
  header.copy(out, at, 0, Math.min(HEADER_BYTES, length));
}

/**
 * Where `data` first differs from the shard rank `rank` wrote (`expectedBytes` long), or undefined
 * when every byte matches.
 */
export function firstShardMismatch(data: Buffer, rank: number, expectedBytes: number): number | undefined {
  if (data.length !== expectedBytes) return Math.min(data.length, expectedBytes);
  const pattern = blockPattern();
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  for (let block = 0, at = 0; at < expectedBytes; block++, at += BLOCK_BYTES) {
    const length = Math.min(BLOCK_BYTES, expectedBytes - at);
    const headerLength = Math.min(HEADER_BYTES, length);
    header.writeUInt32LE(rank >>> 0, 0);
    header.writeUInt32LE(block >>> 0, 4);
    const headerOk = data.compare(header, 0, headerLength, at, at + headerLength) === 0;
    const bodyOk = data.compare(pattern, headerLength, length, at + headerLength, at + length) === 0;
    if (!headerOk || !bodyOk) {
      for (let i = at; i < at + length; i++) {
        const want = i - at < headerLength ? header[i - at] : pattern[i - at];
        if (data[i] !== want) return i;
      }
    }
  }
  return undefined;
}
