// A brute-force model of a page index for property tests: the set of present pages kept from what
// the index reports (STORED statuses in, onPageDropped out), with leases and TTLs computed the
// obvious way (walking ancestors), and the invariants the index promises checked against it.
import type { PageIndex } from '../page-index.js';
import type { DroppedPage, PagePut, PageSummary } from '../page-index-types.js';
import { pageKeyId } from '../request-checks.js';
import { DropReason, PutStatus, type PutResult } from '../statuses.js';

/** A plain check: expect() is too slow for the thousands of checks per seed. */
function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

interface ModelPage {
  readonly parentId: string | undefined;
  readonly sizeBytes: number;
  /** Own TTL clamped by the parent's, as a chain never outlives its prefix. */
  readonly ttlExpiresAtMs: number;
  leaseUntilMs: number;
}

export type ModelOp = 'put' | 'remove' | 'evict' | 'read';

export class PageModel {
  readonly pages = new Map<string, ModelPage>();
  private op: ModelOp = 'read';
  private batchKeyIds = new Set<string>();
  private droppedInBatch = new Set<string>();
  private storedThenDropped = new Set<string>();

  constructor(
    private readonly capacityBytes: number,
    private readonly nowMs: () => number,
  ) {}

  /** Call before each index operation. */
  begin(op: ModelOp, keys: readonly Uint8Array[] = []): void {
    this.op = op;
    this.batchKeyIds = new Set(keys.map(pageKeyId));
    this.droppedInBatch = new Set();
    this.storedThenDropped = new Set();
  }

  /** The index's onPageDropped: checks that the page could legally go, then forgets it. */
  onDropped(dropped: DroppedPage<unknown>): void {
    const id = pageKeyId(dropped.key);
    const now = this.nowMs();
    const page = this.pages.get(id);
    if (page === undefined) {
      this.storedThenDropped.add(id);
      // Stored and dropped within the same put batch (its STORED status is read afterwards).
      check(this.op === 'put' && this.batchKeyIds.has(id), `dropped page ${id} was never stored`);
      return;
    }
    check(page.leaseUntilMs <= now, `page ${id} dropped (${dropped.reason}) while leased`);
    for (const other of this.pages.values()) {
      check(other.parentId !== id, `page ${id} dropped (${dropped.reason}) before its child`);
    }
    const expectedOp = {
      [DropReason.CAPACITY]: 'put',
      [DropReason.REMOVED]: 'remove',
      [DropReason.OPERATOR]: 'evict',
      [DropReason.EXPIRED]: this.op,
    };
    check(expectedOp[dropped.reason] === this.op, `page ${id} dropped (${dropped.reason}) during a ${this.op}`);
    if (dropped.reason === DropReason.EXPIRED) check(page.ttlExpiresAtMs <= now, `page ${id} expired early`);
    this.pages.delete(id);
    this.droppedInBatch.add(id);
  }

  /** Checks each put's status against the model as it was before the batch, then applies it. */
  applyPuts(puts: readonly PagePut<unknown>[], results: readonly PutResult[], before: Set<string>): void {
    check(results.length === puts.length, `${results.length} statuses for ${puts.length} puts`);
    const now = this.nowMs();
    const storedEarlier = new Set<string>();
    puts.forEach((put, i) => {
      const id = pageKeyId(put.key);
      const parentId = put.parentKey === undefined ? undefined : pageKeyId(put.parentKey);
      const status = results[i]!.status;
      check(Object.values(PutStatus).includes(status), `put ${i} has no status`);
      const wasPresent = (x: string) => before.has(x) || storedEarlier.has(x);
      const parentWasPresent = parentId === undefined || wasPresent(parentId);
      if (status === PutStatus.STORED) {
        const dropped = this.droppedInBatch.has(id) || this.storedThenDropped.has(id);
        check(!(wasPresent(id) && !dropped), `put ${i} STORED over a present page`);
        check(parentWasPresent, `put ${i} STORED under an absent parent`);
        storedEarlier.add(id);
        if (!this.storedThenDropped.has(id)) this.addStored(id, parentId, put, now);
      } else if (status === PutStatus.PARENT_MISSING) {
        const parentDropped = this.droppedInBatch.has(parentId!) || this.storedThenDropped.has(parentId!);
        check(!parentWasPresent || parentDropped, `put ${i}: parent was present`);
      } else if (status === PutStatus.ALREADY_PRESENT) {
        check(wasPresent(id), `put ${i} ALREADY_PRESENT for an absent page`);
      } else if (status === PutStatus.REJECTED_TOO_LARGE) {
        check(put.sizeBytes > this.capacityBytes, `put ${i} REJECTED_TOO_LARGE but fits the capacity`);
      } else if (status === PutStatus.REJECTED_FULL) {
        check(results[i]!.retryAfterMs! >= 0, `put ${i} REJECTED_FULL without a retry hint`);
      } else if (status === PutStatus.PARENT_EXPIRED) {
        check(this.pages.get(parentId!)!.ttlExpiresAtMs <= now, `put ${i} PARENT_EXPIRED, parent unexpired`);
      }
    });
  }

  /** A matchPrefix lease: the matched pages and all their ancestors are held until `untilMs`. */
  applyLease(keys: readonly Uint8Array[], matchedCount: number, untilMs: number): void {
    if (matchedCount === 0) return;
    for (let id: string | undefined = pageKeyId(keys[matchedCount - 1]!); id !== undefined; ) {
      const page: ModelPage = this.pages.get(id)!;
      page.leaseUntilMs = Math.max(page.leaseUntilMs, untilMs);
      id = page.parentId;
    }
  }

  /** The brute-force matchPrefix: the leading keys that are present. */
  longestPresentPrefix(keys: readonly Uint8Array[]): number {
    let count = 0;
    while (count < keys.length && this.pages.has(pageKeyId(keys[count]!))) count++;
    return count;
  }

  /** The index holds exactly the model's pages, prefix-closed, within capacity, none expired. */
  checkIndex<L>(index: PageIndex<L>): void {
    const listed: PageSummary<L>[] = index.listPages();
    const now = this.nowMs();
    const listedIds = new Set(listed.map((page) => pageKeyId(page.key)));
    check(listed.length === this.pages.size, `index holds ${listed.length} pages, model ${this.pages.size}`);
    for (const id of listedIds) check(this.pages.has(id), `index holds ${id}, never stored or dropped`);
    let usedBytes = 0;
    for (const [id, page] of this.pages) {
      usedBytes += page.sizeBytes;
      if (page.parentId !== undefined) check(listedIds.has(page.parentId), `parent of ${id} absent`);
      check(page.ttlExpiresAtMs > now || page.leaseUntilMs > now, `page ${id} expired but present`);
    }
    check(index.bytesUsed === usedBytes, `index counts ${index.bytesUsed} bytes, its pages hold ${usedBytes}`);
    check(index.bytesUsed <= this.capacityBytes, `${index.bytesUsed} bytes used > capacity ${this.capacityBytes}`);
  }

  private addStored(id: string, parentId: string | undefined, put: PagePut<unknown>, now: number): void {
    const own = put.ttlMs === undefined ? Number.POSITIVE_INFINITY : now + put.ttlMs;
    const parentTtl = parentId === undefined ? Number.POSITIVE_INFINITY : this.pages.get(parentId)!.ttlExpiresAtMs;
    this.pages.set(id, {
      parentId,
      sizeBytes: put.sizeBytes,
      ttlExpiresAtMs: Math.min(own, parentTtl),
      leaseUntilMs: 0,
    });
  }
}
