// Chunk keys on disk: 16 bytes, big-endian ino(8) ‖ index(8), so all chunks of one file are one
// contiguous key range on every target, in index order (docs/architecture.md "Storage protocol").
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { CHUNK_INDEX_MAX, INO_MAX } from '../constants.js';

const CHUNK_KEY_BYTES = 16;

export interface ChunkAddress {
  ino: number;
  index: number;
}

function checkU53(value: number, what: string, max: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${what} must be an integer in [0, ${max}], got ${value}`);
  }
}

/** Validates an id from the wire; INVALID_ARGUMENT for negative, fractional or huge values. */
export function checkChunkAddress(chunk: ChunkAddress | undefined): ChunkAddress {
  if (chunk === undefined) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'request has no chunk id');
  checkU53(chunk.ino, 'chunk ino', INO_MAX);
  checkU53(chunk.index, 'chunk index', CHUNK_INDEX_MAX);
  return { ino: chunk.ino, index: chunk.index };
}

function writeU64(target: Buffer, offset: number, value: number): void {
  target.writeUInt32BE(Math.floor(value / 0x1_0000_0000), offset);
  target.writeUInt32BE(value >>> 0, offset + 4);
}

function readU64(source: Uint8Array, offset: number): number {
  const view = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  return view.readUInt32BE(offset) * 0x1_0000_0000 + view.readUInt32BE(offset + 4);
}

/** Whether a key of the chunk-metadata db is a chunk's (not the records table's entry: lmdb-meta-store.ts). */
export function isChunkKey(key: Uint8Array): boolean {
  return key.length === CHUNK_KEY_BYTES;
}

export function encodeChunkKey(ino: number, index: number): Buffer {
  const key = Buffer.allocUnsafe(CHUNK_KEY_BYTES);
  writeU64(key, 0, ino);
  writeU64(key, 8, index);
  return key;
}

export function decodeChunkKey(key: Uint8Array): ChunkAddress {
  if (key.length !== CHUNK_KEY_BYTES) {
    throw new SpindleError(ErrorCode.INTERNAL, `chunk key has ${key.length} bytes, expected ${CHUNK_KEY_BYTES}`);
  }
  return { ino: readU64(key, 0), index: readU64(key, 8) };
}

/** Text form for maps and logs: "ino:index". */
export function chunkKeyString(ino: number, index: number): string {
  return `${ino}:${index}`;
}

/** [start, end) of the key range holding chunks index >= fromIndex of `ino`. */
export function inoKeyRange(ino: number, fromIndex = 0): { start: Buffer; end: Buffer } {
  const start = encodeChunkKey(ino, fromIndex);
  // The first key of ino + 1; for the largest ino, 17 bytes of 0xff sort after every 16-byte key.
  const end = ino < INO_MAX ? encodeChunkKey(ino + 1, 0) : Buffer.alloc(CHUNK_KEY_BYTES + 1, 0xff);
  return { start, end };
}
