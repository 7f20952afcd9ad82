// The shapes of page-index requests and answers (page-index.ts has the behaviour).
import type { Clock } from '../../common/clock.js';
import type { DropReason } from './statuses.js';

export interface PageIndexOptions<L> {
  readonly clock: Clock;
  readonly capacityBytes: number;
  /** Told of every page that leaves the index, children before parents, so the engine frees it. */
  readonly onPageDropped?: (page: DroppedPage<L>) => void;
  readonly evictionsPerPutMax?: number;
  readonly evictedBytesPerPutMax?: number;
}

export interface DroppedPage<L> {
  readonly key: Uint8Array;
  readonly sizeBytes: number;
  readonly location: L;
  readonly reason: DropReason;
}

export interface PagePut<L> {
  readonly key: Uint8Array;
  /** The previous page of the chain; omitted for the chain's first page. */
  readonly parentKey?: Uint8Array;
  readonly sizeBytes: number;
  readonly location: L;
  /** The page (and any page put under it) expires this long after the put. */
  readonly ttlMs?: number;
}

export type PageLookup<L> =
  | { readonly found: true; readonly sizeBytes: number; readonly location: L }
  | {
      readonly found: false;
    };

export interface MatchResult {
  /** How many leading keys are present. */
  readonly matchedCount: number;
  /** Set when a lease was asked for and something matched: the matched pages stay until then. */
  readonly leaseUntilMs?: number;
}

/** What an operator listing shows of a page. */
export interface PageSummary<L> {
  readonly key: Uint8Array;
  readonly parentKey?: Uint8Array;
  readonly sizeBytes: number;
  readonly location: L;
  readonly childCount: number;
  /** 0 when never leased. */
  readonly leaseUntilMs: number;
  /** Infinity when the page has no TTL. */
  readonly ttlExpiresAtMs: number;
}
