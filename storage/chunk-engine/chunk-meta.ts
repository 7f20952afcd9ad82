// Committed chunk metadata as stored in a target's lmdb env: a small fixed binary record plus one
// CRC32C per 64 KiB segment. Only committed state is persisted; a pending update lives in memory
// until its commit (a crash drops it and the committed version stays — copy-on-write keeps it).
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { CRC_SEGMENT_BYTES } from '../constants.js';

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
  /** CRC32C of each CRC_SEGMENT_BYTES segment of the committed bytes (the last may be short). */
  segmentCrcs: Uint32Array;
  /** Commit time, microseconds since the epoch (informational). */
  updatedUs: number;
}

const FORMAT_VERSION = 1;
const HEADER_BYTES = 40;

export function segmentCount(length: number): number {
  return Math.ceil(length / CRC_SEGMENT_BYTES);
}

export function encodeChunkMeta(meta: CommittedChunkMeta): Buffer {
  const segments = meta.segmentCrcs.length;
  if (segments !== segmentCount(meta.length)) {
    throw new SpindleError(ErrorCode.INTERNAL, `chunk meta has ${segments} segment CRCs for length ${meta.length}`);
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + segments * 4);
  out.writeUInt8(FORMAT_VERSION, 0);
  out.writeUInt8(meta.block.classLog2, 1);
  out.writeUInt16BE(0, 2);
  out.writeUInt32BE(Math.floor(meta.commitVersion / 0x1_0000_0000), 4);
  out.writeUInt32BE(meta.commitVersion >>> 0, 8);
  out.writeUInt32BE(meta.chainVersion >>> 0, 12);
  out.writeUInt32BE(meta.length >>> 0, 16);
  out.writeUInt32BE(meta.crc32c >>> 0, 20);
  out.writeUInt32BE(meta.block.blockNo >>> 0, 24);
  out.writeUInt32BE(segments, 28);
  out.writeUInt32BE(Math.floor(meta.updatedUs / 0x1_0000_0000), 32);
  out.writeUInt32BE(meta.updatedUs >>> 0, 36);
  for (let i = 0; i < segments; i++) out.writeUInt32BE(meta.segmentCrcs[i]!, HEADER_BYTES + i * 4);
  return out;
}

export function decodeChunkMeta(raw: Uint8Array): CommittedChunkMeta {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (buf.length < HEADER_BYTES || buf.readUInt8(0) !== FORMAT_VERSION) {
    throw new SpindleError(ErrorCode.CHUNK_CORRUPT, `chunk metadata record is unreadable (${buf.length} bytes)`);
  }
  const segments = buf.readUInt32BE(28);
  if (buf.length !== HEADER_BYTES + segments * 4) {
    throw new SpindleError(ErrorCode.CHUNK_CORRUPT, `chunk metadata record has a bad segment table`);
  }
  const segmentCrcs = new Uint32Array(segments);
  for (let i = 0; i < segments; i++) segmentCrcs[i] = buf.readUInt32BE(HEADER_BYTES + i * 4);
  return {
    block: { classLog2: buf.readUInt8(1), blockNo: buf.readUInt32BE(24) },
    commitVersion: buf.readUInt32BE(4) * 0x1_0000_0000 + buf.readUInt32BE(8),
    chainVersion: buf.readUInt32BE(12),
    length: buf.readUInt32BE(16),
    crc32c: buf.readUInt32BE(20),
    segmentCrcs,
    updatedUs: buf.readUInt32BE(32) * 0x1_0000_0000 + buf.readUInt32BE(36),
  };
}
