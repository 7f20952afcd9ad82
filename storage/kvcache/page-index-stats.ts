// Counters of one page index, for metrics and tests: lookups by outcome, index probes, puts by
// status and pages dropped by reason. Plain numbers; the storage node exports them.
import { DropReason, PutStatus } from './statuses.js';

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

export class PageIndexStats {
  getHits = 0;
  getMisses = 0;
  matchCalls = 0;
  /** Keys matchPrefix found present (the leading run of each call). */
  matchHitKeys = 0;
  /** Keys after the matched run (the part of each prompt to recompute). */
  matchMissKeys = 0;
  /** Lookups of a key in the index (what matchPrefix keeps at O(log n) per call). */
  indexProbes = 0;
  readonly putsByStatus = zeroes(Object.values(PutStatus));
  readonly dropsByReason = zeroes(Object.values(DropReason));

  countGet(hit: boolean): void {
    if (hit) this.getHits++;
    else this.getMisses++;
  }

  countMatch(hitKeys: number, missKeys: number): void {
    this.matchCalls++;
    this.matchHitKeys += hitKeys;
    this.matchMissKeys += missKeys;
  }

  countProbe(): void {
    this.indexProbes++;
  }

  countPut(status: PutStatus): void {
    this.putsByStatus[status]++;
  }

  countDrop(reason: DropReason): void {
    this.dropsByReason[reason]++;
  }
}
