// The node:fs block I/O backend (block-io.ts): what block files always did, on libuv's threadpool.
//
// Writes of whole blocks (copy-on-write: aligned, from the block's start) go through a second,
// O_DIRECT descriptor when `direct` is on: the bytes are copied once into a page-aligned bounce
// buffer (padded with zeros to DIRECT_ALIGN_BYTES, inside the block) and written straight to the
// device, skipping the page cache. Buffered writes into fresh page-cache pages cost ~3× the CPU
// on this kind of machine and leave the kernel to write them back later (research: a 4 MiB write
// + fdatasync took 450–700 ms of CPU per GiB buffered, 160–250 direct). Reads, appends in place and
// anything unaligned stay buffered; the kernel keeps the two coherent (a direct write invalidates
// cached pages of its range). A file system without O_DIRECT (tmpfs) falls back to buffered writes.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { DIRECT_ALIGN_BYTES, DIRECT_BOUNCE_POOL_BYTES, DIRECT_WRITE_MIN_BYTES } from '../constants.js';
import type { BlockFile, BlockIo } from './block-io.js';
import { BouncePool } from './bounce-pool.js';

const WASM_PAGE_BYTES = 65_536;

/**
 * Node Buffers come from malloc (16-byte alignment); a WebAssembly.Memory is mapped by V8 on its
 * own pages, so its offset 0 is page-aligned.
 */
function wasmAligned(size: number): Buffer {
  return Buffer.from(new WebAssembly.Memory({ initial: size / WASM_PAGE_BYTES }).buffer);
}

/** Opens `path` read-write, creating it when missing ('a+' would force appends). */
export async function openReadWrite(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return open(path, 'w+');
  }
}

/** The O_DIRECT descriptor of an existing file, or undefined when the file system refuses O_DIRECT. */
export async function openDirect(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, constants.O_RDWR | constants.O_DIRECT);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    return undefined;
  }
}

export class FsBlockIo implements BlockIo {
  readonly kind = 'fs' as const;
  private readonly bounces = new BouncePool(wasmAligned, DIRECT_BOUNCE_POOL_BYTES, WASM_PAGE_BYTES);

  async open(path: string, options: { direct: boolean }): Promise<BlockFile> {
    const fh = await openReadWrite(path);
    let directFh: FileHandle | undefined;
    try {
      if (options.direct) directFh = await openDirect(path);
    } catch (err) {
      await fh.close();
      throw err;
    }
    return new FsBlockFile(fh, directFh, this.bounces);
  }
}

class FsBlockFile implements BlockFile {
  private closing: Promise<void> | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly directFh: FileHandle | undefined,
    private readonly bounces: BouncePool,
  ) {}

  get direct(): boolean {
    return this.directFh !== undefined;
  }

  async read(position: number, length: number, into?: Buffer): Promise<Buffer> {
    const out = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(out, done, length - done, position + done);
      if (bytesRead === 0) {
        // Past the end of a sparse file: the rest was never written.
        out.fill(0, done, length);
        break;
      }
      done += bytesRead;
    }
    return out;
  }

  async write(position: number, data: Uint8Array, roomBytes: number): Promise<void> {
    const padded = Math.ceil(data.length / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES;
    if (
      this.directFh !== undefined &&
      data.length >= DIRECT_WRITE_MIN_BYTES &&
      position % DIRECT_ALIGN_BYTES === 0 &&
      padded <= roomBytes
    ) {
      const bounce = this.bounces.take(padded);
      try {
        bounce.set(data, 0);
        bounce.fill(0, data.length, padded);
        await writeAll(this.directFh, bounce.subarray(0, padded), position);
      } finally {
        this.bounces.give(bounce);
      }
      return;
    }
    await writeAll(this.fh, data, position);
  }

  async sync(): Promise<void> {
    await this.fh.datasync();
  }

  close(): Promise<void> {
    // FileHandle.close waits for the operations in flight on it.
    this.closing ??= Promise.all([this.fh.close(), this.directFh?.close()]).then(() => undefined);
    return this.closing;
  }
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
