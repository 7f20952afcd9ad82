// How a KV-cache page lives in the chunk engine: one chunk in a reserved chunk-id space, holding a
// small header and the page's value (docs/kvcache.md "Pages in the chunk engine").
//
// Guarantees: a page's chunk id is a pure function of (namespace name, fingerprint, key), with
// ino >= KV_INO_BASE, a range meta never allocates. The header names the namespace and the key, so
// a reader that finds other bytes at the id (a hash collision, a stale chunk) sees a miss, never
// another page's value. The chunk engine CRC-checks and replicates the chunk like any other.
import { createHash } from 'node:crypto';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { ChunkAddress } from '../chunk-engine/chunk-key.js';
import { PAGE_KEY_BYTES } from './constants.js';

/**
 * First ino of the KV-cache space: inos 2^52 .. 2^53-1 hold pages (52 hash bits), below are files
 * (meta's INODE_ID_MAX stays below this). Chunk index: 53 further hash bits (exact JS integers).
 */
export const KV_INO_BASE = 2 ** 52;
const INO_HASH_BITS = 52n;
const INDEX_HASH_BITS = 53n;

const MAGIC = 0x53_4b_56_50; // 'SKVP'
const FORMAT_VERSION = 1;
const FINGERPRINT_BYTES = 16;
const FLAG_HAS_PARENT = 1;
/** magic 4, version 1, flags 1, name length 2, fingerprint 16, key 32, parent 32, value length 4, expiry 8. */
const FIXED_HEADER_BYTES = 4 + 1 + 1 + 2 + FINGERPRINT_BYTES + 2 * PAGE_KEY_BYTES + 4 + 8;
const NAME_BYTES_MAX = 128;
/** The longest header: reading this many bytes of a chunk always covers its header. */
export const PAGE_HEADER_BYTES_MAX = FIXED_HEADER_BYTES + NAME_BYTES_MAX;

/** The namespace a page belongs to, as its chunk names it. */
export interface PageNamespace {
  readonly name: string;
  /** 32 hex digits (namespace-config.ts). */
  readonly fingerprint: string;
}

export interface PageHeader extends PageNamespace {
  readonly key: Uint8Array;
  readonly parentKey: Uint8Array | undefined;
  readonly valueBytes: number;
  /** Infinity when the page has no TTL. */
  readonly expiresAtMs: number;
}

/** The chunk that holds the page `key` of the namespace. */
export function pageChunkAddress(namespace: PageNamespace, key: Uint8Array): ChunkAddress {
  const digest = createHash('sha256')
    .update('kv-page-v1\0')
    .update(namespace.name)
    .update('\0')
    .update(namespace.fingerprint)
    .update(key)
    .digest();
  const bits = digest.readBigUInt64BE(0) * 2n ** 64n + digest.readBigUInt64BE(8);
  const inoBits = bits >> (128n - INO_HASH_BITS);
  const indexBits = (bits >> (128n - INO_HASH_BITS - INDEX_HASH_BITS)) & (2n ** INDEX_HASH_BITS - 1n);
  return { ino: KV_INO_BASE + Number(inoBits), index: Number(indexBits) };
}

/** The chunk's bytes: header then value. */
export function encodePageChunk(header: Omit<PageHeader, 'valueBytes'>, value: Uint8Array): Buffer {
  const name = Buffer.from(header.name, 'utf8');
  if (name.length > NAME_BYTES_MAX) throw new SpindleError(ErrorCode.INTERNAL, 'namespace name too long for a header');
  const out = Buffer.alloc(FIXED_HEADER_BYTES + name.length + value.length);
  let at = out.writeUInt32BE(MAGIC, 0);
  at = out.writeUInt8(FORMAT_VERSION, at);
  at = out.writeUInt8(header.parentKey === undefined ? 0 : FLAG_HAS_PARENT, at);
  at = out.writeUInt16BE(name.length, at);
  at += Buffer.from(header.fingerprint, 'hex').copy(out, at);
  at += Buffer.from(header.key).copy(out, at);
  if (header.parentKey !== undefined) Buffer.from(header.parentKey).copy(out, at);
  at += PAGE_KEY_BYTES;
  at = out.writeUInt32BE(value.length, at);
  at = out.writeDoubleBE(Number.isFinite(header.expiresAtMs) ? header.expiresAtMs : 0, at);
  at += name.copy(out, at);
  Buffer.from(value.buffer, value.byteOffset, value.byteLength).copy(out, at);
  return out;
}

/** The header of a chunk's first bytes, or undefined when they are no page header of this format. */
export function decodePageHeader(bytes: Uint8Array): { header: PageHeader; headerBytes: number } | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < FIXED_HEADER_BYTES || buf.readUInt32BE(0) !== MAGIC || buf.readUInt8(4) !== FORMAT_VERSION) {
    return undefined;
  }
  const flags = buf.readUInt8(5);
  const nameBytes = buf.readUInt16BE(6);
  if (nameBytes > NAME_BYTES_MAX || buf.length < FIXED_HEADER_BYTES + nameBytes) return undefined;
  let at = 8;
  const fingerprint = buf.subarray(at, at + FINGERPRINT_BYTES).toString('hex');
  at += FINGERPRINT_BYTES;
  const key = Buffer.from(buf.subarray(at, at + PAGE_KEY_BYTES));
  at += PAGE_KEY_BYTES;
  const parentKey = (flags & FLAG_HAS_PARENT) !== 0 ? Buffer.from(buf.subarray(at, at + PAGE_KEY_BYTES)) : undefined;
  at += PAGE_KEY_BYTES;
  const valueBytes = buf.readUInt32BE(at);
  const expiry = buf.readDoubleBE(at + 4);
  at += 12;
  const name = buf.subarray(at, at + nameBytes).toString('utf8');
  return {
    header: { name, fingerprint, key, parentKey, valueBytes, expiresAtMs: expiry === 0 ? Infinity : expiry },
    headerBytes: FIXED_HEADER_BYTES + nameBytes,
  };
}

/** True when the header is the page `key` of the namespace (anything else reads as a miss). */
export function headerMatches(header: PageHeader, namespace: PageNamespace, key: Uint8Array): boolean {
  return (
    header.name === namespace.name &&
    header.fingerprint === namespace.fingerprint &&
    Buffer.from(header.key).equals(Buffer.from(key.buffer, key.byteOffset, key.byteLength))
  );
}
