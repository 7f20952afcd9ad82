// The namespace's store schema: every key the namespace reads or writes, and how its values are
// encoded. Nothing else in meta/namespace builds a key.
//
//   INOD ‖ ino                                   → Inode (proto, versionable by field numbers)
//   DENT ‖ parent ino ‖ name                     → DirEntry (proto: ino, type; name is in the key)
//   CNTR ‖ "inode"                               → next unallocated inode id (8 bytes BE)
//   CNTR ‖ "usage" ‖ shard                       → usage counters of one shard (two i64 BE: inodes, bytes)
//   IDEM ‖ "r" ‖ len(client) ‖ client ‖ request  → IdempotencyRecord
//   IDEM ‖ "t" ‖ created µs ‖ len(client) ‖ client ‖ request → empty (expiry index, oldest first)
//   GCQU ‖ "i" ‖ ino                             → GcRecord (queued µs + Inode) of a file whose last link went
//   GCQU ‖ "q" ‖ queued µs ‖ ino                 → empty (collection order, oldest first)
//   XATR ‖ ino ‖ name                            → value of one extended attribute (raw bytes)
//
// A directory listing is one range read of DENT ‖ parent; names sort bytewise (UTF-8). Client
// ids are length-prefixed because a string part carries no terminator.
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { KeyPrefix, encodeKey, prefixEnd, readKeyU64 } from '../../common/keys.js';
import { DirEntry, Inode, type InodeType } from '../../proto/index.js';

const PREFIX_BYTES = 4;
const U64_BYTES = 8;

// ---------------------------------------------------------------------------------------------
// Inodes and directory entries

// The keys every operation builds several times (inode, entry, idempotency) are written straight
// into one buffer: the same bytes as encodeKey (schema.test.ts checks), without its per-part
// buffers, BigInt conversions and concat — key building was ≈ 10 % of a create's CPU.

const TWO_POW_32 = 2 ** 32;

function writePrefix(out: Buffer, prefix: string): void {
  for (let i = 0; i < PREFIX_BYTES; i++) out[i] = prefix.charCodeAt(i);
}

/** Writes a safe non-negative integer as 8 bytes big-endian (encodeKey's number part). */
function writeU64(out: Buffer, offset: number, value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${what} must be a safe non-negative integer, got ${value}`);
  }
  out.writeUInt32BE(Math.floor(value / TWO_POW_32), offset);
  out.writeUInt32BE(value >>> 0, offset + 4);
}

export function inodeKey(ino: number): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + U64_BYTES);
  writePrefix(out, KeyPrefix.INODE);
  writeU64(out, PREFIX_BYTES, ino, 'inode id');
  return out;
}

export function dentryKey(parentIno: number, name: string): Buffer {
  const nameBytes = Buffer.byteLength(name, 'utf8');
  const out = Buffer.allocUnsafe(PREFIX_BYTES + U64_BYTES + nameBytes);
  writePrefix(out, KeyPrefix.DENTRY);
  writeU64(out, PREFIX_BYTES, parentIno, 'parent inode id');
  out.write(name, PREFIX_BYTES + U64_BYTES, nameBytes, 'utf8');
  return out;
}

/** [start, end) of every entry of a directory. */
export function dentryRange(parentIno: number): { start: Buffer; end: Buffer } {
  const start = encodeKey(KeyPrefix.DENTRY, parentIno);
  return { start, end: prefixEnd(start) };
}

/** Names up to this many bytes are decoded in JS when ASCII (a readdir decodes thousands of them). */
const ASCII_NAME_FAST_BYTES = 32;

/** Where the name's UTF-8 bytes start in a DENT key. */
export const DENTRY_NAME_OFFSET = PREFIX_BYTES + U64_BYTES;

/** The entry name of a DENT key. */
export function dentryName(key: Uint8Array): string {
  const start = PREFIX_BYTES + U64_BYTES;
  // Short ASCII names: a JS loop is ~4× cheaper than a call into Buffer's UTF-8 decoder.
  if (key.length - start <= ASCII_NAME_FAST_BYTES) {
    let name = '';
    for (let i = start; i < key.length; i++) {
      const byte = key[i]!;
      if (byte >= 0x80) return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8', start);
      name += String.fromCharCode(byte);
    }
    return name;
  }
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8', start);
}

export function encodeInode(inode: Inode): Uint8Array {
  return Inode.encode(inode).finish();
}

export function decodeInode(bytes: Uint8Array): Inode {
  return Inode.decode(bytes);
}

export interface EntryValue {
  ino: number;
  type: InodeType;
}

export function encodeEntry(entry: EntryValue): Uint8Array {
  return DirEntry.encode({ name: '', ino: entry.ino, type: entry.type }).finish();
}

/** Varint bytes read by decodeEntry's fast path: 7 hold 49 bits, below 2^53. */
const ENTRY_VARINT_FAST_BYTES = 7;

export function decodeEntry(bytes: Uint8Array): EntryValue {
  // What encodeEntry writes — field 2 (ino) and field 3 (type) as varints, zeros omitted — is
  // read here without a protobuf reader (a readdir of 5,000 entries spent most of its time making
  // readers); anything else goes to the generated decoder.
  let ino = 0;
  let type = 0;
  let at = 0;
  while (at < bytes.length) {
    const tag = bytes[at++]!;
    if (tag !== 0x10 && tag !== 0x18) return decodeEntrySlow(bytes);
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i === ENTRY_VARINT_FAST_BYTES || at >= bytes.length) return decodeEntrySlow(bytes);
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 128;
    }
    if (tag === 0x10) ino = value;
    else type = value;
  }
  return { ino, type };
}

function decodeEntrySlow(bytes: Uint8Array): EntryValue {
  const entry = DirEntry.decode(bytes);
  return { ino: entry.ino, type: entry.type };
}

// ---------------------------------------------------------------------------------------------
// Extended attributes

export function xattrKey(ino: number, name: string): Buffer {
  return encodeKey(KeyPrefix.XATTR, ino, name);
}

/** [start, end) of every extended attribute of an inode. */
export function xattrRange(ino: number): { start: Buffer; end: Buffer } {
  const start = encodeKey(KeyPrefix.XATTR, ino);
  return { start, end: prefixEnd(start) };
}

/** The attribute name of an XATR key. */
export function xattrName(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8', PREFIX_BYTES + U64_BYTES);
}

// ---------------------------------------------------------------------------------------------
// Counters

export function inodeCounterKey(): Buffer {
  return encodeKey(KeyPrefix.COUNTER, 'inode');
}

export function usageShardKey(shard: number): Buffer {
  return encodeKey(KeyPrefix.COUNTER, 'usage', shard);
}

export function usageRange(): { start: Buffer; end: Buffer } {
  const start = encodeKey(KeyPrefix.COUNTER, 'usage');
  return { start, end: prefixEnd(start) };
}

export function encodeU64(value: number): Uint8Array {
  const out = Buffer.alloc(U64_BYTES);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

export function decodeU64(bytes: Uint8Array): number {
  return readKeyU64(bytes, 0);
}

export interface Usage {
  inodes: number;
  bytes: number;
}

/** Signed because one shard may go negative (a file created on shard 3 and removed on shard 7). */
export function encodeUsage(usage: Usage): Uint8Array {
  const out = Buffer.alloc(2 * U64_BYTES);
  out.writeBigInt64BE(BigInt(usage.inodes), 0);
  out.writeBigInt64BE(BigInt(usage.bytes), U64_BYTES);
  return out;
}

export function decodeUsage(bytes: Uint8Array): Usage {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { inodes: Number(buffer.readBigInt64BE(0)), bytes: Number(buffer.readBigInt64BE(U64_BYTES)) };
}

// ---------------------------------------------------------------------------------------------
// Idempotency records

/**
 * IDEM ‖ kind ‖ [created µs] ‖ len(client) ‖ client ‖ request: the request-identifying suffix is
 * shared by a record key ('r') and its expiry index key ('t', with the creation time).
 */
function idempotencyKeyOf(
  kind: 'r' | 't',
  createdAtUs: number | undefined,
  clientId: string,
  requestId: number,
): Buffer {
  const clientBytes = Buffer.byteLength(clientId, 'utf8');
  const timeBytes = createdAtUs === undefined ? 0 : U64_BYTES;
  const out = Buffer.allocUnsafe(PREFIX_BYTES + 1 + timeBytes + U64_BYTES + clientBytes + U64_BYTES);
  writePrefix(out, KeyPrefix.IDEMPOTENCY);
  out[PREFIX_BYTES] = kind.charCodeAt(0);
  let offset = PREFIX_BYTES + 1;
  if (createdAtUs !== undefined) {
    writeU64(out, offset, createdAtUs, 'record time');
    offset += U64_BYTES;
  }
  writeU64(out, offset, clientBytes, 'client id length');
  offset += U64_BYTES;
  out.write(clientId, offset, clientBytes, 'utf8');
  writeU64(out, offset + clientBytes, requestId, 'request id');
  return out;
}

export function idempotencyKey(clientId: string, requestId: number): Buffer {
  return idempotencyKeyOf('r', undefined, clientId, requestId);
}

export function idempotencyExpiryKey(createdAtUs: number, clientId: string, requestId: number): Buffer {
  return idempotencyKeyOf('t', createdAtUs, clientId, requestId);
}

/** Expiry index keys of records created before `beforeUs`. */
export function idempotencyExpiryRange(beforeUs: number): { start: Buffer; end: Buffer } {
  return { start: encodeKey(KeyPrefix.IDEMPOTENCY, 't'), end: encodeKey(KeyPrefix.IDEMPOTENCY, 't', beforeUs) };
}

/** The record key an expiry index key points at. */
export function idempotencyKeyOfExpiry(expiryKey: Uint8Array): Buffer {
  const suffix = Buffer.from(expiryKey.buffer, expiryKey.byteOffset, expiryKey.byteLength).subarray(
    PREFIX_BYTES + 1 + U64_BYTES,
  );
  return encodeKey(KeyPrefix.IDEMPOTENCY, 'r', suffix);
}

export interface IdempotencyRecord {
  /** RPC method the tag was first used with. */
  method: string;
  /** Digest of the first request, to refuse a reused tag on a different request. */
  digest: Uint8Array;
  createdAtUs: number;
  /** Encoded response, when the request succeeded. */
  response?: Uint8Array;
  /** The error, when it failed with a final (non-retryable) error. */
  error?: { code: number; message: string };
}

export function encodeIdempotencyRecord(record: IdempotencyRecord): Uint8Array {
  const writer = new BinaryWriter();
  writer.uint32(10).string(record.method);
  writer.uint32(18).bytes(record.digest);
  writer.uint32(24).uint64(record.createdAtUs);
  if (record.response !== undefined) writer.uint32(34).bytes(record.response);
  if (record.error !== undefined) {
    writer.uint32(40).uint32(record.error.code);
    writer.uint32(50).string(record.error.message);
  }
  return writer.finish();
}

export function decodeIdempotencyRecord(bytes: Uint8Array): IdempotencyRecord {
  const reader = new BinaryReader(bytes);
  const record: IdempotencyRecord = { method: '', digest: new Uint8Array(), createdAtUs: 0 };
  let errorCode: number | undefined;
  let errorMessage = '';
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    switch (tag >>> 3) {
      case 1:
        record.method = reader.string();
        break;
      case 2:
        record.digest = reader.bytes();
        break;
      case 3:
        record.createdAtUs = Number(reader.uint64());
        break;
      case 4:
        record.response = reader.bytes();
        break;
      case 5:
        errorCode = reader.uint32();
        break;
      case 6:
        errorMessage = reader.string();
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  if (errorCode !== undefined) record.error = { code: errorCode, message: errorMessage };
  return record;
}

// ---------------------------------------------------------------------------------------------
// GC queue

export function gcRecordKey(ino: number): Buffer {
  return encodeKey(KeyPrefix.GC, 'i', ino);
}

export function gcOrderKey(queuedAtUs: number, ino: number): Buffer {
  return encodeKey(KeyPrefix.GC, 'q', queuedAtUs, ino);
}

export function gcOrderRange(): { start: Buffer; end: Buffer } {
  const start = encodeKey(KeyPrefix.GC, 'q');
  return { start, end: prefixEnd(start) };
}

/** The inode id of a GC order key. */
export function gcOrderIno(key: Uint8Array): number {
  return readKeyU64(key, PREFIX_BYTES + 1 + U64_BYTES);
}

export interface GcRecord {
  queuedAtUs: number;
  inode: Inode;
}

export function encodeGcRecord(record: GcRecord): Uint8Array {
  return Buffer.concat([encodeU64(record.queuedAtUs), encodeInode(record.inode)]);
}

export function decodeGcRecord(bytes: Uint8Array): GcRecord {
  if (bytes.length < U64_BYTES) throw new SpindleError(ErrorCode.INTERNAL, 'gc record is truncated');
  return { queuedAtUs: decodeU64(bytes), inode: decodeInode(bytes.subarray(U64_BYTES)) };
}
