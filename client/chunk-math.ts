// Cutting a file byte range into chunk pieces: chunk i covers [i·size, (i+1)·size). Pure
// arithmetic, kept apart so it is tested on its own (off-by-one at chunk boundaries corrupts data).
// Which chunk sizes a layout may have is common/chunk-size.ts's rule (checkChunkSize, re-exported
// here for the chunk store); the arithmetic itself needs only a power of two, so its tests cut
// small chunks.
import { ErrorCode, SpindleError } from '../common/errors.js';
import { FILE_SIZE_MAX_BYTES } from '../common/constants.js';

export { checkChunkSize } from '../common/chunk-size.js';

/** The part of a byte range that falls in one chunk. */
export interface ChunkPiece {
  /** Index of the chunk in the file. */
  chunkIndex: number;
  /** Offset inside the chunk. */
  chunkOffset: number;
  /** Bytes of this piece (> 0). */
  length: number;
  /** Offset of this piece inside the caller's buffer (0 for the first piece). */
  bufferOffset: number;
}

/** Throws INVALID_ARGUMENT unless offset/length describe a range a file can hold. */
export function checkRange(offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${what}: offset must be a non-negative integer, got ${offset}`);
  }
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${what}: length must be a non-negative integer, got ${length}`);
  }
  if (offset + length > FILE_SIZE_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.FILE_TOO_LARGE,
      `${what}: range ends at byte ${offset + length}, past the largest file size ${FILE_SIZE_MAX_BYTES}`,
    );
  }
}

/** What the arithmetic below needs of a chunk size: a positive power of two. */
function checkPowerOfTwo(chunkSizeBytes: number): void {
  if (!Number.isSafeInteger(chunkSizeBytes) || chunkSizeBytes <= 0 || (chunkSizeBytes & (chunkSizeBytes - 1)) !== 0) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `chunk size must be a power of two, got ${chunkSizeBytes}`);
  }
}

/** Splits [offset, offset + length) into per-chunk pieces, in file order. */
export function splitRange(offset: number, length: number, chunkSizeBytes: number): ChunkPiece[] {
  checkPowerOfTwo(chunkSizeBytes);
  checkRange(offset, length, 'split');
  const pieces: ChunkPiece[] = [];
  let position = offset;
  const end = offset + length;
  while (position < end) {
    const chunkIndex = Math.floor(position / chunkSizeBytes);
    const chunkOffset = position - chunkIndex * chunkSizeBytes;
    const pieceLength = Math.min(chunkSizeBytes - chunkOffset, end - position);
    pieces.push({ chunkIndex, chunkOffset, length: pieceLength, bufferOffset: position - offset });
    position += pieceLength;
  }
  return pieces;
}

/** Number of chunks a file of `length` bytes spans (the index one past its last chunk). */
export function chunkCount(length: number, chunkSizeBytes: number): number {
  return Math.ceil(length / chunkSizeBytes);
}

/**
 * What truncating to `length` does to chunks: every chunk from `removeFromIndex` on goes; the
 * chunk `cutIndex` (if any) is cut to `cutLength` bytes.
 */
export function truncatePlan(
  length: number,
  chunkSizeBytes: number,
): { removeFromIndex: number; cut: { chunkIndex: number; length: number } | undefined } {
  checkPowerOfTwo(chunkSizeBytes);
  checkRange(length, 0, 'truncate');
  const removeFromIndex = chunkCount(length, chunkSizeBytes);
  const tail = length % chunkSizeBytes;
  return {
    removeFromIndex,
    cut: tail === 0 ? undefined : { chunkIndex: Math.floor(length / chunkSizeBytes), length: tail },
  };
}
