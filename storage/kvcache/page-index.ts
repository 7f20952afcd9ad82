// The page index of one KV-cache namespace on one storage target: which pages are present, their
// sizes and opaque locations, their prefix tree, recency, leases and TTLs. Values are not stored
// here; the engine keeps the bytes and frees a page's space when onPageDropped reports it gone.
//
// Guarantees:
// - Prefix-closed: every present page's parent is present. A put naming an absent parent is
//   refused (PARENT_MISSING), only leaves are evicted, and expiry and remove take whole subtrees.
// - So presence is monotone along a chain and matchPrefix answers with O(log n) index probes.
// - usedBytes never exceeds capacityBytes; a put evicts synchronously, at most a bounded number of
//   pages and bytes, and otherwise answers REJECTED_FULL with a retry hint.
// - A leased page, and every ancestor of it, stays present and unexpired until its lease ends.
// - Every key of a put gets an explicit status; bad input throws INVALID_ARGUMENT and changes nothing.
import { assert } from '../../common/errors.js';
import {
  EVICTED_BYTES_PER_PUT_MAX,
  EVICTIONS_PER_PUT_MAX,
  FULL_RETRY_AFTER_MS_DEFAULT,
  MATCH_PREFIX_KEYS_MAX,
} from './constants.js';
import { EvictionQueue } from './eviction-queue.js';
import { ExpiryQueue } from './expiry-queue.js';
import { type PageEntry, isExpired, isLeased } from './page-entry.js';
import type { MatchResult, PageIndexOptions, PageLookup, PagePut, PageSummary } from './page-index-types.js';
import { PageIndexStats } from './page-index-stats.js';
import { checkMatchChain } from './match-chain.js';
import { checkKeyBatch, checkLeaseMs, checkPutBatch, pageKeyId } from './request-checks.js';
import { DropReason, PutStatus, type PutResult, RemoveStatus, type RemoveResult } from './statuses.js';

export class PageIndex<L> {
  readonly stats = new PageIndexStats();
  private readonly pages = new Map<string, PageEntry<L>>();
  private readonly evictionQueue = new EvictionQueue<L>();
  private readonly expiryQueue = new ExpiryQueue<L>();
  private usedBytes = 0;
  private lastUsedSeq = 0;

  constructor(private readonly options: PageIndexOptions<L>) {}

  get capacityBytes(): number {
    return this.options.capacityBytes;
  }

  get pageCount(): number {
    return this.pages.size;
  }

  get bytesUsed(): number {
    return this.usedBytes;
  }

  put(puts: readonly PagePut<L>[]): PutResult[] {
    checkPutBatch(puts);
    const nowMs = this.expireDue();
    return puts.map((put) => {
      const result = this.putOne(put, nowMs);
      this.stats.countPut(result.status);
      return result;
    });
  }

  /** Looks the pages up and marks the found ones as just used. */
  get(keys: readonly Uint8Array[]): PageLookup<L>[] {
    checkKeyBatch(keys, 'keys');
    const nowMs = this.expireDue();
    return keys.map((key) => {
      const page = this.probe(key, nowMs);
      this.stats.countGet(page !== undefined);
      if (page === undefined) return { found: false };
      this.touch(page, nowMs);
      return { found: true, sizeBytes: page.sizeBytes, location: page.location };
    });
  }

  /** Whether each page is present; recency is not changed. */
  exists(keys: readonly Uint8Array[]): boolean[] {
    checkKeyBatch(keys, 'keys');
    const nowMs = this.expireDue();
    return keys.map((key) => this.probe(key, nowMs) !== undefined);
  }

  /**
   * Removes each page with its whole subtree (a longer prefix without this page could never be
   * matched). A leased page is refused: the lease promised it would stay.
   */
  remove(keys: readonly Uint8Array[]): RemoveResult[] {
    checkKeyBatch(keys, 'keys');
    const nowMs = this.expireDue();
    return keys.map((key) => {
      const page = this.probe(key, nowMs);
      if (page === undefined) return { status: RemoveStatus.NOT_FOUND };
      if (isLeased(page, nowMs)) {
        return { status: RemoveStatus.REJECTED_LEASED, retryAfterMs: page.leaseUntilMs - nowMs };
      }
      return { status: RemoveStatus.REMOVED, removedPages: this.dropSubtree(page, DropReason.REMOVED, nowMs) };
    });
  }

  /**
   * How many leading keys of a chain are present, by binary search (presence is monotone along a
   * chain). The matched pages are then walked through parent links, not index probes, to check
   * that they form one chain, mark them used and, with leaseMs, lease them and their ancestors.
   */
  matchPrefix(keys: readonly Uint8Array[], options: { leaseMs?: number } = {}): MatchResult {
    checkKeyBatch(keys, 'keys', MATCH_PREFIX_KEYS_MAX);
    checkLeaseMs(options.leaseMs);
    const nowMs = this.expireDue();
    let presentCount = 0;
    let absentFrom = keys.length;
    let last: PageEntry<L> | undefined;
    while (presentCount < absentFrom) {
      const middle = (presentCount + absentFrom) >> 1;
      const page = this.probe(keys[middle]!, nowMs);
      if (page === undefined) absentFrom = middle;
      else {
        presentCount = middle + 1;
        last = page;
      }
    }
    if (last !== undefined) checkMatchChain(last, keys, presentCount);
    this.stats.countMatch(presentCount, keys.length - presentCount);
    const leaseUntilMs = options.leaseMs && last !== undefined ? nowMs + options.leaseMs : undefined;
    let page = last;
    for (let i = 0; i < presentCount && page !== undefined; i++, page = page.parent) {
      this.lease(page, leaseUntilMs);
      this.touch(page, nowMs);
    }
    // Ancestors above keys[0] (a chain matched from its middle) are leased too (see page-entry.ts).
    for (; leaseUntilMs !== undefined && page !== undefined; page = page.parent) this.lease(page, leaseUntilMs);
    return leaseUntilMs === undefined ? { matchedCount: presentCount } : { matchedCount: presentCount, leaseUntilMs };
  }

  /**
   * Evicts unleased leaves, least recently used first (each eviction may make its parent a leaf),
   * until at least `bytesWanted` bytes left or nothing unleased is evictable; for operators.
   */
  evictUnleased(bytesWanted: number): { readonly pages: number; readonly bytes: number } {
    assert(bytesWanted >= 0, 'bytesWanted is not negative');
    const nowMs = this.expireDue();
    let pages = 0;
    let bytes = 0;
    while (bytes < bytesWanted) {
      const victim = this.evictionQueue.popVictim(nowMs);
      if (victim === undefined) break;
      pages++;
      bytes += victim.sizeBytes;
      this.dropLeaf(victim, DropReason.OPERATOR, nowMs);
    }
    return { pages, bytes };
  }

  /** The pages a lease holds now, with their lease ends (O(n): for operators). */
  leasedPages(): Array<{ readonly key: Uint8Array; readonly leaseUntilMs: number }> {
    const nowMs = this.expireDue();
    const leased: Array<{ key: Uint8Array; leaseUntilMs: number }> = [];
    for (const page of this.pages.values()) {
      if (isLeased(page, nowMs)) leased.push({ key: page.key, leaseUntilMs: page.leaseUntilMs });
    }
    return leased;
  }

  /** Every present page, parents before children (O(n): for operators and checks, not hot paths). */
  listPages(): PageSummary<L>[] {
    this.expireDue();
    const summaries: PageSummary<L>[] = [];
    const stack = [...this.pages.values()].filter((page) => page.parent === undefined);
    for (let page = stack.pop(); page !== undefined; page = stack.pop()) {
      summaries.push({
        key: page.key,
        ...(page.parent === undefined ? {} : { parentKey: page.parent.key }),
        sizeBytes: page.sizeBytes,
        location: page.location,
        childCount: page.children.size,
        leaseUntilMs: page.leaseUntilMs,
        ttlExpiresAtMs: page.ttlExpiresAtMs,
      });
      for (const child of page.children) stack.push(child);
    }
    assert(summaries.length === this.pages.size, 'every present page is reachable from a root');
    return summaries;
  }

  /**
   * When the page's TTL ends (Infinity: none; undefined: absent) — after clamping to its parent's,
   * so the object store writes the effective expiry into the page's chunk header.
   */
  ttlExpiresAtMs(key: Uint8Array): number | undefined {
    return this.pages.get(pageKeyId(key))?.ttlExpiresAtMs;
  }

  /** Removes every page whose TTL has passed and no lease holds (each op does this first). */
  expireDue(): number {
    const nowMs = this.options.clock.nowMs();
    for (const page of this.expiryQueue.takeExpired(nowMs)) {
      if (page.present) this.dropSubtree(page, DropReason.EXPIRED, nowMs);
    }
    return nowMs;
  }

  private putOne(put: PagePut<L>, nowMs: number): PutResult {
    const id = pageKeyId(put.key);
    const existing = this.pages.get(id);
    const parent = put.parentKey === undefined ? undefined : this.probe(put.parentKey, nowMs);
    if (existing !== undefined) {
      const sameParent = put.parentKey === undefined ? existing.parent === undefined : existing.parent === parent;
      if (!sameParent || existing.sizeBytes !== put.sizeBytes) return { status: PutStatus.REJECTED_MISMATCH };
      this.touch(existing, nowMs);
      return { status: PutStatus.ALREADY_PRESENT };
    }
    if (put.sizeBytes > this.options.capacityBytes) return { status: PutStatus.REJECTED_TOO_LARGE };
    if (put.parentKey !== undefined && parent === undefined) return { status: PutStatus.PARENT_MISSING };
    if (parent !== undefined && parent.ttlExpiresAtMs <= nowMs) return { status: PutStatus.PARENT_EXPIRED };
    if (parent !== undefined) this.touch(parent, nowMs);
    const retryAfterMs = this.makeRoom(put.sizeBytes, parent, nowMs);
    if (retryAfterMs !== undefined) return { status: PutStatus.REJECTED_FULL, retryAfterMs };
    this.insert(id, put, parent, nowMs);
    return { status: PutStatus.STORED };
  }

  /** Evicts LRU leaves (never `keep`) until `sizeBytes` fit; returns a retry hint if they do not. */
  private makeRoom(sizeBytes: number, keep: PageEntry<L> | undefined, nowMs: number): number | undefined {
    const evictionsMax = this.options.evictionsPerPutMax ?? EVICTIONS_PER_PUT_MAX;
    const evictedBytesMax = this.options.evictedBytesPerPutMax ?? EVICTED_BYTES_PER_PUT_MAX;
    let evictions = 0;
    let evictedBytes = 0;
    let skipped: PageEntry<L> | undefined;
    while (this.usedBytes + sizeBytes > this.options.capacityBytes) {
      if (evictions >= evictionsMax || evictedBytes >= evictedBytesMax) break;
      const victim = this.evictionQueue.popVictim(nowMs);
      if (victim === undefined) break;
      if (victim === keep) {
        skipped = victim;
        continue;
      }
      evictions++;
      evictedBytes += victim.sizeBytes;
      this.dropLeaf(victim, DropReason.CAPACITY, nowMs);
    }
    if (skipped !== undefined) this.evictionQueue.enqueue(skipped, nowMs);
    if (this.usedBytes + sizeBytes <= this.options.capacityBytes) return undefined;
    if (evictions >= evictionsMax || evictedBytes >= evictedBytesMax) return 0;
    const leaseEndMs = this.evictionQueue.earliestLeaseEndMs();
    return leaseEndMs === undefined ? FULL_RETRY_AFTER_MS_DEFAULT : Math.max(1, leaseEndMs - nowMs);
  }

  private insert(id: string, put: PagePut<L>, parent: PageEntry<L> | undefined, nowMs: number): void {
    const ownExpiresAtMs = put.ttlMs === undefined ? Number.POSITIVE_INFINITY : nowMs + put.ttlMs;
    const page: PageEntry<L> = {
      id,
      key: Uint8Array.from(put.key),
      parent,
      sizeBytes: put.sizeBytes,
      location: put.location,
      children: new Set(),
      lastUsedSeq: ++this.lastUsedSeq,
      leaseUntilMs: 0,
      // A child never outlives its parent's TTL (see page-entry.ts).
      ttlExpiresAtMs: Math.min(ownExpiresAtMs, parent?.ttlExpiresAtMs ?? Number.POSITIVE_INFINITY),
      queueToken: 0,
      present: true,
    };
    this.pages.set(id, page);
    this.usedBytes += page.sizeBytes;
    assert(this.usedBytes <= this.options.capacityBytes, 'a put was admitted beyond the capacity');
    if (parent !== undefined) {
      parent.children.add(page);
      this.evictionQueue.forget(parent);
    }
    this.evictionQueue.enqueue(page, nowMs);
    this.expiryQueue.add(page);
  }

  /** Drops the page and its descendants, children first; returns how many pages left. */
  private dropSubtree(top: PageEntry<L>, reason: DropReason, nowMs: number): number {
    const preorder: PageEntry<L>[] = [];
    const stack = [top];
    for (let page = stack.pop(); page !== undefined; page = stack.pop()) {
      preorder.push(page);
      for (const child of page.children) stack.push(child);
    }
    for (let i = preorder.length - 1; i >= 0; i--) this.dropLeaf(preorder[i]!, reason, nowMs);
    return preorder.length;
  }

  private dropLeaf(page: PageEntry<L>, reason: DropReason, nowMs: number): void {
    assert(page.children.size === 0, 'only a leaf leaves the index');
    assert(!isLeased(page, nowMs), 'a leased page never leaves the index');
    this.pages.delete(page.id);
    page.present = false;
    this.evictionQueue.forget(page);
    this.usedBytes -= page.sizeBytes;
    const { parent } = page;
    if (parent !== undefined) {
      parent.children.delete(page);
      this.evictionQueue.enqueue(parent, nowMs);
    }
    this.stats.countDrop(reason);
    this.options.onPageDropped?.({ key: page.key, sizeBytes: page.sizeBytes, location: page.location, reason });
  }

  /** One index probe: the present, unexpired page of this key. */
  private probe(key: Uint8Array, nowMs: number): PageEntry<L> | undefined {
    this.stats.countProbe();
    const page = this.pages.get(pageKeyId(key));
    if (page === undefined || isExpired(page, nowMs)) return undefined;
    return page;
  }

  private lease(page: PageEntry<L>, leaseUntilMs: number | undefined): void {
    if (leaseUntilMs !== undefined) page.leaseUntilMs = Math.max(page.leaseUntilMs, leaseUntilMs);
  }

  private touch(page: PageEntry<L>, nowMs: number): void {
    page.lastUsedSeq = ++this.lastUsedSeq;
    if (page.children.size === 0) this.evictionQueue.enqueue(page, nowMs);
  }
}
