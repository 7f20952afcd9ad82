// A streaming reader of tar archives (POSIX ustar, with GNU and pax extensions) yielding the
// regular files in archive order, each as its name and bytes.
//
// Handled: 512-byte blocks; the ustar prefix field; GNU long names ('L' entries); pax extended
// headers ('x', whose `path` and `size` override the next entry's); octal and base-256 sizes;
// the end-of-archive zero block (or a plain end of file at a block boundary). Directories, links,
// devices, FIFOs, GNU long link names ('K') and global pax headers ('g') are skipped.
//
// Guarantees: each member's bytes are exactly the file's; a header whose checksum fails, a sparse
// member, a truncated archive or a member larger than `memberBytesMax` is a CliError naming the
// archive and the byte offset — never a silently wrong sample. Memory: one member at a time.
import { CliError, ExitCode } from '../exit-codes.js';
import { ByteReader } from './byte-reader.js';

const BLOCK_BYTES = 512;

export interface TarMember {
  /** The member's path as stored (pax or GNU long name when present). */
  readonly name: string;
  readonly data: Buffer;
}

/** A NUL-terminated string field. */
function field(block: Buffer, start: number, length: number): string {
  const bytes = block.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
}

/** A numeric field: octal text, or base-256 big-endian when the first byte's top bit is set. */
function numberField(block: Buffer, start: number, length: number): number {
  if ((block[start]! & 0x80) !== 0) {
    let value = block[start]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + block[start + i]!;
    return value;
  }
  const text = field(block, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function headerChecksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK_BYTES; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === numberField(block, 148, 8);
}

/** The records of a pax extended header: `<length> <key>=<value>\n`, length counting the whole record. */
function parsePax(data: Buffer, fail: (what: string) => CliError): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = space === -1 ? Number.NaN : Number(data.toString('latin1', at, space));
    if (!Number.isSafeInteger(length) || length <= 0 || at + length > data.length) throw fail('a malformed pax header');
    const record = data.toString('utf8', space + 1, at + length - 1);
    const equals = record.indexOf('=');
    if (equals === -1) throw fail('a malformed pax record');
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}

export async function* readTarMembers(
  chunks: AsyncIterable<Buffer>,
  where: string,
  memberBytesMax: number,
): AsyncGenerator<TarMember> {
  const reader = new ByteReader(chunks, where);
  let longName: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    const at = reader.offset;
    const fail = (what: string) =>
      new CliError(`${where}: ${what} at byte ${at}: is it a tar archive, and complete?`, ExitCode.USAGE, 'EINVAL');
    const header = await reader.read(BLOCK_BYTES);
    if (header === undefined || header.every((byte) => byte === 0)) return;
    if (!headerChecksumOk(header)) throw fail('a header whose checksum does not match');
    const type = String.fromCharCode(header[156]!);
    const paxSize = pax.get('size');
    const size = paxSize !== undefined ? Number(paxSize) : numberField(header, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw fail('a member size that cannot be read');
    const padding = (BLOCK_BYTES - (size % BLOCK_BYTES)) % BLOCK_BYTES;
    const readBody = async () => {
      const body = size === 0 ? Buffer.alloc(0) : await reader.read(size);
      if (body === undefined) throw fail('an archive that ends inside a member');
      await reader.skip(padding);
      return body;
    };
    if (type === 'L' || type === 'x') {
      if (size > 1024 * 1024) throw fail(`a ${size}-byte extended header`);
      const body = await readBody();
      if (type === 'L') longName = field(body, 0, body.length);
      else pax = parsePax(body, fail);
      continue;
    }
    const prefix = header.subarray(257, 262).toString('latin1') === 'ustar' ? field(header, 345, 155) : '';
    const stored = field(header, 0, 100);
    const name = pax.get('path') ?? longName ?? (prefix === '' ? stored : `${prefix}/${stored}`);
    longName = undefined;
    pax = new Map();
    if (type === 'S') throw fail(`a sparse member (${name}), which pack does not read`);
    // Old (v7) archives mark a directory only by its trailing '/'.
    if ((type !== '0' && type !== '\0' && type !== '7') || name.endsWith('/')) {
      await reader.skip(size + padding);
      continue;
    }
    if (size > memberBytesMax) throw fail(`member ${name} of ${size} bytes, larger than a sample may be`);
    yield { name, data: await readBody() };
  }
}
