// The chunk sizes a file layout may have: a power of two from CHUNK_SIZE_MIN_BYTES to
// CHUNK_SIZE_MAX_BYTES. Meta sets only those, storage refuses any other on the wire, and the client
// checks a layout before cutting I/O by it — one rule, so the three agree.
import { CHUNK_SIZE_MAX_BYTES, CHUNK_SIZE_MIN_BYTES } from './constants.js';
import { ErrorCode, SpindleError } from './errors.js';

/** Whether `bytes` is a chunk size a layout may have. */
export function isChunkSize(bytes: number): boolean {
  return (
    Number.isSafeInteger(bytes) &&
    bytes >= CHUNK_SIZE_MIN_BYTES &&
    bytes <= CHUNK_SIZE_MAX_BYTES &&
    (bytes & (bytes - 1)) === 0
  );
}

/** Throws INVALID_ARGUMENT, naming the field as `what`, unless `chunkSizeBytes` is a chunk size. */
export function checkChunkSize(chunkSizeBytes: number, what = 'layout chunk size'): void {
  if (!isChunkSize(chunkSizeBytes)) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${what} must be a power of two in [${CHUNK_SIZE_MIN_BYTES}, ${CHUNK_SIZE_MAX_BYTES}], got ${chunkSizeBytes}`,
    );
  }
}
