// Per-key outcomes of page-index operations. Every key of a batch gets exactly one of these: the
// index never drops a put silently, and a rejection says why and, where waiting helps, when to retry.

export enum PutStatus {
  /** The page is now present. */
  STORED = 'STORED',
  /** The same key with the same parent and size was already present (not an error; LRU touched). */
  ALREADY_PRESENT = 'ALREADY_PRESENT',
  /** The named parent is not present, so storing the page would break prefix-closure. */
  PARENT_MISSING = 'PARENT_MISSING',
  /** The parent is present only because it is leased past its TTL: it takes no new children. */
  PARENT_EXPIRED = 'PARENT_EXPIRED',
  /** The key is present with another parent or size: a hash-chain collision or a writer's bug. */
  REJECTED_MISMATCH = 'REJECTED_MISMATCH',
  /** Capacity is reached and bounded eviction found nothing evictable; see retryAfterMs. */
  REJECTED_FULL = 'REJECTED_FULL',
  /** The page is larger than the namespace's whole capacity on this target: it can never fit. */
  REJECTED_TOO_LARGE = 'REJECTED_TOO_LARGE',
}

export interface PutResult {
  readonly status: PutStatus;
  /** Set with REJECTED_FULL: when space may have been freed (the earliest lease end, or a default). */
  readonly retryAfterMs?: number;
}

export enum RemoveStatus {
  /** The page and its whole subtree (`removedPages` pages) are gone. */
  REMOVED = 'REMOVED',
  NOT_FOUND = 'NOT_FOUND',
  /** The page is leased (so its subtree may be too): refused until the lease ends, see retryAfterMs. */
  REJECTED_LEASED = 'REJECTED_LEASED',
}

export interface RemoveResult {
  readonly status: RemoveStatus;
  readonly removedPages?: number;
  readonly retryAfterMs?: number;
}

/** Why a page left the index (reported to the engine so it frees the page's space). */
export enum DropReason {
  /** Evicted as the least recently used unleased leaf to make room for a put. */
  CAPACITY = 'CAPACITY',
  /** Its TTL (or an ancestor's) passed and no lease held it. */
  EXPIRED = 'EXPIRED',
  /** Removed by request, itself or as part of a removed subtree. */
  REMOVED = 'REMOVED',
  /** Evicted or removed by an operator (`spindle kv evict|rm`). */
  OPERATOR = 'OPERATOR',
}
