// The packed entry format of Meta.ReadDir pages (proto/meta.proto ReadDirResponse): names as one
// byte array (each name's UTF-8 bytes and a NUL, which no name contains), inode ids as 8 bytes
// each (little-endian) and types as one byte each. A page of thousands of entries is then built
// from the stored keys' bytes without decoding a name on meta, and read on the client with one
// UTF-8 decode and one split, instead of one protobuf message (and its allocations) per entry:
// with one message per entry, encoding and decoding them was most of a 5,000-entry listing.
import { ErrorCode, SpindleError } from './errors.js';

/** Bytes per inode id in `inos`. */
const INO_BYTES = 8;
const TWO_POW_32 = 2 ** 32;
/** Names are UTF-8; a page that is not is refused, never rewritten (as common/strict-utf8.ts). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** One page in the packed form (the fields of ReadDirResponse). */
export interface PackedDirEntries {
  names: Uint8Array;
  inos: Uint8Array;
  types: Uint8Array;
}

/** One entry of a page. `type` is an InodeType. */
export interface UnpackedDirEntry {
  name: string;
  ino: number;
  type: number;
}

/**
 * Builds a page from names given as UTF-8 bytes inside other arrays (a stored key's tail): they
 * are copied once, into the page, by a JS loop (names are short; a view per name cost more).
 */
export class DirEntryPacker {
  private readonly sources: Uint8Array[] = [];
  private readonly starts: number[] = [];
  private nameBytes = 0;
  private readonly inos: Buffer;
  private readonly types: Buffer;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.inos = Buffer.allocUnsafe(capacity * INO_BYTES);
    this.types = Buffer.allocUnsafe(capacity);
  }

  /** Adds an entry whose name is `source` from `start` to its end. */
  add(source: Uint8Array, start: number, ino: number, type: number): void {
    if (this.count >= this.capacity) throw new RangeError(`a packed page holds ${this.capacity} entries`);
    this.sources.push(source);
    this.starts.push(start);
    this.nameBytes += source.length - start + 1;
    this.inos.writeUInt32LE(ino % TWO_POW_32, this.count * INO_BYTES);
    this.inos.writeUInt32LE(Math.floor(ino / TWO_POW_32), this.count * INO_BYTES + 4);
    this.types[this.count] = type;
    this.count++;
  }

  finish(): { names: Buffer; inos: Buffer; types: Buffer } {
    const names = Buffer.allocUnsafe(this.nameBytes);
    let at = 0;
    for (let i = 0; i < this.count; i++) {
      const source = this.sources[i]!;
      for (let j = this.starts[i]!; j < source.length; j++) names[at++] = source[j]!;
      names[at++] = 0;
    }
    return {
      names,
      inos: this.inos.subarray(0, this.count * INO_BYTES),
      types: this.types.subarray(0, this.count),
    };
  }
}

/** The entries of a packed page; a page whose three arrays disagree is refused as malformed. */
export function unpackDirEntries(page: PackedDirEntries): UnpackedDirEntry[] {
  const count = page.types.length;
  if (page.inos.length !== count * INO_BYTES) throw malformed(`${page.inos.length} bytes of ids for ${count} types`);
  if (count === 0) {
    if (page.names.length !== 0) throw malformed('names without entries');
    return [];
  }
  if (page.names[page.names.length - 1] !== 0) throw malformed('the names do not end with NUL');
  let text: string;
  try {
    text = utf8.decode(page.names.subarray(0, page.names.length - 1));
  } catch {
    throw malformed('a name is not valid UTF-8');
  }
  const names = text.split('\0');
  if (names.length !== count) throw malformed(`${names.length} names for ${count} types`);
  const inos = Buffer.from(page.inos.buffer, page.inos.byteOffset, page.inos.byteLength);
  const entries: UnpackedDirEntry[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const ino = inos.readUInt32LE(i * INO_BYTES + 4) * TWO_POW_32 + inos.readUInt32LE(i * INO_BYTES);
    entries[i] = { name: names[i]!, ino, type: page.types[i]! };
  }
  return entries;
}

function malformed(what: string): SpindleError {
  return new SpindleError(ErrorCode.RPC_MALFORMED, `meta.ReadDir: a malformed page (${what})`);
}
