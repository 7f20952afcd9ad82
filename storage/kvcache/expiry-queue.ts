// Pages with a TTL, earliest expiry first. A page whose TTL passed while a lease holds it is
// queued again at its lease end; entries of pages that already left the index are skipped and
// compacted away, so memory stays O(pages with a TTL).
import { MinHeap } from './min-heap.js';
import { type PageEntry, isLeased } from './page-entry.js';

const COMPACT_SLACK_ENTRIES = 64;

export class ExpiryQueue<L> {
  private readonly byExpiry = new MinHeap<PageEntry<L>>();
  private sizeAfterCompaction = 0;

  add(page: PageEntry<L>): void {
    if (page.ttlExpiresAtMs === Number.POSITIVE_INFINITY) return;
    this.byExpiry.push(page.ttlExpiresAtMs, page);
    if (this.byExpiry.size > 2 * this.sizeAfterCompaction + COMPACT_SLACK_ENTRIES) {
      this.byExpiry.retain((p) => p.present);
      this.sizeAfterCompaction = this.byExpiry.size;
    }
  }

  /** Removes and returns the present pages that have expired by `nowMs` and no lease holds. */
  takeExpired(nowMs: number): PageEntry<L>[] {
    const expired: PageEntry<L>[] = [];
    const held: PageEntry<L>[] = [];
    for (;;) {
      const dueMs = this.byExpiry.peekPriority();
      if (dueMs === undefined || dueMs > nowMs) break;
      const page = this.byExpiry.pop()!;
      if (!page.present) continue;
      if (isLeased(page, nowMs)) held.push(page);
      else expired.push(page);
    }
    for (const page of held) this.byExpiry.push(page.leaseUntilMs, page);
    return expired;
  }
}
