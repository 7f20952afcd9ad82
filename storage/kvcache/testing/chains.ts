// Page keys for tests: hash chains built the way an inference engine builds them (key i hashes
// key i-1 with the i-th token block), and the puts that store such a chain.
import { createHash } from 'node:crypto';
import { PAGE_SIZE_MIN_BYTES } from '../constants.js';
import type { PagePut } from '../page-index-types.js';

/** `length` chained keys of the prompt named `prompt`; a shared `prefix` makes chains share a head. */
export function chainKeys(prompt: string, length: number, prefix: readonly Uint8Array[] = []): Uint8Array[] {
  const keys = [...prefix];
  for (let i = 0; i < length; i++) {
    const previous = keys.at(-1) ?? new Uint8Array(0);
    keys.push(new Uint8Array(createHash('sha256').update(previous).update(`${prompt}:${i}`).digest()));
  }
  return keys;
}

/** Puts of keys[from..to) with their parents, each `sizeBytes` long. */
export function chainPuts(
  keys: readonly Uint8Array[],
  options: { from?: number; to?: number; sizeBytes?: number; ttlMs?: number } = {},
): PagePut<number>[] {
  const { from = 0, to = keys.length, sizeBytes = PAGE_SIZE_MIN_BYTES, ttlMs } = options;
  return keys.slice(from, to).map((key, i) => ({
    key,
    ...(from + i === 0 ? {} : { parentKey: keys[from + i - 1]! }),
    sizeBytes,
    location: from + i,
    ...(ttlMs === undefined ? {} : { ttlMs }),
  }));
}
