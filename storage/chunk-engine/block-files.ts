// Data files of one target: per size class a set of large sparse files of fixed-size blocks
// (`data/c<log2>-<n>.dat`, block b of the class at file floor(b / perFile), offset (b % perFile) ×
// size). Files are opened on first use and stay open until close().
//
// Writes of whole blocks (copy-on-write: aligned, from the block's start) go through a second,
// O_DIRECT descriptor when `direct` is on: the bytes are copied once into a page-aligned bounce
// buffer (padded with zeros to DIRECT_ALIGN_BYTES, inside the block) and written straight to the
// device, skipping the page cache. Buffered writes into fresh page-cache pages cost ~3× the CPU
// on this kind of machine and leave the kernel to write them back later (research: a 4 MiB write
// + fdatasync took 450–700 ms of CPU per GiB buffered, 160–250 direct). Reads, appends in place and
// anything unaligned stay buffered; the kernel keeps the two coherent (a direct write invalidates
// cached pages of its range), and no reader holds a block while it is rewritten (allocator
// refcounts). A file system without O_DIRECT (tmpfs) falls back to buffered writes.
import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SpindleError, assert } from '../../common/errors.js';
import { DIRECT_ALIGN_BYTES, DIRECT_BOUNCE_POOL_BYTES, DIRECT_WRITE_MIN_BYTES } from '../constants.js';
import { blocksPerFile } from './block-allocator.js';
import type { BlockLocation } from './chunk-meta.js';

export interface BlockFilesOptions {
  /** Write whole blocks with O_DIRECT (default false; the engine turns it on when it fsyncs). */
  direct?: boolean;
}

const WASM_PAGE_BYTES = 65_536;

/**
 * Page-aligned buffers for O_DIRECT writes. Node Buffers come from malloc (16-byte alignment); a
 * WebAssembly.Memory is mapped by V8 on its own pages, so its offset 0 is page-aligned. Buffers
 * are kept by size (multiples of 64 KiB) up to DIRECT_BOUNCE_POOL_BYTES in all.
 */
class BouncePool {
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;

  take(length: number): Buffer {
    const size = Math.max(1, Math.ceil(length / WASM_PAGE_BYTES)) * WASM_PAGE_BYTES;
    const pooled = this.free.get(size)?.pop();
    if (pooled !== undefined) {
      this.freeBytes -= size;
      return pooled;
    }
    return Buffer.from(new WebAssembly.Memory({ initial: size / WASM_PAGE_BYTES }).buffer);
  }

  give(buffer: Buffer): void {
    if (this.freeBytes + buffer.length > DIRECT_BOUNCE_POOL_BYTES) return;
    this.freeBytes += buffer.length;
    let list = this.free.get(buffer.length);
    if (list === undefined) {
      list = [];
      this.free.set(buffer.length, list);
    }
    list.push(buffer);
  }
}

export class BlockFiles {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  /** O_DIRECT descriptors per data file (undefined inside: the file system refused O_DIRECT). */
  private readonly directHandles = new Map<string, Promise<FileHandle | undefined>>();
  /** Per data file: the fdatasync running, and the one queued behind it. */
  private readonly syncs = new Map<string, { running: Promise<void> | undefined; next: Promise<void> | undefined }>();
  private readonly bounces = new BouncePool();
  private direct: boolean;
  private closed = false;

  private constructor(
    private readonly dir: string,
    options: BlockFilesOptions,
  ) {
    this.direct = options.direct ?? false;
  }

  static async open(dir: string, options: BlockFilesOptions = {}): Promise<BlockFiles> {
    await mkdir(dir, { recursive: true });
    return new BlockFiles(dir, options);
  }

  /** Whether whole-block writes currently go through O_DIRECT. */
  get directWrites(): boolean {
    return this.direct;
  }

  private place(location: BlockLocation): { name: string; position: number } {
    const perFile = blocksPerFile(location.classLog2);
    const fileNo = Math.floor(location.blockNo / perFile);
    const position = (location.blockNo % perFile) * 2 ** location.classLog2;
    return { name: `c${location.classLog2}-${fileNo}.dat`, position };
  }

  private handle(name: string): Promise<FileHandle> {
    if (this.closed) return Promise.reject(new SpindleError(ErrorCode.CANCELLED, 'target is closed'));
    let handle = this.handles.get(name);
    if (handle === undefined) {
      // 'a+' would force appends; open read-write and create when missing.
      handle = open(join(this.dir, name), 'r+').catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        return open(join(this.dir, name), 'w+');
      });
      this.handles.set(name, handle);
      handle.catch(() => this.handles.delete(name));
    }
    return handle;
  }

  /** Reads `length` bytes at `offset` inside a block; bytes never written read as zeros. */
  async read(location: BlockLocation, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    assert(offset >= 0 && offset + length <= 2 ** location.classLog2, 'read outside its block');
    const { name, position } = this.place(location);
    const fh = await this.handle(name);
    const out = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(out, done, length - done, position + offset + done);
      if (bytesRead === 0) {
        // Past the end of a sparse file: the rest was never written.
        out.fill(0, done, length);
        break;
      }
      done += bytesRead;
    }
    return out;
  }

  /** Writes `data` at `offset` inside a block (not yet durable: call sync). */
  async write(location: BlockLocation, offset: number, data: Uint8Array): Promise<void> {
    assert(offset >= 0 && offset + data.length <= 2 ** location.classLog2, 'write outside its block');
    const { name, position } = this.place(location);
    if (this.direct && data.length >= DIRECT_WRITE_MIN_BYTES && (position + offset) % DIRECT_ALIGN_BYTES === 0) {
      // The block size and offset are multiples of the alignment, so the padding stays in the block.
      const padded = Math.ceil(data.length / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES;
      assert(offset + padded <= 2 ** location.classLog2, 'padded direct write outside its block');
      const fh = await this.directHandle(name);
      if (fh !== undefined) {
        const bounce = this.bounces.take(padded);
        try {
          bounce.set(data, 0);
          bounce.fill(0, data.length, padded);
          await writeAll(fh, bounce.subarray(0, padded), position + offset);
        } finally {
          this.bounces.give(bounce);
        }
        return;
      }
    }
    await writeAll(await this.handle(name), data, position + offset);
  }

  /** The O_DIRECT descriptor of a data file, or undefined when the file system refuses O_DIRECT. */
  private directHandle(name: string): Promise<FileHandle | undefined> {
    let handle = this.directHandles.get(name);
    if (handle === undefined) {
      // The buffered handle creates the file when missing.
      handle = this.handle(name).then(() =>
        open(join(this.dir, name), constants.O_RDWR | constants.O_DIRECT).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EINVAL') throw err;
          this.direct = false;
          return undefined;
        }),
      );
      this.directHandles.set(name, handle);
      handle.catch(() => this.directHandles.delete(name));
    }
    return handle;
  }

  /**
   * Makes the block's data durable (fdatasync of its file). Concurrent callers share syncs: a
   * caller arriving while a sync runs waits for the next one (its write may have missed the
   * running one), and everyone arriving meanwhile shares that next sync.
   */
  async sync(location: BlockLocation): Promise<void> {
    const name = this.place(location).name;
    const fh = await this.handle(name);
    let state = this.syncs.get(name);
    if (state === undefined) {
      state = { running: undefined, next: undefined };
      this.syncs.set(name, state);
    }
    const file = state;
    const start = (): Promise<void> => {
      const running = fh.datasync().finally(() => {
        if (file.running === running) file.running = undefined;
      });
      file.running = running;
      return running;
    };
    if (file.next !== undefined) return file.next;
    if (file.running === undefined) return start();
    // Once the queued sync starts, later callers must not join it (their writes may miss it).
    const startQueued = () => {
      file.next = undefined;
      return start();
    };
    const next = file.running.then(startQueued, startQueued);
    file.next = next;
    return next;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const handles: Array<Promise<FileHandle | undefined>> = [...this.handles.values(), ...this.directHandles.values()];
    this.handles.clear();
    this.directHandles.clear();
    await Promise.all(handles.map(async (h) => (await h.catch(() => undefined))?.close()));
  }
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
