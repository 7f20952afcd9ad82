// Appends to a new file in large writes (packed-dataset files, checkpoint shards): bytes are
// gathered into BUFFERED_WRITE_BYTES buffers and each full buffer is written at once (so every
// write but the last covers whole chunks), with up to BUFFERED_WRITES_IN_FLIGHT_MAX writes in
// flight (or the writer's own writesInFlightMax) while the next buffer fills. appendOwned() takes
// bytes the caller lends until they are written (checkpoint staging pieces, a shard the caller
// awaits): their whole BUFFERED_WRITE_BYTES runs are written as they are, without the copy.
//
// Guarantees: the file holds exactly the appended bytes in order once finish() resolves, synced
// and closed; memory is at most (writesInFlightMax + 1) buffers of its own; every lent range's
// release() is called exactly once, after its last write settled (or at once when it was copied),
// whatever fails; the first failed write fails the next append() or finish() with its error;
// discard() never throws and leaves the handle closed.
import { BUFFERED_WRITE_BYTES, BUFFERED_WRITES_IN_FLIGHT_MAX } from './constants.js';
import type { FileHandle } from './file-handle.js';

export class BufferedFileWriter {
  private buffer: Buffer | undefined;
  private filled = 0;
  /** File offset of the buffer being filled: every byte before it has been handed to a write. */
  private flushedBytes = 0;
  private readonly inflight: Promise<void>[] = [];
  private readonly spareBuffers: Buffer[] = [];
  private failure: { error: unknown } | undefined;

  private readonly writesInFlightMax: number;

  constructor(
    private readonly handle: FileHandle,
    private readonly signal?: AbortSignal,
    options: { readonly writesInFlightMax?: number } = {},
  ) {
    this.writesInFlightMax = options.writesInFlightMax ?? BUFFERED_WRITES_IN_FLIGHT_MAX;
  }

  /** Bytes appended so far (the file's length once finished). */
  get length(): number {
    return this.flushedBytes + this.filled;
  }

  async append(bytes: Uint8Array): Promise<void> {
    this.throwIfFailed();
    let from = 0;
    while (from < bytes.length) {
      this.buffer ??= this.spareBuffers.pop() ?? Buffer.allocUnsafe(BUFFERED_WRITE_BYTES);
      const count = Math.min(BUFFERED_WRITE_BYTES - this.filled, bytes.length - from);
      this.buffer.set(bytes.subarray(from, from + count), this.filled);
      this.filled += count;
      from += count;
      if (this.filled === BUFFERED_WRITE_BYTES) await this.flushBuffer();
    }
  }

  /**
   * Appends `bytes` the caller lends until `release` is called: once every write of them has
   * settled, or at once for the bytes that had to be copied (an unaligned start or a short tail).
   * release is called even when this throws.
   */
  async appendOwned(bytes: Uint8Array, release: () => void): Promise<void> {
    let pending = 1;
    const settle = () => {
      if (--pending === 0) release();
    };
    try {
      this.throwIfFailed();
      let from = 0;
      if (this.filled > 0) {
        // Complete the partly filled buffer first: the direct writes must start on a chunk boundary.
        from = Math.min(BUFFERED_WRITE_BYTES - this.filled, bytes.length);
        await this.append(bytes.subarray(0, from));
      }
      while (bytes.length - from >= BUFFERED_WRITE_BYTES) {
        const run = bytes.subarray(from, from + BUFFERED_WRITE_BYTES);
        from += BUFFERED_WRITE_BYTES;
        pending++;
        await this.startWrite(run, settle);
      }
      if (from < bytes.length) await this.append(bytes.subarray(from));
    } finally {
      settle();
    }
  }

  /**
   * Writes what is buffered, waits for every write, then writes `head` at offset 0 (a header only
   * known at the end, over placeholder bytes appended first), syncs and closes the file.
   */
  async finish(head?: Uint8Array): Promise<void> {
    if (this.filled > 0) await this.flushBuffer();
    await Promise.all(this.inflight.splice(0));
    this.throwIfFailed();
    if (head !== undefined) await this.handle.writeBytes(head, 0, this.signal);
    await this.handle.sync();
    await this.handle.close();
  }

  /** Waits for writes in flight and closes the handle, ignoring every error (the file is thrown away). */
  async discard(): Promise<void> {
    await Promise.all(this.inflight.splice(0));
    await this.handle.close().catch(() => undefined);
  }

  private async flushBuffer(): Promise<void> {
    const buffer = this.buffer!;
    const length = this.filled;
    this.buffer = undefined;
    this.filled = 0;
    await this.startWrite(buffer.subarray(0, length), () => this.spareBuffers.push(buffer));
  }

  /** Starts writing `bytes` at the end of the file; `done` runs once that write settled. */
  private async startWrite(bytes: Uint8Array, done: () => void): Promise<void> {
    const position = this.flushedBytes;
    this.flushedBytes += bytes.length;
    const write = this.handle
      .writeBytes(bytes, position, this.signal)
      .then(
        () => undefined,
        (error: unknown) => {
          this.failure ??= { error };
        },
      )
      .finally(done);
    this.inflight.push(write);
    while (this.inflight.length > this.writesInFlightMax) await this.inflight.shift();
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}
