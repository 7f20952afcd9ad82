// An open file, shaped like node:fs/promises FileHandle: positional and sequential read/write,
// readFile/writeFile, stat, truncate, sync and close.
//
// Length: meta learns a file's length only when a writer reports it (docs/design.md §3). The handle keeps
// the highest offset it wrote and reports it with Meta.Sync on sync() and close(), together with
// the truncate version it holds, so a report older than a truncate is ignored by meta. Reads use
// max(meta's length, what this handle wrote), and ask meta again before treating a read past that
// length as end of file (another writer may have grown the file and synced).
//
// Guarantees: close() waits for this handle's writes in flight, syncs if anything was written,
// is idempotent, and every later operation fails with BAD_FILE_HANDLE (EBADF). A handle opened
// without write access refuses writes with EBADF, and one without read access refuses reads.
//
// Readahead: read() calls that follow each other (each starting where the previous ended, with
// or without explicit positions) are served from chunk-aligned blocks fetched up to
// config.readaheadBytes ahead, in parallel over the file's chains (client/readahead.ts), when the
// caller has no other read() in flight on this handle (otherwise it reads ahead itself). A seek,
// a write or truncate through this handle, and close() drop them. readAt() (streams and the
// mount, which keep their own readahead) never uses it.
import { CHUNK_SIZE_DEFAULT_BYTES } from '../common/constants.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { InodeType, type Inode, type Layout } from '../proto/index.js';
import { checkRange } from './chunk-math.js';
import type { ChunkStore } from './chunk-store.js';
import type { FileRange } from './chunk-reads.js';
import type { MetaRpc } from './meta-rpc.js';
import { Readahead } from './readahead.js';
import { SpindleStats } from './stats.js';

/** The open flags of node:fs that Spindle supports. */
export type OpenFlags = 'r' | 'r+' | 'rs+' | 'w' | 'wx' | 'w+' | 'wx+' | 'a' | 'ax' | 'a+' | 'ax+';

export interface ParsedFlags {
  read: boolean;
  write: boolean;
  /** O_CREAT */
  create: boolean;
  /** O_EXCL */
  exclusive: boolean;
  /** O_TRUNC */
  truncate: boolean;
  /** O_APPEND: every write goes to the end of the file. */
  append: boolean;
}

const FLAGS: Record<OpenFlags, ParsedFlags> = {
  r: { read: true, write: false, create: false, exclusive: false, truncate: false, append: false },
  'r+': { read: true, write: true, create: false, exclusive: false, truncate: false, append: false },
  'rs+': { read: true, write: true, create: false, exclusive: false, truncate: false, append: false },
  w: { read: false, write: true, create: true, exclusive: false, truncate: true, append: false },
  wx: { read: false, write: true, create: true, exclusive: true, truncate: true, append: false },
  'w+': { read: true, write: true, create: true, exclusive: false, truncate: true, append: false },
  'wx+': { read: true, write: true, create: true, exclusive: true, truncate: true, append: false },
  a: { read: false, write: true, create: true, exclusive: false, truncate: false, append: true },
  ax: { read: false, write: true, create: true, exclusive: true, truncate: false, append: true },
  'a+': { read: true, write: true, create: true, exclusive: false, truncate: false, append: true },
  'ax+': { read: true, write: true, create: true, exclusive: true, truncate: false, append: true },
};

/** Parses node:fs open flags ('xw' is accepted for 'wx' as node does). */
export function parseFlags(flags: string): ParsedFlags {
  const normalized = flags.replace(/^x([wa])/, '$1x').replace(/^s(r\+)$/, 'r$1') as OpenFlags;
  const parsed = FLAGS[normalized];
  if (parsed === undefined) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `unsupported open flags ${JSON.stringify(flags)}: use one of ${Object.keys(FLAGS).join(', ')}`,
    );
  }
  return { ...parsed };
}

/** What a handle needs from its client. */
export interface FileHandleContext {
  meta: MetaRpc;
  chunks: ChunkStore;
  /** Called once when the handle closed (the client stops tracking it). */
  onClose?: (handle: FileHandle) => void;
}

export interface FileReadResult<T extends Uint8Array> {
  bytesRead: number;
  buffer: T;
}

export interface FileWriteResult<T extends Uint8Array | string> {
  bytesWritten: number;
  buffer: T;
}

export interface HandleReadOptions<T extends Uint8Array> {
  buffer?: T;
  offset?: number;
  length?: number;
  position?: number | null;
}

export class FileHandle {
  /** Inode id of the open file. */
  readonly ino: number;
  /** The path it was opened by (informational: a rename does not change the handle). */
  readonly path: string;
  readonly flags: ParsedFlags;
  private readonly context: FileHandleContext;
  private readonly layout: Layout | undefined;
  private readonly isDirectory: boolean;
  /** Length as meta last reported it. */
  private knownSize: number;
  private truncateVersion: number;
  /** End of the highest byte this handle wrote since open (or since its last truncate). */
  private highestWritten = 0;
  /** End reserved by appends in flight, so concurrent appends on one handle do not overlap. */
  private appendEnd = 0;
  /** Written since the last successful sync. */
  private dirty = false;
  private position = 0;
  private closing: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Sequential readahead of read() (undefined: not readable, a directory, or disabled). */
  private readonly readahead: Readahead | undefined;
  /** read() calls in flight (readahead serves only a reader that waits for each read). */
  private readsInFlight = 0;

  constructor(context: FileHandleContext, path: string, inode: Inode, flags: ParsedFlags) {
    this.context = context;
    this.path = path;
    this.flags = flags;
    this.ino = inode.ino;
    this.isDirectory = inode.type === InodeType.DIRECTORY;
    this.layout = inode.layout;
    this.knownSize = inode.size;
    this.truncateVersion = inode.truncateVersion;
    if (!this.isDirectory && inode.type !== InodeType.FILE) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${path} is not a regular file`);
    }
    if (this.isDirectory && flags.write) {
      throw new SpindleError(ErrorCode.IS_DIRECTORY, `${path} is a directory and cannot be opened for writing`);
    }
    if (!this.isDirectory && this.layout === undefined) {
      throw new SpindleError(ErrorCode.INTERNAL, `meta returned file ${path} (inode ${inode.ino}) without a layout`);
    }
    const windowBytes = context.chunks.readaheadBytes;
    if (flags.read && !this.isDirectory && windowBytes > 0) {
      this.readahead = new Readahead({
        windowBytes,
        blockBytes: this.chunkSizeBytes,
        fetch: (position, target, signal) =>
          context.chunks.readInto(this.ino, this.layout!, position, target, { fileLength: this.size, signal }),
      });
    }
  }

  /** The inode id, standing in for node's numeric descriptor. */
  get fd(): number {
    return this.ino;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** The file's chunk size (the natural I/O block). */
  get chunkSizeBytes(): number {
    return this.layout?.chunkSizeBytes || CHUNK_SIZE_DEFAULT_BYTES;
  }

  /** The file's length as this handle sees it: meta's length or the end of its own writes. */
  get size(): number {
    return Math.max(this.knownSize, this.highestWritten);
  }

  /**
   * Reads into `buffer[offset, offset + length)` from `position` (null or omitted: the current
   * position, which then advances). bytesRead is 0 at end of file.
   */
  read<T extends Uint8Array = Buffer>(
    buffer?: T | HandleReadOptions<T>,
    offset?: number | null,
    length?: number | null,
    position?: number | null,
  ): Promise<FileReadResult<T>> {
    let target: T;
    if (buffer === undefined || !(buffer instanceof Uint8Array)) {
      const options = buffer ?? {};
      target = options.buffer ?? (Buffer.alloc(16_384) as unknown as T);
      offset = options.offset;
      length = options.length;
      position = options.position;
    } else {
      target = buffer;
    }
    return this.track(async () => {
      this.checkReadable();
      const start = offset ?? 0;
      const count = length ?? target.byteLength - start;
      if (
        !Number.isSafeInteger(start) ||
        start < 0 ||
        !Number.isSafeInteger(count) ||
        count < 0 ||
        start + count > target.byteLength
      ) {
        throw new SpindleError(
          ErrorCode.INVALID_ARGUMENT,
          `read: offset ${start} and length ${count} do not fit a buffer of ${target.byteLength} bytes`,
        );
      }
      const sequential = position === null || position === undefined;
      const at: number = position === null || position === undefined ? this.position : position;
      checkRange(at, count, 'read');
      if (sequential) this.position = at + count; // reserve; corrected below to what was read
      const range = target.subarray(start, start + count);
      // Decided before any await, so reads issued in order are seen in order.
      const ahead = this.readahead?.read(at, range, this.size, this.readsInFlight);
      this.readsInFlight++;
      let bytesRead: number;
      try {
        const served = ahead === undefined ? undefined : await ahead;
        bytesRead = served ?? (await this.readAt(at, range));
      } finally {
        this.readsInFlight--;
      }
      if (sequential && this.position === at + count) this.position = at + bytesRead;
      return { bytesRead, buffer: target };
    });
  }

  /**
   * Writes `buffer[offset, offset + length)` at `position` (null or omitted: the current position,
   * which then advances). In append mode every write goes to the end of the file. A string is
   * written in `encoding` (default utf8), as `write(string, position?, encoding?)`.
   */
  write<T extends Uint8Array>(
    buffer: T,
    offset?: number | null,
    length?: number | null,
    position?: number | null,
  ): Promise<FileWriteResult<T>>;
  write(data: string, position?: number | null, encoding?: BufferEncoding): Promise<FileWriteResult<string>>;
  write(
    data: Uint8Array | string,
    offsetOrPosition?: number | null,
    lengthOrEncoding?: number | null | BufferEncoding,
    maybePosition?: number | null,
    // biome-ignore lint/suspicious/noExplicitAny: the overloads above give callers the precise buffer type
  ): Promise<FileWriteResult<any>> {
    return this.track(async () => {
      this.checkWritable();
      let bytes: Uint8Array;
      let position: number | null | undefined;
      if (typeof data === 'string') {
        bytes = Buffer.from(data, (typeof lengthOrEncoding === 'string' ? lengthOrEncoding : 'utf8') as BufferEncoding);
        position = offsetOrPosition;
      } else {
        const start = offsetOrPosition ?? 0;
        const count = (typeof lengthOrEncoding === 'number' ? lengthOrEncoding : undefined) ?? data.byteLength - start;
        if (
          !Number.isSafeInteger(start) ||
          start < 0 ||
          !Number.isSafeInteger(count) ||
          count < 0 ||
          start + count > data.byteLength
        ) {
          throw new SpindleError(
            ErrorCode.INVALID_ARGUMENT,
            `write: offset ${start} and length ${count} do not fit a buffer of ${data.byteLength} bytes`,
          );
        }
        bytes = data.subarray(start, start + count);
        position = maybePosition;
      }
      const bytesWritten = await this.writeBytes(bytes, position);
      return { bytesWritten, buffer: data };
    });
  }

  /** Reads from the current position to the end of the file. */
  readFile(options?: { signal?: AbortSignal; encoding?: null }): Promise<Buffer>;
  readFile(options: { signal?: AbortSignal; encoding: BufferEncoding } | BufferEncoding): Promise<string>;
  readFile(
    options: { signal?: AbortSignal; encoding?: BufferEncoding | null } | BufferEncoding = {},
  ): Promise<Buffer | string> {
    const { signal, encoding } = typeof options === 'string' ? { signal: undefined, encoding: options } : options;
    return this.track(async () => {
      this.checkReadable();
      const at = this.position;
      let length = this.size;
      if (at >= length) length = await this.refreshSize();
      const wanted = Math.max(0, length - at);
      const data = await this.context.chunks.read(this.ino, this.layout!, at, wanted, { fileLength: length, signal });
      this.position = at + data.length;
      return encoding ? data.toString(encoding) : data;
    });
  }

  /** Writes all of `data` at the current position (the end in append mode). */
  writeFile(
    data: Uint8Array | string,
    options: { signal?: AbortSignal; encoding?: BufferEncoding } | BufferEncoding = {},
  ): Promise<void> {
    const { encoding } = typeof options === 'string' ? { encoding: options } : options;
    return this.track(async () => {
      this.checkWritable();
      const bytes = typeof data === 'string' ? Buffer.from(data, encoding ?? 'utf8') : data;
      await this.writeBytes(bytes, null, typeof options === 'string' ? undefined : options.signal);
    });
  }

  /** Alias of writeFile() (as in node:fs/promises: the handle's open mode decides where bytes go). */
  appendFile(
    data: Uint8Array | string,
    options: { signal?: AbortSignal; encoding?: BufferEncoding } | BufferEncoding = {},
  ): Promise<void> {
    return this.writeFile(data, options);
  }

  /** Attributes from meta; size includes what this handle wrote and has not synced yet. */
  stat(): Promise<SpindleStats> {
    return this.track(async () => {
      this.checkOpen();
      const inode = await this.statInode();
      return new SpindleStats(inode, { size: this.size });
    });
  }

  /** Sets the file's length (cutting or extending with zeros). */
  truncate(length = 0): Promise<void> {
    return this.track(async () => {
      this.checkWritable();
      this.readahead?.reset();
      checkRange(length, 0, 'truncate');
      const { inode } = await this.context.meta.truncate({ at: { parentIno: this.ino, path: '' }, length });
      this.truncateVersion = inode?.truncateVersion ?? this.truncateVersion;
      this.knownSize = inode?.size ?? length;
      this.highestWritten = 0;
      this.appendEnd = 0;
    });
  }

  /** Reports the length written so far to meta (fsync). */
  sync(): Promise<void> {
    return this.track(async () => {
      this.checkOpen();
      await this.syncNow();
    });
  }

  /** Same as sync(): Spindle keeps no separate data-only durability level. */
  datasync(): Promise<void> {
    return this.sync();
  }

  /**
   * Waits for this handle's operations in flight, syncs if it wrote, and releases the handle.
   * Idempotent: a second call returns the first call's promise.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.readahead?.reset();
    this.closing = (async () => {
      try {
        await Promise.allSettled([...this.inflight]);
        if (this.dirty) await this.syncNow();
      } finally {
        this.context.onClose?.(this);
      }
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- used by streams and the client (no position side effects) --------------------------------

  /**
   * Reads up to target.length bytes at `position` into `target`; resolves to the bytes read (0
   * at end of file). Does not move the handle's position.
   */
  async readAt(position: number, target: Uint8Array, signal?: AbortSignal): Promise<number> {
    this.checkReadable();
    if (target.length === 0) return 0;
    let length = this.size;
    if (position + target.length > length) length = await this.refreshSize();
    if (position >= length) return 0;
    return this.context.chunks.readInto(this.ino, this.layout!, position, target, { fileLength: length, signal });
  }

  /**
   * Reads many ranges of the file, each into its place in `target` (`targetOffset`), as one read.
   * Every range must lie before the end of the file; the position does not move.
   */
  async readRanges(ranges: readonly FileRange[], target: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.checkReadable();
    let length = this.size;
    if (ranges.some((range) => range.offset + range.length > length)) length = await this.refreshSize();
    await this.context.chunks.readRangesInto(this.ino, this.layout!, ranges, target, { fileLength: length, signal });
  }

  /** Writes all of `bytes` at `position` (null: current position; ignored in append mode). */
  async writeBytes(bytes: Uint8Array, position: number | null | undefined, signal?: AbortSignal): Promise<number> {
    this.checkWritable();
    let at: number;
    if (this.flags.append) {
      at = this.reserveAppend(bytes.length);
    } else if (position === null || position === undefined) {
      at = this.position;
      this.position = at + bytes.length;
    } else {
      at = position;
    }
    checkRange(at, bytes.length, 'write');
    if (bytes.length === 0) return 0;
    // Blocks read ahead may hold what this write replaces.
    this.readahead?.reset();
    this.dirty = true;
    await this.context.chunks.write(this.ino, this.layout!, at, bytes, { signal });
    this.highestWritten = Math.max(this.highestWritten, at + bytes.length);
    // A sync that began while this write was in flight took the length hint without it: stay dirty
    // so the next sync (or close) publishes the length.
    this.dirty = true;
    return bytes.length;
  }

  // --- internals -------------------------------------------------------------------------------

  private reserveAppend(length: number): number {
    const at = Math.max(this.appendEnd, this.size);
    this.appendEnd = at + length;
    this.position = this.appendEnd;
    return at;
  }

  private async syncNow(): Promise<void> {
    const wrote = this.dirty;
    this.dirty = false;
    try {
      const { inode } = await this.context.meta.sync({
        ino: this.ino,
        lengthHint: this.highestWritten,
        truncateVersion: this.truncateVersion,
        wrote,
        recomputeLength: false,
      });
      if (inode !== undefined) this.adopt(inode);
    } catch (err) {
      this.dirty = this.dirty || wrote;
      throw err;
    }
  }

  private async statInode(): Promise<Inode> {
    const { inode } = await this.context.meta.stat({ at: { parentIno: this.ino, path: '' }, followSymlink: false });
    if (inode === undefined)
      throw new SpindleError(ErrorCode.INTERNAL, `meta answered a stat of inode ${this.ino} without attributes`);
    this.adopt(inode);
    return inode;
  }

  /** Takes meta's view of the length; a newer truncate version resets what this handle reports. */
  private adopt(inode: Inode): void {
    if (inode.truncateVersion > this.truncateVersion) {
      this.truncateVersion = inode.truncateVersion;
      this.highestWritten = 0;
      this.appendEnd = 0;
    }
    this.knownSize = inode.size;
  }

  private async refreshSize(): Promise<number> {
    await this.statInode();
    return this.size;
  }

  private track<T>(operation: () => Promise<T>): Promise<T> {
    let promise: Promise<T>;
    try {
      promise = operation();
    } catch (err) {
      return Promise.reject(err);
    }
    this.inflight.add(promise);
    const done = () => this.inflight.delete(promise);
    promise.then(done, done);
    return promise;
  }

  private checkOpen(): void {
    if (this.closing !== undefined) {
      throw new SpindleError(ErrorCode.BAD_FILE_HANDLE, `file handle of ${this.path} is closed`);
    }
  }

  private checkReadable(): void {
    this.checkOpen();
    if (this.isDirectory) throw new SpindleError(ErrorCode.IS_DIRECTORY, `${this.path} is a directory`);
    if (!this.flags.read) throw new SpindleError(ErrorCode.BAD_FILE_HANDLE, `${this.path} was not opened for reading`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (!this.flags.write) throw new SpindleError(ErrorCode.BAD_FILE_HANDLE, `${this.path} was not opened for writing`);
  }
}
