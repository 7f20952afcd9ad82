// matchPrefix is defined on one chain (keys[i] is the parent of keys[i+1]); binary search is only
// right for a chain. The matched run is checked by walking parent links from its last page, which
// costs pointer steps, not index probes. Keys after the run cannot be checked (they are absent).
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { PageEntry } from './page-entry.js';

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** Throws INVALID_ARGUMENT unless pages keys[0..matchedCount-1] are ancestors-to-`last` in order. */
export function checkMatchChain(last: PageEntry<unknown>, keys: readonly Uint8Array[], matchedCount: number): void {
  let page: PageEntry<unknown> | undefined = last;
  for (let i = matchedCount - 1; i > 0; i--) {
    page = page.parent;
    if (page === undefined || !sameBytes(page.key, keys[i - 1]!)) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `keys[${i - 1}] is not the parent of keys[${i}]: matchPrefix takes one chain of page keys`,
      );
    }
  }
}
