// CRC32C (Castagnoli), the checksum of chunks, bulk frames and checkpoint shards. Hardware
// accelerated through @node-rs/crc32. Incremental: crc32c(b, crc32c(a)) === crc32c(a ‖ b).
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `data`, continuing from `initial` (the CRC of the bytes before it; 0 to start). */
export function crc32c(data: Uint8Array, initial = 0): number {
  return nativeCrc32c(data, initial) >>> 0;
}

/** CRC32C of several buffers in order, as if they were concatenated. */
export function crc32cOf(parts: Iterable<Uint8Array>, initial = 0): number {
  let crc = initial;
  for (const part of parts) crc = crc32c(part, crc);
  return crc;
}
