// The page index written the obvious way, for the property test to compare against: every page in
// one map, and every decision made by scanning all pages (the LRU victim is the least recently
// used unleased leaf, found by looking at each page; expiry walks every page; a subtree is found
// by asking every page for its parent). Slow and plainly right; the real index must answer the
// same statuses and drop the same pages.
import type { Clock } from '../../../common/clock.js';
import { EVICTED_BYTES_PER_PUT_MAX, FULL_RETRY_AFTER_MS_DEFAULT } from '../constants.js';
import type { MatchResult, PagePut } from '../page-index-types.js';
import { pageKeyId } from '../request-checks.js';
import { DropReason, PutStatus, type PutResult, RemoveStatus, type RemoveResult } from '../statuses.js';

interface NaivePage {
  readonly parentId: string | undefined;
  readonly sizeBytes: number;
  readonly ttlExpiresAtMs: number;
  lastUsed: number;
  leaseUntilMs: number;
}

export class NaivePageIndex {
  readonly pages = new Map<string, NaivePage>();
  /** `${reason}:${id}` of every page dropped since the last takeDrops(). */
  private drops: string[] = [];
  private clockSeq = 0;

  constructor(
    private readonly clock: Clock,
    private readonly capacityBytes: number,
    private readonly evictionsPerPutMax: number,
  ) {}

  takeDrops(): string[] {
    const drops = this.drops;
    this.drops = [];
    return drops.sort();
  }

  put(puts: readonly PagePut<unknown>[]): PutResult[] {
    const now = this.expire();
    return puts.map((put) => this.putOne(put, now));
  }

  found(keys: readonly Uint8Array[], touch: boolean): boolean[] {
    this.expire();
    return keys.map((key) => {
      const page = this.pages.get(pageKeyId(key));
      if (page !== undefined && touch) page.lastUsed = ++this.clockSeq;
      return page !== undefined;
    });
  }

  remove(keys: readonly Uint8Array[]): RemoveResult[] {
    const now = this.expire();
    return keys.map((key) => {
      const id = pageKeyId(key);
      const page = this.pages.get(id);
      if (page === undefined) return { status: RemoveStatus.NOT_FOUND };
      if (page.leaseUntilMs > now)
        return { status: RemoveStatus.REJECTED_LEASED, retryAfterMs: page.leaseUntilMs - now };
      const subtree = [...this.pages.keys()].filter((other) => this.isAncestorOrSelf(id, other));
      for (const other of subtree) this.drop(other, DropReason.REMOVED);
      return { status: RemoveStatus.REMOVED, removedPages: subtree.length };
    });
  }

  /** An operator's eviction: the least recently used unleased leaf, again and again, until enough bytes left. */
  evict(bytesWanted: number): { pages: number; bytes: number } {
    const now = this.expire();
    let pages = 0;
    let bytes = 0;
    while (bytes < bytesWanted) {
      const victim = this.leastRecentlyUsedLeaf(now, undefined);
      if (victim === undefined) break;
      pages++;
      bytes += this.pages.get(victim)!.sizeBytes;
      this.drop(victim, DropReason.OPERATOR);
    }
    return { pages, bytes };
  }

  matchPrefix(keys: readonly Uint8Array[], leaseMs: number | undefined): MatchResult {
    const now = this.expire();
    let matched = 0;
    while (matched < keys.length && this.pages.has(pageKeyId(keys[matched]!))) matched++;
    if (matched === 0) return { matchedCount: 0 };
    const leaseUntilMs = leaseMs ? now + leaseMs : undefined;
    let id: string | undefined = pageKeyId(keys[matched - 1]!);
    for (let depth = 0; id !== undefined; depth++) {
      const page: NaivePage = this.pages.get(id)!;
      if (leaseUntilMs !== undefined) page.leaseUntilMs = Math.max(page.leaseUntilMs, leaseUntilMs);
      if (depth < matched) page.lastUsed = ++this.clockSeq;
      id = page.parentId;
    }
    return leaseUntilMs === undefined ? { matchedCount: matched } : { matchedCount: matched, leaseUntilMs };
  }

  private putOne(put: PagePut<unknown>, now: number): PutResult {
    const id = pageKeyId(put.key);
    const parentId = put.parentKey === undefined ? undefined : pageKeyId(put.parentKey);
    const existing = this.pages.get(id);
    if (existing !== undefined) {
      if (existing.parentId !== parentId || existing.sizeBytes !== put.sizeBytes) {
        return { status: PutStatus.REJECTED_MISMATCH };
      }
      existing.lastUsed = ++this.clockSeq;
      return { status: PutStatus.ALREADY_PRESENT };
    }
    if (put.sizeBytes > this.capacityBytes) return { status: PutStatus.REJECTED_TOO_LARGE };
    const parent = parentId === undefined ? undefined : this.pages.get(parentId);
    if (parentId !== undefined && parent === undefined) return { status: PutStatus.PARENT_MISSING };
    if (parent !== undefined && parent.ttlExpiresAtMs <= now) return { status: PutStatus.PARENT_EXPIRED };
    if (parent !== undefined) parent.lastUsed = ++this.clockSeq;
    let evictions = 0;
    let evictedBytes = 0;
    while (this.usedBytes() + put.sizeBytes > this.capacityBytes) {
      if (evictions >= this.evictionsPerPutMax || evictedBytes >= EVICTED_BYTES_PER_PUT_MAX) {
        return { status: PutStatus.REJECTED_FULL, retryAfterMs: 0 };
      }
      const victim = this.leastRecentlyUsedLeaf(now, parentId);
      if (victim === undefined) return { status: PutStatus.REJECTED_FULL, retryAfterMs: this.retryAfterMs(now) };
      evictions++;
      evictedBytes += this.pages.get(victim)!.sizeBytes;
      this.drop(victim, DropReason.CAPACITY);
    }
    const ownTtl = put.ttlMs === undefined ? Number.POSITIVE_INFINITY : now + put.ttlMs;
    this.pages.set(id, {
      parentId,
      sizeBytes: put.sizeBytes,
      ttlExpiresAtMs: Math.min(ownTtl, parent?.ttlExpiresAtMs ?? Number.POSITIVE_INFINITY),
      lastUsed: ++this.clockSeq,
      leaseUntilMs: 0,
    });
    return { status: PutStatus.STORED };
  }

  private leastRecentlyUsedLeaf(now: number, keepId: string | undefined): string | undefined {
    let best: string | undefined;
    for (const [id, page] of this.pages) {
      if (id === keepId || page.leaseUntilMs > now || this.hasChild(id)) continue;
      if (best === undefined || page.lastUsed < this.pages.get(best)!.lastUsed) best = id;
    }
    return best;
  }

  /** The earliest end of a lease on a leaf, or the default hint when no lease holds a leaf. */
  private retryAfterMs(now: number): number {
    const ends = [...this.pages]
      .filter(([id, page]) => page.leaseUntilMs > now && !this.hasChild(id))
      .map(([, page]) => page.leaseUntilMs - now);
    return ends.length === 0 ? FULL_RETRY_AFTER_MS_DEFAULT : Math.min(...ends);
  }

  private expire(): number {
    const now = this.clock.nowMs();
    const isExpired = (page: NaivePage) => page.ttlExpiresAtMs <= now && page.leaseUntilMs <= now;
    for (const [id, page] of [...this.pages]) if (isExpired(page)) this.drop(id, DropReason.EXPIRED);
    return now;
  }

  private hasChild(id: string): boolean {
    for (const page of this.pages.values()) if (page.parentId === id) return true;
    return false;
  }

  private isAncestorOrSelf(ancestorId: string, id: string | undefined): boolean {
    for (let at = id; at !== undefined; at = this.pages.get(at)?.parentId) if (at === ancestorId) return true;
    return false;
  }

  private usedBytes(): number {
    let sum = 0;
    for (const page of this.pages.values()) sum += page.sizeBytes;
    return sum;
  }

  private drop(id: string, reason: DropReason): void {
    this.pages.delete(id);
    this.drops.push(`${reason}:${id}`);
  }
}
