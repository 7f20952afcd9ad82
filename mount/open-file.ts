// One file opened through the mount: a FileHandle of the client library plus the mount's two
// caches — a write-back buffer (sequential writes collect into chunk-aligned 4 MiB buffers that are
// flushed in the background, a few at a time) and sequential readahead (whole chunks prefetched
// ahead of a reader that keeps reading where it stopped; a read inside one block is answered with a
// view of it, no copy).
//
// Guarantees:
// - A buffer is sent when it holds a whole chunk, on flushAll()/sync() (fsync, close(2), a read of
//   the inode, a truncate, a lock release), once no write came for WRITE_BUFFER_IDLE_MS (a writer
//   that stopped without closing), and at the latest WRITE_BUFFER_MAX_AGE_MS after its first byte.
// - Every byte a write acknowledged is on the storage chains after flushAll() resolves; sync()
//   (fsync and close) then reports the length to meta, so the length is right right after close.
// - A flush that failed in the background is reported by the next write, flush or fsync of this
//   file (as NFS does), never dropped.
// - Readahead blocks are dropped when this inode changes through the mount (its generation
//   moves), so a reader never sees bytes older than a write that completed before its read.
// - Memory per file: at most WRITE_FLUSHES_INFLIGHT_MAX + 1 write buffers and
//   READAHEAD_WINDOW_BYTES plus the blocks a read in flight covers.
import type { FileHandle } from '../client/file-handle.js';
import {
  READAHEAD_WINDOW_BYTES,
  READAHEAD_TRIGGER_READS,
  WRITE_BUFFER_BYTES,
  WRITE_BUFFER_IDLE_MS,
  WRITE_BUFFER_MAX_AGE_MS,
  WRITE_BUFFER_POOL_MAX,
  WRITE_FLUSHES_INFLIGHT_MAX,
} from './constants.js';

/** Reuses 4 MiB write buffers across files (bounded). */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly bufferBytes: number,
    readonly keepMax: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  give(buffer: Buffer): void {
    if (this.free.length < this.keepMax && buffer.byteLength === this.bufferBytes) this.free.push(buffer);
  }
}

const sharedWriteBuffers = new BufferPool(WRITE_BUFFER_BYTES, WRITE_BUFFER_POOL_MAX);

/** What an open file shares with the other open files of its inode. */
export interface InodeShared {
  /** Bumped by every write or truncate through the mount: readahead older than it is stale. */
  generation: number;
}

interface ReadaheadBlock {
  generation: number;
  data: Promise<Buffer>;
}

export class OpenFile {
  /** End of the highest byte written through this file since open or its last truncate (buffered included). */
  writtenEnd = 0;
  private buffer: Buffer | undefined;
  private bufferStart = 0;
  private bufferLength = 0;
  private bufferCapacity = 0;
  /** Checks every idle period whether the buffer should go (set while a buffer exists). */
  private idleTimer: NodeJS.Timeout | undefined;
  /** Writes into the buffer since the idle timer last fired (0 when it fires: the writer is idle). */
  private writesSinceTick = 0;
  /** Idle periods the buffer has lived through. */
  private bufferTicks = 0;
  private readonly flushes = new Set<Promise<void>>();
  private failure: unknown;
  private wroteSinceSync = false;
  private nextSequential = -1;
  private sequentialReads = 0;
  private readonly blocks = new Map<number, ReadaheadBlock>();
  private closing: Promise<void> | undefined;

  constructor(
    readonly fh: number,
    readonly handle: FileHandle,
    readonly shared: InodeShared,
    readonly writable: boolean,
    private readonly pool: BufferPool = sharedWriteBuffers,
    private readonly bufferTiming = { idleMs: WRITE_BUFFER_IDLE_MS, maxAgeMs: WRITE_BUFFER_MAX_AGE_MS },
  ) {}

  get ino(): number {
    return this.handle.ino;
  }

  /** Bytes buffered or being flushed (a read of this inode must wait for them). */
  get hasPendingWrites(): boolean {
    return this.buffer !== undefined || this.flushes.size > 0;
  }

  /** Writes whose length meta does not know yet (another handle reading them must sync them first). */
  get hasUnsyncedWrites(): boolean {
    return this.hasPendingWrites || this.wroteSinceSync;
  }

  /** Buffers `data` at `offset`; resolves once it is buffered (flushes run in the background). */
  async write(offset: number, data: Buffer): Promise<number> {
    this.throwFailure();
    this.shared.generation++;
    this.wroteSinceSync = true;
    this.writtenEnd = Math.max(this.writtenEnd, offset + data.byteLength);
    let done = 0;
    while (done < data.byteLength) {
      const at = offset + done;
      if (this.buffer !== undefined && at !== this.bufferStart + this.bufferLength) this.seal();
      if (this.buffer === undefined) {
        this.buffer = this.pool.take();
        this.bufferStart = at;
        this.bufferLength = 0;
        // End the buffer on a WRITE_BUFFER_BYTES boundary so flushes are whole chunks.
        this.bufferCapacity = WRITE_BUFFER_BYTES - (at % WRITE_BUFFER_BYTES);
        this.bufferTicks = 0;
        this.startIdleTimer();
      }
      this.writesSinceTick++;
      const count = Math.min(data.byteLength - done, this.bufferCapacity - this.bufferLength);
      data.copy(this.buffer, this.bufferLength, done, done + count);
      this.bufferLength += count;
      done += count;
      if (this.bufferLength === this.bufferCapacity) this.seal();
    }
    while (this.flushes.size > WRITE_FLUSHES_INFLIGHT_MAX) await Promise.race(this.flushes);
    return data.byteLength;
  }

  /** Sends everything buffered and waits for every flush; throws the first failure. */
  async flushAll(): Promise<void> {
    this.seal();
    while (this.flushes.size > 0) await Promise.all([...this.flushes]);
    this.throwFailure();
  }

  /** flushAll, then reports the written length to meta (fsync, and close(2) via FUSE flush). */
  async sync(): Promise<void> {
    await this.flushAll();
    if (!this.wroteSinceSync) return;
    this.wroteSinceSync = false;
    try {
      await this.handle.sync();
    } catch (err) {
      this.wroteSinceSync = true;
      throw err;
    }
  }

  /** After a truncate of this inode: forget the old write end and take meta's new length. */
  async afterTruncate(): Promise<void> {
    this.writtenEnd = 0;
    this.dropReadahead();
    await this.handle.stat();
  }

  /**
   * Another client may have changed the file (this mount just took a lock on it): drop the
   * readahead blocks and take meta's length.
   */
  async forgetCachedData(): Promise<void> {
    this.dropReadahead();
    await this.handle.stat();
  }

  /** Reads up to `size` bytes at `offset` (fewer at end of file). */
  async read(offset: number, size: number): Promise<Buffer> {
    const sequential = offset === this.nextSequential;
    this.sequentialReads = sequential ? this.sequentialReads + 1 : 1;
    this.nextSequential = offset + size;
    if (this.sequentialReads < READAHEAD_TRIGGER_READS || size === 0) {
      this.dropReadahead();
      return this.readDirect(offset, size);
    }
    return this.readThroughBlocks(offset, size);
  }

  /** Flushes, syncs what it wrote and releases the handle. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closing = (async () => {
      try {
        await this.sync();
      } finally {
        this.dropReadahead();
        await this.handle.close().catch(() => undefined);
      }
    })();
    return this.closing;
  }

  // --- internals -------------------------------------------------------------------------------

  private seal(): void {
    const buffer = this.buffer;
    if (buffer === undefined) return;
    this.buffer = undefined;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const start = this.bufferStart;
    const length = this.bufferLength;
    const flush: Promise<void> = this.handle
      .writeBytes(buffer.subarray(0, length), start)
      .then(
        () => undefined,
        (err: unknown) => {
          this.failure ??= err;
        },
      )
      .finally(() => {
        this.pool.give(buffer);
        this.flushes.delete(flush);
      });
    this.flushes.add(flush);
  }

  /** Counts writes rather than reading a clock: a period with none means the writer is idle. */
  private startIdleTimer(): void {
    this.writesSinceTick = 0;
    this.idleTimer = setTimeout(() => {
      this.bufferTicks++;
      const old = this.bufferTicks * this.bufferTiming.idleMs >= this.bufferTiming.maxAgeMs;
      if (this.writesSinceTick === 0 || old) this.seal();
      else this.startIdleTimer();
    }, this.bufferTiming.idleMs);
    this.idleTimer.unref();
  }

  private throwFailure(): void {
    if (this.failure === undefined) return;
    const failure = this.failure;
    this.failure = undefined;
    throw failure;
  }

  private async readDirect(offset: number, size: number): Promise<Buffer> {
    const target = Buffer.allocUnsafe(size);
    const count = await this.handle.readAt(offset, target);
    return count === size ? target : target.subarray(0, count);
  }

  private dropReadahead(): void {
    this.blocks.clear();
  }

  /** Readahead block size: the file's chunk, so each prefetch is one whole-chunk read from one chain. */
  private get blockBytes(): number {
    return this.handle.chunkSizeBytes;
  }

  private block(index: number): Promise<Buffer> {
    const existing = this.blocks.get(index);
    if (existing !== undefined && existing.generation === this.shared.generation) return existing.data;
    const generation = this.shared.generation;
    const data = this.readDirect(index * this.blockBytes, this.blockBytes);
    const entry = { generation, data };
    this.blocks.set(index, entry);
    // A failed block is forgotten so the next read tries again (and reports its own error).
    data.catch(() => {
      if (this.blocks.get(index) === entry) this.blocks.delete(index);
    });
    return data;
  }

  private async readThroughBlocks(offset: number, size: number): Promise<Buffer> {
    const blockBytes = this.blockBytes;
    const ahead = Math.max(1, Math.floor(READAHEAD_WINDOW_BYTES / blockBytes));
    const first = Math.floor(offset / blockBytes);
    const last = Math.floor((offset + size - 1) / blockBytes);
    for (const index of [...this.blocks.keys()]) {
      if (index < first || index > last + ahead) this.blocks.delete(index);
    }
    const wanted: Array<Promise<Buffer>> = [];
    for (let index = first; index <= last; index++) wanted.push(this.block(index));
    // Prefetch only inside the length this handle knows (a block past it would ask meta each time).
    const knownEnd = Math.max(this.handle.size, this.writtenEnd);
    for (let index = last + 1; index <= last + ahead && index * blockBytes < knownEnd; index++) {
      void this.block(index).catch(() => undefined);
    }
    const parts = await Promise.all(wanted);
    if (parts.length === 1) {
      // The usual case (kernel requests of at most 1 MiB, aligned): a view of the block, no copy.
      // Blocks are never written after their fetch, so the view stays valid while the reply is sent.
      const from = offset - first * blockBytes;
      return parts[0]!.subarray(from, Math.min(from + size, parts[0]!.byteLength));
    }
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    for (let i = 0; i < parts.length; i++) {
      const blockStart = (first + i) * blockBytes;
      const part = parts[i]!;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(offset + size - blockStart, part.byteLength);
      if (to <= from) break;
      part.copy(out, filled, from, to);
      filled += to - from;
      if (part.byteLength < blockBytes) break; // end of file
    }
    return filled === size ? out : out.subarray(0, filled);
  }
}
