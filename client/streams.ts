// Node streams over a Spindle file: a Readable with sequential readahead and a Writable that
// gathers small writes into chunk-aligned blocks and keeps a few of them in flight.
//
// Guarantees: the read stream emits the bytes of [start, end] in order (end inclusive, as
// node:fs) and ends at end of file; it keeps at most readaheadBytes (whole blocks, at least one)
// of block reads in flight, and destroying it aborts them; the write stream applies backpressure (write() returns false
// while its buffer is full), writes every byte it accepted before 'finish', and closes its handle
// (which reports the length to meta) on end, or on destroy after an error.
import { Readable, Writable } from 'node:stream';
import { CHUNK_SIZE_MIN_BYTES } from '../common/constants.js';
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import { STREAM_BLOCK_DEFAULT_BYTES, STREAM_BLOCK_MAX_BYTES, WRITE_STREAM_INFLIGHT_BYTES } from './constants.js';
import type { FileHandle } from './file-handle.js';

export interface ReadStreamOptions {
  /** First byte (default 0). */
  start?: number;
  /** Last byte, inclusive (default: end of file). */
  end?: number;
  /** Bytes per block read from the cluster (default: the file's chunk size, capped). */
  highWaterMark?: number;
  signal?: AbortSignal;
}

export interface WriteStreamOptions {
  /** Open flags (default 'w'). */
  flags?: string;
  /** Byte to start writing at (default 0; ignored in append mode). */
  start?: number;
  /** Permission bits of a created file. */
  mode?: number;
  /** Bytes buffered before write() returns false (default: the file's chunk size, capped). */
  highWaterMark?: number;
  signal?: AbortSignal;
}

function checkOffset(value: number | undefined, what: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${what} must be a non-negative integer, got ${value}`);
  }
}

/** A readable stream of a file's bytes. */
export class SpindleReadStream extends Readable {
  readonly path: string;
  bytesRead = 0;
  private handle: FileHandle | undefined;
  private nextPosition: number;
  /** One past the last byte to read. */
  private readonly endPosition: number;
  private blockBytes: number;
  private readaheadBlocks = 1;
  private readonly queue: Array<{ length: number; result: Promise<Buffer | Error> }> = [];
  private atEnd = false;
  private readonly requestedBlock: number | undefined;
  private readonly readaheadBytesWanted: number;
  /** Aborts the block reads in flight when the stream is destroyed. */
  private readonly reads = new AbortController();

  constructor(
    private readonly openHandle: () => Promise<FileHandle>,
    path: string,
    options: ReadStreamOptions & { readaheadBytes: number },
  ) {
    checkOffset(options.start, 'start');
    checkOffset(options.end, 'end');
    if (options.start !== undefined && options.end !== undefined && options.end < options.start) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `end (${options.end}) is before start (${options.start})`);
    }
    super({ highWaterMark: options.highWaterMark ?? STREAM_BLOCK_DEFAULT_BYTES, signal: options.signal });
    this.path = path;
    this.nextPosition = options.start ?? 0;
    this.endPosition = options.end === undefined ? Number.MAX_SAFE_INTEGER : options.end + 1;
    this.requestedBlock = options.highWaterMark;
    this.blockBytes = options.highWaterMark ?? CHUNK_SIZE_MIN_BYTES;
    this.readaheadBytesWanted = options.readaheadBytes;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.openHandle().then(
      (handle) => {
        this.handle = handle;
        const chunkSize = handle.chunkSizeBytes;
        this.blockBytes = Math.max(1, Math.min(STREAM_BLOCK_MAX_BYTES, this.requestedBlock ?? chunkSize));
        this.readaheadBlocks = Math.max(1, Math.ceil(this.readaheadBytesWanted / this.blockBytes));
        callback();
      },
      (err: unknown) => callback(asSpindleError(err)),
    );
  }

  override _read(): void {
    this.fill();
    const next = this.queue.shift();
    if (next === undefined) {
      this.push(null);
      return;
    }
    void next.result.then((result) => {
      if (this.destroyed) return;
      if (result instanceof Error) {
        this.destroy(result);
        return;
      }
      if (result.length < next.length) {
        // End of file: what was read ahead past it is dropped.
        this.atEnd = true;
        this.queue.length = 0;
      }
      if (result.length > 0) {
        this.bytesRead += result.length;
        this.push(result);
      }
      if (this.atEnd && this.queue.length === 0) this.push(null);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.queue.length = 0;
    this.reads.abort();
    const handle = this.handle;
    this.handle = undefined;
    if (handle === undefined) {
      callback(error);
      return;
    }
    handle.close().then(
      () => callback(error),
      (closeError: unknown) => callback(error ?? asSpindleError(closeError)),
    );
  }

  /** Starts block reads up to the readahead depth. */
  private fill(): void {
    const handle = this.handle;
    if (handle === undefined) return;
    while (!this.atEnd && this.queue.length < this.readaheadBlocks && this.nextPosition < this.endPosition) {
      const position = this.nextPosition;
      // Align blocks to chunk boundaries after the first, so each block is one chunk read.
      const toBoundary = this.blockBytes - (position % this.blockBytes);
      const length = Math.min(toBoundary, this.endPosition - position);
      this.nextPosition += length;
      const buffer = Buffer.allocUnsafe(length);
      const result = handle.readAt(position, buffer, this.reads.signal).then(
        (bytes) => (bytes === length ? buffer : buffer.subarray(0, bytes)),
        (err: unknown) => asSpindleError(err),
      );
      this.queue.push({ length, result });
      // Do not read ahead past the length known now: those reads would each ask meta for the size.
      if (position + length >= handle.size) break;
    }
  }
}

/** A writable stream into a file. */
export class SpindleWriteStream extends Writable {
  readonly path: string;
  bytesWritten = 0;
  private handle: FileHandle | undefined;
  private position: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private blockBytes = CHUNK_SIZE_MIN_BYTES;
  private readonly inflight = new Set<Promise<void>>();
  /** Most blocks in flight (the client's I/O concurrency). */
  private readonly inflightMax: number;
  /** Blocks kept in flight: inflightMax, or fewer when that would hold more than WRITE_STREAM_INFLIGHT_BYTES. */
  private inflightBlocks = 1;
  private failure: Error | undefined;
  private readonly requestedBlock: number | undefined;

  constructor(
    private readonly openHandle: () => Promise<FileHandle>,
    path: string,
    options: WriteStreamOptions & { inflightMax: number },
  ) {
    checkOffset(options.start, 'start');
    super({
      highWaterMark: options.highWaterMark ?? STREAM_BLOCK_DEFAULT_BYTES,
      signal: options.signal,
      decodeStrings: true,
    });
    this.path = path;
    this.position = options.start ?? 0;
    this.requestedBlock = options.highWaterMark;
    this.inflightMax = Math.max(1, options.inflightMax);
  }

  /** Bytes accepted but not yet written to the cluster. */
  get pendingWriteBytes(): number {
    return this.pendingBytes;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.openHandle().then(
      (handle) => {
        this.handle = handle;
        this.blockBytes = Math.max(1, Math.min(STREAM_BLOCK_MAX_BYTES, this.requestedBlock ?? handle.chunkSizeBytes));
        this.inflightBlocks = Math.max(
          1,
          Math.min(this.inflightMax, Math.floor(WRITE_STREAM_INFLIGHT_BYTES / this.blockBytes)),
        );
        if (handle.flags.append) this.position = handle.size;
        callback();
      },
      (err: unknown) => callback(asSpindleError(err)),
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.accept([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.accept(
      chunks.map((entry) => entry.chunk),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    void (async () => {
      try {
        this.flushBlocks(true);
        await this.drainInflight(0);
        if (this.failure) throw this.failure;
        const handle = this.handle;
        this.handle = undefined;
        await handle?.close();
        callback();
      } catch (err) {
        callback(asSpindleError(err));
      }
    })();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    void (async () => {
      await Promise.allSettled([...this.inflight]);
      const handle = this.handle;
      this.handle = undefined;
      try {
        await handle?.close();
        callback(error);
      } catch (closeError) {
        callback(error ?? asSpindleError(closeError));
      }
    })();
  }

  private accept(chunks: Buffer[], callback: (error?: Error | null) => void): void {
    if (this.failure) {
      callback(this.failure);
      return;
    }
    for (const chunk of chunks) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    this.flushBlocks(false);
    // Backpressure: hold the callback while too many blocks are in flight.
    this.drainInflight(this.inflightBlocks - 1).then(
      () => callback(this.failure ?? null),
      (err: unknown) => callback(asSpindleError(err)),
    );
  }

  /** Starts writes of whole blocks (aligned to block boundaries); all of it when `all`. */
  private flushBlocks(all: boolean): void {
    for (;;) {
      const toBoundary = this.blockBytes - (this.position % this.blockBytes);
      if (this.pendingBytes === 0 || (!all && this.pendingBytes < toBoundary)) return;
      const length = Math.min(toBoundary, this.pendingBytes);
      const block = this.take(length);
      const position = this.position;
      this.position += length;
      const handle = this.handle!;
      const write: Promise<void> = handle.writeBytes(block, position).then(
        (written) => {
          this.bytesWritten += written;
        },
        (err: unknown) => {
          this.failure ??= asSpindleError(err);
        },
      );
      this.inflight.add(write);
      void write.finally(() => this.inflight.delete(write));
    }
  }

  /** Removes the first `length` pending bytes as one buffer. */
  private take(length: number): Buffer {
    const parts: Buffer[] = [];
    let needed = length;
    while (needed > 0) {
      const head = this.pending[0]!;
      if (head.length <= needed) {
        parts.push(head);
        this.pending.shift();
        needed -= head.length;
      } else {
        parts.push(head.subarray(0, needed));
        this.pending[0] = head.subarray(needed);
        needed = 0;
      }
    }
    this.pendingBytes -= length;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
  }

  private async drainInflight(allowed: number): Promise<void> {
    while (this.inflight.size > Math.max(0, allowed)) {
      await Promise.race(this.inflight);
    }
  }
}
