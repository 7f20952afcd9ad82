// Data files of one target: per size class a set of large sparse files of fixed-size blocks
// (`data/c<log2>-<n>.dat`, block b of the class at file floor(b / perFile), offset (b % perFile) ×
// size). Files are opened on first use and stay open until close().
//
// How bytes reach the files is the job of a BlockIo backend (block-io.ts: node:fs or io_uring,
// chosen when the engine opens); this class places blocks in files, opens each file once and
// coalesces fdatasyncs. No reader holds a block while it is rewritten (allocator refcounts).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SpindleError, assert } from '../../common/errors.js';
import { blocksPerFile } from './block-allocator.js';
import type { BlockFile, BlockIo } from './block-io.js';
import { FsBlockIo } from './fs-block-io.js';
import type { BlockLocation } from './chunk-meta.js';

export interface BlockFilesOptions {
  /** Write whole blocks with O_DIRECT (default false; the engine turns it on when it fsyncs). */
  direct?: boolean;
  /** The I/O backend (default: node:fs). */
  io?: BlockIo;
}

export class BlockFiles {
  private readonly files = new Map<string, Promise<BlockFile>>();
  /** Per data file: the fdatasync running, and the one queued behind it. */
  private readonly syncs = new Map<string, { running: Promise<void> | undefined; next: Promise<void> | undefined }>();
  private readonly io: BlockIo;
  private direct: boolean;
  private closed = false;

  private constructor(
    private readonly dir: string,
    options: BlockFilesOptions,
  ) {
    this.direct = options.direct ?? false;
    this.io = options.io ?? new FsBlockIo();
  }

  static async open(dir: string, options: BlockFilesOptions = {}): Promise<BlockFiles> {
    await mkdir(dir, { recursive: true });
    return new BlockFiles(dir, options);
  }

  /**
   * Block files on a backend that needs no directory on disk (the simulator's in-memory files,
   * test/sim): open() without its mkdir.
   */
  static on(dir: string, options: BlockFilesOptions): BlockFiles {
    return new BlockFiles(dir, options);
  }

  /** The backend in use. */
  get ioKind(): BlockIo['kind'] {
    return this.io.kind;
  }

  /** Whether whole-block writes currently go through O_DIRECT (false once the file system refused it). */
  get directWrites(): boolean {
    return this.direct;
  }

  private place(location: BlockLocation): { name: string; position: number } {
    const perFile = blocksPerFile(location.classLog2);
    const fileNo = Math.floor(location.blockNo / perFile);
    const position = (location.blockNo % perFile) * 2 ** location.classLog2;
    return { name: `c${location.classLog2}-${fileNo}.dat`, position };
  }

  private file(name: string): Promise<BlockFile> {
    if (this.closed) return Promise.reject(new SpindleError(ErrorCode.CANCELLED, 'target is closed'));
    let file = this.files.get(name);
    if (file === undefined) {
      file = this.io.open(join(this.dir, name), { direct: this.direct }).then((opened) => {
        if (this.direct && !opened.direct) this.direct = false;
        return opened;
      });
      this.files.set(name, file);
      file.catch(() => this.files.delete(name));
    }
    return file;
  }

  /** Reads `length` bytes at `offset` inside a block; bytes never written read as zeros. */
  async read(location: BlockLocation, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    assert(offset >= 0 && offset + length <= 2 ** location.classLog2, 'read outside its block');
    const { name, position } = this.place(location);
    const file = await this.file(name);
    return file.read(position + offset, length, into);
  }

  /** Writes `data` at `offset` inside a block (not yet durable: call sync). */
  async write(location: BlockLocation, offset: number, data: Uint8Array): Promise<void> {
    assert(offset >= 0 && offset + data.length <= 2 ** location.classLog2, 'write outside its block');
    const { name, position } = this.place(location);
    const file = await this.file(name);
    // An O_DIRECT write may pad up to the end of the block, never past it.
    await file.write(position + offset, data, 2 ** location.classLog2 - offset);
  }

  /**
   * Makes the block's data durable (fdatasync of its file). Concurrent callers share syncs: a
   * caller arriving while a sync runs waits for the next one (its write may have missed the
   * running one), and everyone arriving meanwhile shares that next sync.
   */
  async sync(location: BlockLocation): Promise<void> {
    const name = this.place(location).name;
    const file = await this.file(name);
    let state = this.syncs.get(name);
    if (state === undefined) {
      state = { running: undefined, next: undefined };
      this.syncs.set(name, state);
    }
    const syncs = state;
    const start = (): Promise<void> => {
      const running = file.sync().finally(() => {
        if (syncs.running === running) syncs.running = undefined;
      });
      syncs.running = running;
      return running;
    };
    if (syncs.next !== undefined) return syncs.next;
    if (syncs.running === undefined) return start();
    // Once the queued sync starts, later callers must not join it (their writes may miss it).
    const startQueued = () => {
      syncs.next = undefined;
      return start();
    };
    const next = syncs.running.then(startQueued, startQueued);
    syncs.next = next;
    return next;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const files = [...this.files.values()];
    this.files.clear();
    await Promise.all(files.map(async (f) => (await f.catch(() => undefined))?.close()));
  }
}
