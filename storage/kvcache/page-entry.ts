// One page in the index: its place in the prefix tree, its size and opaque location, its recency,
// lease and TTL.
//
// Two monotonicity rules keep expiry prefix-closed without walking subtrees: a child's TTL is
// clamped to its parent's (ttlExpiresAtMs never grows down a chain), and a lease is applied to a
// page and all its ancestors (leaseUntilMs never grows down a chain). So when a page expires, its
// whole subtree has expired too, and an unleased page has no leased descendant.

export interface PageEntry<L> {
  /** Hex of the key: the index's map key. */
  readonly id: string;
  readonly key: Uint8Array;
  /** The previous page of the chain, undefined for a root (a prompt's first page). */
  readonly parent: PageEntry<L> | undefined;
  readonly sizeBytes: number;
  /** Where the engine keeps the bytes; the index never looks inside. */
  readonly location: L;
  /** Present children; a page with none is a leaf and may be evicted. */
  readonly children: Set<PageEntry<L>>;
  /** Larger is more recent (a counter, not a clock: ties are impossible). */
  lastUsedSeq: number;
  /** Pinned until this time (0: never leased). */
  leaseUntilMs: number;
  /** Infinity when the page has no TTL. */
  readonly ttlExpiresAtMs: number;
  /** Bumped to invalidate the page's queued eviction entries (lazy deletion). */
  queueToken: number;
  /** False once the page left the index. */
  present: boolean;
}

export function isLeased(page: PageEntry<unknown>, nowMs: number): boolean {
  return page.leaseUntilMs > nowMs;
}

/** Past its TTL and not held by a lease. */
export function isExpired(page: PageEntry<unknown>, nowMs: number): boolean {
  return page.ttlExpiresAtMs <= nowMs && !isLeased(page, nowMs);
}
