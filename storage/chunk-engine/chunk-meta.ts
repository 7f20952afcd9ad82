// Committed chunk metadata as stored in a target's lmdb env: a small fixed binary record plus one
// CRC32C per segment of the chunk. Only committed state is persisted; a pending update lives in
// memory until its commit (a crash drops it and the committed version stays — copy-on-write keeps it).
//
// Two formats, both read:
// - 1: 64 KiB segments, the segment table big-endian (every chunk written before format 2).
// - 2: the segment size in the record (byte 2, as log2; CRC_SEGMENT_BYTES for new chunks), the
//   table little-endian so decoding it is one copy (a 4 MiB chunk has 1,024 entries at 4 KiB).
// Every record is written in format 2; a format-1 chunk keeps its 64 KiB segments when it is
// appended in place, and gets the current size when it is rewritten (copy-on-write, a resync's
// full-chunk replace).
import { endianness } from 'node:os';
import { ErrorCode, SpindleError, assert } from '../../common/errors.js';
import { CRC_SEGMENT_BYTES_FORMAT_1 } from '../constants.js';

/** Where a chunk's bytes live: block `blockNo` of size class 2^classLog2. classLog2 0 = no block (empty chunk). */
export interface BlockLocation {
  classLog2: number;
  blockNo: number;
}

export interface CommittedChunkMeta {
  /** Committed version: 1 for the first write, +1 per update. */
  commitVersion: number;
  /** Chain version when the commit happened. */
  chainVersion: number;
  /** Committed length in bytes. */
  length: number;
  /** CRC32C of the committed bytes [0, length). */
  crc32c: number;
  /** Data block; classLog2 0 when length is 0. */
  block: BlockLocation;
  /** Bytes per checksum segment (a power of two: 64 KiB for format-1 records). */
  segmentBytes: number;
  /** CRC32C of each `segmentBytes` segment of the committed bytes (the last may be short). */
  segmentCrcs: Uint32Array;
  /** Commit time, microseconds since the epoch (informational). */
  updatedUs: number;
}

const FORMAT_1 = 1;
const FORMAT_2 = 2;
const HEADER_BYTES = 40;
/** Segment sizes a record may name: 512 B … 1 MiB. */
const SEGMENT_LOG2_MIN = 9;
const SEGMENT_LOG2_MAX = 20;

// The format-2 table is copied as raw little-endian words into a Uint32Array.
assert(endianness() === 'LE', 'chunk metadata format 2 expects a little-endian CPU');

export function segmentCount(length: number, segmentBytes: number): number {
  return Math.ceil(length / segmentBytes);
}

export function encodeChunkMeta(meta: CommittedChunkMeta): Buffer {
  const segments = meta.segmentCrcs.length;
  if (segments !== segmentCount(meta.length, meta.segmentBytes)) {
    throw new SpindleError(ErrorCode.INTERNAL, `chunk meta has ${segments} segment CRCs for length ${meta.length}`);
  }
  const segmentLog2 = Math.log2(meta.segmentBytes);
  assert(
    Number.isInteger(segmentLog2) && segmentLog2 >= SEGMENT_LOG2_MIN && segmentLog2 <= SEGMENT_LOG2_MAX,
    `chunk segment size ${meta.segmentBytes} is not a power of two in range`,
  );
  const out = Buffer.allocUnsafe(HEADER_BYTES + segments * 4);
  out.writeUInt8(FORMAT_2, 0);
  out.writeUInt8(meta.block.classLog2, 1);
  out.writeUInt8(segmentLog2, 2);
  out.writeUInt8(0, 3);
  out.writeUInt32BE(Math.floor(meta.commitVersion / 0x1_0000_0000), 4);
  out.writeUInt32BE(meta.commitVersion >>> 0, 8);
  out.writeUInt32BE(meta.chainVersion >>> 0, 12);
  out.writeUInt32BE(meta.length >>> 0, 16);
  out.writeUInt32BE(meta.crc32c >>> 0, 20);
  out.writeUInt32BE(meta.block.blockNo >>> 0, 24);
  out.writeUInt32BE(segments, 28);
  out.writeUInt32BE(Math.floor(meta.updatedUs / 0x1_0000_0000), 32);
  out.writeUInt32BE(meta.updatedUs >>> 0, 36);
  out.set(new Uint8Array(meta.segmentCrcs.buffer, meta.segmentCrcs.byteOffset, segments * 4), HEADER_BYTES);
  return out;
}

/**
 * A record in format 1 (64 KiB segments, big-endian table), as every chunk was written before
 * format 2: how the tests make the chunks an older storage node left on disk.
 */
export function encodeChunkMetaFormat1(meta: CommittedChunkMeta): Buffer {
  assert(meta.segmentBytes === CRC_SEGMENT_BYTES_FORMAT_1, 'format 1 has 64 KiB segments only');
  const out = encodeChunkMeta(meta);
  out.writeUInt8(FORMAT_1, 0);
  out.writeUInt8(0, 2);
  for (let i = 0; i < meta.segmentCrcs.length; i++) out.writeUInt32BE(meta.segmentCrcs[i]!, HEADER_BYTES + i * 4);
  return out;
}

function unreadable(buf: Buffer, why: string): SpindleError {
  return new SpindleError(ErrorCode.CHUNK_CORRUPT, `chunk metadata record is unreadable (${buf.length} bytes: ${why})`);
}

export function decodeChunkMeta(raw: Uint8Array): CommittedChunkMeta {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (buf.length < HEADER_BYTES) throw unreadable(buf, 'short header');
  const format = buf.readUInt8(0);
  if (format !== FORMAT_1 && format !== FORMAT_2) throw unreadable(buf, `unknown format ${format}`);
  const segmentLog2 = format === FORMAT_1 ? Math.log2(CRC_SEGMENT_BYTES_FORMAT_1) : buf.readUInt8(2);
  if (segmentLog2 < SEGMENT_LOG2_MIN || segmentLog2 > SEGMENT_LOG2_MAX) throw unreadable(buf, 'bad segment size');
  const segments = buf.readUInt32BE(28);
  const length = buf.readUInt32BE(16);
  if (buf.length !== HEADER_BYTES + segments * 4 || segments !== segmentCount(length, 2 ** segmentLog2)) {
    throw new SpindleError(ErrorCode.CHUNK_CORRUPT, `chunk metadata record has a bad segment table`);
  }
  const segmentCrcs = new Uint32Array(segments);
  if (format === FORMAT_1) {
    for (let i = 0; i < segments; i++) segmentCrcs[i] = buf.readUInt32BE(HEADER_BYTES + i * 4);
  } else {
    new Uint8Array(segmentCrcs.buffer).set(buf.subarray(HEADER_BYTES, HEADER_BYTES + segments * 4));
  }
  return {
    block: { classLog2: buf.readUInt8(1), blockNo: buf.readUInt32BE(24) },
    commitVersion: buf.readUInt32BE(4) * 0x1_0000_0000 + buf.readUInt32BE(8),
    chainVersion: buf.readUInt32BE(12),
    length,
    crc32c: buf.readUInt32BE(20),
    segmentBytes: 2 ** segmentLog2,
    segmentCrcs,
    updatedUs: buf.readUInt32BE(32) * 0x1_0000_0000 + buf.readUInt32BE(36),
  };
}
