// An ordered map from latin1-string keys (see bytes.ts) to values: a hash map for point lookups
// plus the keys in sorted leaves of at most SORTED_MAP_LEAF_MAX_KEYS, so insert and delete cost a
// binary search and a short splice, and range scans walk the leaves in order.
//
// Guarantees: iteration is in ascending string (= bytewise) order; a cursor is valid until the
// next mutation (callers never mutate while scanning).
import { SORTED_MAP_LEAF_MAX_KEYS } from './constants.js';

/** Index of the first element of `keys` that is >= key (keys.length if none). */
function lowerBound(keys: readonly string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keys[mid]! < key) low = mid + 1;
    else high = mid;
  }
  return low;
}

export class SortedMap<V> {
  private readonly values = new Map<string, V>();
  /** Non-empty sorted leaves; every key of leaves[i] is below every key of leaves[i + 1]. */
  private leaves: string[][] = [];
  private readonly leafMaxKeys: number;

  constructor(leafMaxKeys = SORTED_MAP_LEAF_MAX_KEYS) {
    this.leafMaxKeys = Math.max(2, leafMaxKeys);
  }

  get size(): number {
    return this.values.size;
  }

  get(key: string): V | undefined {
    return this.values.get(key);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  set(key: string, value: V): void {
    if (this.values.has(key)) {
      this.values.set(key, value);
      return;
    }
    this.values.set(key, value);
    if (this.leaves.length === 0) {
      this.leaves.push([key]);
      return;
    }
    const leafIndex = this.leafFor(key);
    const leaf = this.leaves[leafIndex]!;
    leaf.splice(lowerBound(leaf, key), 0, key);
    if (leaf.length > this.leafMaxKeys) {
      const half = leaf.length >>> 1;
      this.leaves.splice(leafIndex + 1, 0, leaf.splice(half));
    }
  }

  delete(key: string): boolean {
    if (!this.values.delete(key)) return false;
    const leafIndex = this.leafFor(key);
    const leaf = this.leaves[leafIndex]!;
    const index = lowerBound(leaf, key);
    leaf.splice(index, 1);
    if (leaf.length === 0) this.leaves.splice(leafIndex, 1);
    return true;
  }

  clear(): void {
    this.values.clear();
    this.leaves = [];
  }

  /**
   * Visits keys in [start, end) — ascending, or descending when `reverse` — until `visit` returns
   * false. An empty `start` means from the first key; `end` undefined means to the last key.
   */
  scan(
    start: string,
    end: string | undefined,
    reverse: boolean,
    visit: (key: string, value: V) => boolean | undefined,
  ): void {
    const cursor = this.cursor(start, end, reverse);
    for (let key = cursor.next(); key !== undefined; key = cursor.next()) {
      if (visit(key, this.values.get(key)!) === false) return;
    }
  }

  /** A pull cursor over keys in [start, end); `next()` returns undefined at the end. */
  cursor(start: string, end: string | undefined, reverse: boolean): { next(): string | undefined } {
    const leaves = this.leaves;
    if (!reverse) {
      let leafIndex = leaves.length === 0 ? 0 : this.leafFor(start);
      let index = leafIndex < leaves.length ? lowerBound(leaves[leafIndex]!, start) : 0;
      return {
        next: () => {
          while (leafIndex < leaves.length && index >= leaves[leafIndex]!.length) {
            leafIndex++;
            index = 0;
          }
          if (leafIndex >= leaves.length) return undefined;
          const key = leaves[leafIndex]![index]!;
          if (end !== undefined && key >= end) {
            leafIndex = leaves.length;
            return undefined;
          }
          index++;
          return key;
        },
      };
    }
    // Descending: start just below `end` (or at the last key).
    let leafIndex: number;
    let index: number;
    if (leaves.length === 0) {
      leafIndex = -1;
      index = -1;
    } else if (end === undefined) {
      leafIndex = leaves.length - 1;
      index = leaves[leafIndex]!.length - 1;
    } else {
      leafIndex = this.leafFor(end);
      index = lowerBound(leaves[leafIndex]!, end) - 1;
    }
    return {
      next: () => {
        while (leafIndex >= 0 && index < 0) {
          leafIndex--;
          if (leafIndex >= 0) index = leaves[leafIndex]!.length - 1;
        }
        if (leafIndex < 0) return undefined;
        const key = leaves[leafIndex]![index]!;
        if (key < start) {
          leafIndex = -1;
          return undefined;
        }
        index--;
        return key;
      },
    };
  }

  /** Index of the leaf that holds (or would hold) `key`: the last leaf whose first key <= key. */
  private leafFor(key: string): number {
    const leaves = this.leaves;
    let low = 0;
    let high = leaves.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (leaves[mid]![0]! <= key) low = mid;
      else high = mid - 1;
    }
    return low;
  }
}
