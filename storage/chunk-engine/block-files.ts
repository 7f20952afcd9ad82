// Data files of one target: per size class a set of large sparse files of fixed-size blocks
// (`data/c<log2>-<n>.dat`, block b of the class at file floor(b / perFile), offset (b % perFile) ×
// size). Files are opened on first use and stay open until close().
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SpindleError, assert } from '../../common/errors.js';
import { blocksPerFile } from './block-allocator.js';
import type { BlockLocation } from './chunk-meta.js';

export class BlockFiles {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  /** Per data file: the fdatasync running, and the one queued behind it. */
  private readonly syncs = new Map<string, { running: Promise<void> | undefined; next: Promise<void> | undefined }>();
  private closed = false;

  private constructor(private readonly dir: string) {}

  static async open(dir: string): Promise<BlockFiles> {
    await mkdir(dir, { recursive: true });
    return new BlockFiles(dir);
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
    const fh = await this.handle(name);
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, position + offset + done);
      done += bytesWritten;
    }
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
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map(async (h) => (await h.catch(() => undefined))?.close()));
  }
}
