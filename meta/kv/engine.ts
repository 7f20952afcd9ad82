// The KvEngine contract every metadata store implements (lmdb embedded, etcd distributed, and
// any later FoundationDB/TiKV engine). Keys and values are bytes; keys sort bytewise.
//
// Guarantees an implementation must give (checked by test/kv-conformance.ts):
// - `transaction(fn)` runs fn as one serializable transaction: it sees a consistent snapshot plus
//   its own writes, and commits all its writes atomically or none.
// - Conflicts are detected optimistically; on conflict the engine re-runs fn (so fn must have no
//   side effects outside the transaction) up to a bounded number of attempts, then rejects with
//   SpindleError TXN_CONFLICT (retryable).
// - When the returned promise resolves, the writes are durable (on disk / replicated).
// - A thrown error aborts the transaction: nothing is written and the error propagates unchanged.
// - Read-only transactions see a consistent snapshot, never conflict and never write.
// - fn should not wait for another transaction on the same engine. Where a test must (to
//   engineer a conflict), the inner one must be a blind write (no reads): an engine may run
//   re-tries one at a time, so an inner transaction that needs a re-try could wait for the outer.
// - Limits (meta/kv/constants.ts), enforced with SpindleError INVALID_ARGUMENT: keys are
//   1..KV_KEY_MAX_BYTES bytes, values at most KV_VALUE_MAX_BYTES, at most KV_TXN_WRITES_MAX
//   distinct keys written per transaction. Returned buffers belong to the caller; buffers passed
//   to put() may be reused by the caller right after the call.

export type KvKey = Uint8Array;
export type KvValue = Uint8Array;

export interface KvRangeOptions {
  /** Maximum number of pairs returned. */
  limit?: number;
  /** Return pairs in descending key order (from just below `end` down to `start`). */
  reverse?: boolean;
}

export interface KvPair {
  key: KvKey;
  value: KvValue;
}

/** A transaction in progress. Reads see the snapshot plus this transaction's own writes. */
export interface KvTxn {
  get(key: KvKey): Promise<KvValue | undefined>;
  /** Pairs with start <= key < end, in key order (or reversed). An empty `start` means the first key. */
  getRange(start: KvKey, end: KvKey, options?: KvRangeOptions): Promise<KvPair[]>;
  put(key: KvKey, value: KvValue): void;
  delete(key: KvKey): void;
}

export interface KvTransactionOptions {
  /** Read-only transactions never conflict and skip the commit. */
  readOnly?: boolean;
  signal?: AbortSignal;
  /**
   * Called once, synchronously, when the transaction's last attempt passes its commit point
   * (validated and ordered, possibly not yet durable), or when fn finishes a read-only one. A
   * caller that keeps its own transactions from colliding can let the next one start here
   * instead of waiting for durability. Never called for an attempt that is re-run or that fails;
   * an engine that cannot tell may call it just before the transaction resolves.
   */
  onCommitted?: () => void;
}

export interface KvEngine {
  /** Engine name for logs and `spindle doctor` ('lmdb', 'etcd', 'memory'). */
  readonly name: string;
  transaction<T>(fn: (txn: KvTxn) => Promise<T>, options?: KvTransactionOptions): Promise<T>;
  close(): Promise<void>;
}
