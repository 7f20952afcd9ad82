// The order in which pages may be evicted: present leaves, least recently used first, unleased.
//
// Leaves wait in an LRU heap keyed by recency; a leaf found leased when it reaches the top moves to
// a second heap keyed by its lease end and comes back when the lease ends. Entries are invalidated
// lazily (a page's queueToken changes when it gains a child, is touched or leaves the index) and
// the heaps are compacted when stale entries outnumber live ones, so memory stays O(pages).
import { MinHeap } from './min-heap.js';
import { type PageEntry, isLeased } from './page-entry.js';

interface QueuedPage<L> {
  readonly page: PageEntry<L>;
  readonly token: number;
}

const COMPACT_SLACK_ENTRIES = 64;

export class EvictionQueue<L> {
  private readonly byRecency = new MinHeap<QueuedPage<L>>();
  private readonly byLeaseEnd = new MinHeap<QueuedPage<L>>();
  private sizeAfterCompaction = 0;

  /** Heap entries, stale ones included (bounded by compaction). */
  get queuedEntries(): number {
    return this.byRecency.size + this.byLeaseEnd.size;
  }

  /** Queues a present leaf (replacing any earlier entry of it). */
  enqueue(page: PageEntry<L>, nowMs: number): void {
    if (!page.present || page.children.size > 0) return;
    const queued = { page, token: ++page.queueToken };
    if (isLeased(page, nowMs)) this.byLeaseEnd.push(page.leaseUntilMs, queued);
    else this.byRecency.push(page.lastUsedSeq, queued);
    this.compactIfStale();
  }

  /** Drops the page's queued entries (it gained a child or left the index). */
  forget(page: PageEntry<L>): void {
    page.queueToken++;
  }

  /** Removes and returns the least recently used unleased leaf, or undefined when there is none. */
  popVictim(nowMs: number): PageEntry<L> | undefined {
    this.returnEndedLeases(nowMs);
    for (;;) {
      const queued = this.byRecency.pop();
      if (queued === undefined) return undefined;
      if (!this.isLive(queued)) continue;
      if (isLeased(queued.page, nowMs)) {
        this.byLeaseEnd.push(queued.page.leaseUntilMs, queued);
        continue;
      }
      queued.page.queueToken++;
      return queued.page;
    }
  }

  /** The earliest end of a lease holding a leaf back, if any (for retry hints). */
  earliestLeaseEndMs(): number | undefined {
    return this.byLeaseEnd.peekPriority();
  }

  private returnEndedLeases(nowMs: number): void {
    for (;;) {
      const endMs = this.byLeaseEnd.peekPriority();
      if (endMs === undefined || endMs > nowMs) return;
      const queued = this.byLeaseEnd.pop()!;
      if (this.isLive(queued)) this.enqueue(queued.page, nowMs);
    }
  }

  private isLive(queued: QueuedPage<L>): boolean {
    const { page } = queued;
    return page.present && page.children.size === 0 && queued.token === page.queueToken;
  }

  private compactIfStale(): void {
    const size = this.byRecency.size + this.byLeaseEnd.size;
    if (size <= 2 * this.sizeAfterCompaction + COMPACT_SLACK_ENTRIES) return;
    const live = (queued: QueuedPage<L>) => this.isLive(queued);
    this.byRecency.retain(live);
    this.byLeaseEnd.retain(live);
    this.sizeAfterCompaction = this.byRecency.size + this.byLeaseEnd.size;
  }
}
