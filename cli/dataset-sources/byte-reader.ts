// Exact-length reads from a stream of byte chunks (a local file read in large blocks).
//
// Guarantees: read(n) resolves to exactly n bytes, or undefined when the stream ended before the
// first of them; a stream that ends inside the n bytes is an error naming where. Memory: the
// bytes asked for plus at most one chunk.
import { CliError, ExitCode } from '../exit-codes.js';

export class ByteReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Bytes handed out so far (the stream offset of the next read). */
  offset = 0;

  constructor(
    chunks: AsyncIterable<Buffer>,
    private readonly where: string,
  ) {
    this.chunks = chunks[Symbol.asyncIterator]();
  }

  async read(length: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let gathered = 0;
    while (gathered < length) {
      if (this.pending.length === 0 && !(await this.fill())) {
        if (gathered === 0) return undefined;
        throw new CliError(
          `${this.where} ends in the middle of a record (at byte ${this.offset + gathered}): is it complete?`,
          ExitCode.USAGE,
          'EINVAL',
        );
      }
      const take = Math.min(length - gathered, this.pending.length);
      parts.push(this.pending.subarray(0, take));
      this.pending = this.pending.subarray(take);
      gathered += take;
    }
    this.offset += length;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
  }

  /** Drops `length` bytes (an error if the stream ends first). */
  async skip(length: number): Promise<void> {
    let left = length;
    while (left > 0) {
      const piece = await this.read(Math.min(left, 1024 * 1024));
      if (piece === undefined) {
        throw new CliError(`${this.where} ends at byte ${this.offset}, inside a record`, ExitCode.USAGE, 'EINVAL');
      }
      left -= piece.length;
    }
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.pending = next.value;
    return true;
  }
}
