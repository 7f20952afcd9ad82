// Appends to a new file in large writes (packed-dataset files, checkpoint shards): bytes are
// gathered into BUFFERED_WRITE_BYTES buffers and each full buffer is written at once (so every
// write but the last covers whole chunks), with up to BUFFERED_WRITES_IN_FLIGHT_MAX writes in
// flight while the next buffer fills.
//
// Guarantees: the file holds exactly the appended bytes in order once finish() resolves, synced
// and closed; memory is at most (BUFFERED_WRITES_IN_FLIGHT_MAX + 1) buffers; the first failed
// write fails the next append() or finish() with its error; discard() never throws and leaves the
// handle closed.
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

  constructor(
    private readonly handle: FileHandle,
    private readonly signal?: AbortSignal,
  ) {}

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
    const position = this.flushedBytes;
    this.buffer = undefined;
    this.filled = 0;
    this.flushedBytes += length;
    const write = this.handle.writeBytes(buffer.subarray(0, length), position, this.signal).then(
      () => {
        this.spareBuffers.push(buffer);
      },
      (error: unknown) => {
        this.failure ??= { error };
      },
    );
    this.inflight.push(write);
    while (this.inflight.length > BUFFERED_WRITES_IN_FLIGHT_MAX) await this.inflight.shift();
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}
