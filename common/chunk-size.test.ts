// One chunk-size rule for meta, storage and the client: powers of two from 64 KiB to 64 MiB.
import { describe, expect, it } from 'vitest';
import { checkChunkSize } from './chunk-size.js';
import { CHUNK_SIZE_MAX_BYTES, CHUNK_SIZE_MIN_BYTES } from './constants.js';
import { ErrorCode } from './errors.js';

describe('checkChunkSize', () => {
  it('accepts every power of two from the smallest to the largest chunk size', () => {
    for (let size = CHUNK_SIZE_MIN_BYTES; size <= CHUNK_SIZE_MAX_BYTES; size *= 2) {
      expect(() => checkChunkSize(size)).not.toThrow();
    }
  });

  it('refuses other sizes with INVALID_ARGUMENT, naming the field and the range', () => {
    for (const bad of [0, -65_536, 1000, 100_000, CHUNK_SIZE_MIN_BYTES / 2, CHUNK_SIZE_MAX_BYTES * 2, 65_536.5, NaN]) {
      expect(() => checkChunkSize(bad, 'chunk_size_bytes'), String(bad)).toThrow(
        expect.objectContaining({
          errorCode: ErrorCode.INVALID_ARGUMENT,
          message: `chunk_size_bytes must be a power of two in [65536, 67108864], got ${bad}`,
        }),
      );
    }
    expect(() => checkChunkSize(1000)).toThrow(/^layout chunk size must be a power of two/);
  });
});
