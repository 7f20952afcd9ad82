// The chunk sizes a file layout may have: a power of two from CHUNK_SIZE_MIN_BYTES to
// CHUNK_SIZE_MAX_BYTES. Meta sets only those, storage refuses any other on the wire, and the client
// checks a layout before cutting I/O by it — one rule, so the three agree.
import { CHUNK_SIZE_MAX_BYTES, CHUNK_SIZE_MIN_BYTES } from './constants.js';
import { ErrorCode, SpindleError } from './errors.js';

/** Throws INVALID_ARGUMENT, naming the field as `what`, unless `chunkSizeBytes` is a chunk size. */
export function checkChunkSize(chunkSizeBytes: number, what = 'layout chunk size'): void {
  if (
    !Number.isSafeInteger(chunkSizeBytes) ||
    chunkSizeBytes < CHUNK_SIZE_MIN_BYTES ||
    chunkSizeBytes > CHUNK_SIZE_MAX_BYTES ||
    (chunkSizeBytes & (chunkSizeBytes - 1)) !== 0
  ) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${what} must be a power of two in [${CHUNK_SIZE_MIN_BYTES}, ${CHUNK_SIZE_MAX_BYTES}], got ${chunkSizeBytes}`,
    );
  }
}
