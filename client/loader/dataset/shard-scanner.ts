// CRC32C of byte ranges of one file read front to back in large blocks, the next block read while
// the current one is checked (how verify reads shards).
//
// Guarantees: crcOf(offset, length) is the CRC32C of exactly those bytes. Ranges at or after the
// block being scanned cost no extra read; a range before it (an entry out of order, only in a
// damaged dataset) is read on its own, still in blocks. Memory: two blocks. A file shorter than
// the range is DATA_CORRUPTED naming it.
import { crc32c } from '../../../common/crc32c.js';
import type { FileHandle } from '../../file-handle.js';
import { corrupt } from './format.js';

interface Block {
  readonly start: number;
  readonly bytes: Buffer;
}

export class ShardScanner {
  private current: Block | undefined;
  private next: Promise<Block> | undefined;

  constructor(
    private readonly handle: FileHandle,
    private readonly where: string,
    /** The file's length: nothing past it is read. */
    private readonly fileBytes: number,
    private readonly blockBytes: number,
    private readonly signal: AbortSignal | undefined,
    /** Called with each block's size as it is read. */
    private readonly onRead: (bytes: number) => void,
  ) {}

  async crcOf(offset: number, length: number): Promise<number> {
    if (this.current !== undefined && offset < this.current.start) return this.crcApart(offset, length);
    let crc = 0;
    let at = offset;
    const end = offset + length;
    while (at < end) {
      const block = await this.blockAt(at);
      const from = at - block.start;
      const count = Math.min(end - at, block.bytes.length - from);
      crc = crc32c(block.bytes.subarray(from, from + count), crc);
      at += count;
    }
    return crc >>> 0;
  }

  /** The block holding byte `at`, reading ahead the one after it. */
  private async blockAt(at: number): Promise<Block> {
    const start = Math.floor(at / this.blockBytes) * this.blockBytes;
    if (this.current?.start === start) return this.current;
    const prefetched = this.next === undefined ? undefined : await this.next;
    this.current = prefetched?.start === start ? prefetched : await this.read(start);
    if (this.current.bytes.length <= at - start)
      throw corrupt(this.where, `ends at ${start + this.current.bytes.length}`);
    const following = start + this.blockBytes;
    this.next = following < this.fileBytes ? this.read(following) : undefined;
    // A read ahead that fails is reported when it is needed, not as an unhandled rejection.
    this.next?.catch(() => undefined);
    return this.current;
  }

  private async read(start: number, length = Math.min(this.blockBytes, this.fileBytes - start)): Promise<Block> {
    const bytes = Buffer.allocUnsafe(Math.max(0, length));
    const read = await this.handle.readAt(start, bytes, this.signal);
    this.onRead(read);
    return { start, bytes: bytes.subarray(0, read) };
  }

  private async crcApart(offset: number, length: number): Promise<number> {
    let crc = 0;
    for (let at = offset; at < offset + length; at += this.blockBytes) {
      const count = Math.min(this.blockBytes, offset + length - at);
      const block = await this.read(at, count);
      if (block.bytes.length !== count) throw corrupt(this.where, `ends at ${at + block.bytes.length}`);
      crc = crc32c(block.bytes, crc);
    }
    return crc >>> 0;
  }
}
