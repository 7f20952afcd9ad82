// The transaction layer shared by the in-process engines (memory, lmdb): serializable
// transactions by optimistic concurrency control over a multi-version in-memory overlay, on top
// of a `KvBackend` that stores the committed state and makes it durable.
//
// Design (one process owns the data; everything below runs on the JS thread):
// - Every committed transaction gets the next sequence number `seq` inside a synchronous critical
//   section (validate + assign + apply, no await in between), so commit order is a total order.
// - Snapshot reads. A transaction starts at `startSeq` = the last committed seq and reads the
//   state as of that seq: for a key written recently the overlay holds a version chain
//   (`before` = the value preceding the oldest retained version, then versions ordered by seq), and
//   the value at startSeq is picked from it; for any other key the backend's latest value *is*
//   the value at startSeq, because every write newer than the oldest running snapshot still has a
//   chain. Range reads merge the backend scan with the chains and the transaction's own writes.
//   So reads are consistent even while commits land, and an error thrown by fn was computed from
//   a consistent view — it propagates unchanged.
// - The overlay also covers writes that are committed in order but not yet visible in the backend
//   (lmdb commits batches on its own thread), so a transaction sees every earlier commit at once.
// - Validation (read-write transactions only): at commit, if any key the transaction read, or any
//   key inside a range it scanned (phantoms), has a chain whose newest version is newer than
//   startSeq, the transaction conflicts; otherwise it is serializable at its commit point.
//   Range scans cut short by `limit` only cover the keys up to the last one returned.
// - Conflicts re-run fn. The first attempt runs freely; re-runs queue in one FIFO "retry lane", so
//   transactions that collided run one at a time instead of colliding again (50 increments of one
//   counter need 50 commits, not 50 rounds). After txnRetriesMax re-runs: TXN_CONFLICT
//   (retryable). Hence fn must not wait for another transaction of the same engine that may itself
//   need a retry (it would wait for the lane fn's caller holds).
// - Durability: a transaction's promise resolves only after the backend reports its batch durable
//   (and every earlier one: seqs become durable in order). Read-only transactions, and read-write
//   ones that wrote nothing, wait until their snapshot is durable, so no caller ever acts on data a
//   crash could take back. Backends group many transactions into one fsync.
// - Garbage collection: a chain is dropped once its newest version is visible in the backend and no
//   running transaction's snapshot predates it; older versions fold into `before` as snapshots
//   advance. The overlay therefore holds only the last few milliseconds of writes. Should a
//   transaction sit inside fn long enough for the overlay to pass KV_OVERLAY_KEYS_MAX keys, the
//   oldest snapshots expire: their reads fail and the transactions re-run on a fresh snapshot.
// - A backend failure (disk full, I/O error) fails the engine: memory and disk may disagree, so
//   every pending and later transaction rejects with IO_ERROR; reopening recovers from disk.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import {
  checkBound,
  checkKey,
  checkLimit,
  checkValue,
  compareBytes,
  copyBytes,
  keyToString,
  stringToKey,
} from './bytes.js';
import { KV_OVERLAY_KEYS_MAX, KV_TXN_RETRIES_DEFAULT, KV_TXN_RETRIES_MAX, KV_TXN_WRITES_MAX } from './constants.js';
import type { KvEngine, KvKey, KvPair, KvRangeOptions, KvTransactionOptions, KvTxn, KvValue } from './engine.js';
import { cancelledError, RetryLane } from './retry-lane.js';
import { SortedMap } from './sorted-map.js';

/** One write of a committed transaction, in the form the backend applies it. */
export interface KvWrite {
  /** Private copy of the key. */
  readonly key: Buffer;
  readonly keyString: string;
  /** Private copy of the value; undefined deletes the key. */
  readonly value: Buffer | undefined;
}

/** A forward or backward cursor over the backend; `close()` releases it early. */
export interface KvBackendCursor {
  next(): KvPair | undefined;
  close(): void;
}

export interface KvApplyResult {
  /** Resolves when later backend reads see the writes. */
  readonly visible: PromiseLike<unknown>;
  /** Resolves when the writes survive a crash. */
  readonly durable: PromiseLike<unknown>;
}

/** The storage under the transaction layer. All reads are synchronous and see the latest visible state. */
export interface KvBackend {
  /** Latest visible value, as a buffer the caller may keep. */
  get(key: Buffer): Uint8Array | undefined;
  /** Keys in [start, end) ascending, or descending when `reverse`; an empty start means the first key. */
  scan(start: Buffer, end: Buffer, reverse: boolean): KvBackendCursor;
  /** Applies one transaction atomically, in commit order; undefined = visible and durable already. */
  apply(writes: readonly KvWrite[]): KvApplyResult | undefined;
  close(): Promise<void>;
}

export interface OptimisticEngineOptions {
  /** Engine name for logs ('memory', 'lmdb'). */
  name: string;
  backend: KvBackend;
  /** Re-runs of a conflicting transaction before TXN_CONFLICT (default KV_TXN_RETRIES_DEFAULT). */
  txnRetriesMax?: number;
  /** Overlay size that expires the oldest running snapshots (default KV_OVERLAY_KEYS_MAX; tests lower it). */
  overlayKeysMax?: number;
  logger?: Logger;
}

export interface KvEngineStats {
  /** Read-write transactions committed with at least one write. */
  commits: number;
  /** Transactions that finished without writing (read-only or nothing to write). */
  reads: number;
  /** Attempts that failed validation and were re-run or gave up. */
  conflicts: number;
  /** Transactions that gave up with TXN_CONFLICT. */
  conflictsExhausted: number;
  /** Keys currently held in the version overlay. */
  overlayKeys: number;
  /** Transactions currently running fn. */
  active: number;
  lastCommittedSeq: number;
  lastDurableSeq: number;
}

interface Version {
  readonly seq: number;
  readonly value: Buffer | undefined;
}

interface Chain {
  /** Value before the oldest retained version (undefined: absent). */
  before: Buffer | undefined;
  /** Retained versions, ascending seq. */
  versions: Version[];
  /** Seq of the newest version (validation needs only this). */
  lastSeq: number;
}

interface CommitRecord {
  readonly seq: number;
  readonly keys: readonly string[];
}

interface DurableWaiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

const CONFLICT = -1;

function valueAt(chain: Chain, seq: number): Buffer | undefined {
  const versions = chain.versions;
  for (let i = versions.length - 1; i >= 0; i--) {
    if (versions[i]!.seq <= seq) return versions[i]!.value;
  }
  return chain.before;
}

class OptimisticTxn implements KvTxn {
  /** Own writes, by key string. */
  readonly writes = new Map<string, KvWrite>();
  /** Keys read from the snapshot (not from own writes). */
  readonly reads = new Set<string>();
  /** Scanned intervals [start, end) as key strings. */
  readonly ranges: Array<readonly [string, string]> = [];
  finished = false;
  /** The snapshot was released early (overlay limit): reads fail, the attempt re-runs. */
  expired = false;

  constructor(
    private readonly engine: OptimisticEngine,
    readonly startSeq: number,
    readonly readOnly: boolean,
  ) {}

  async get(key: KvKey): Promise<KvValue | undefined> {
    this.checkUsable();
    checkKey(key);
    const keyString = keyToString(key);
    const own = this.writes.get(keyString);
    if (own !== undefined) return own.value === undefined ? undefined : copyBytes(own.value);
    if (!this.readOnly) this.reads.add(keyString);
    return this.engine.readAt(keyString, key, this.startSeq);
  }

  async getRange(start: KvKey, end: KvKey, options: KvRangeOptions = {}): Promise<KvPair[]> {
    this.checkUsable();
    return this.engine.rangeAt(this, start, end, options);
  }

  put(key: KvKey, value: KvValue): void {
    this.checkWritable();
    checkKey(key);
    checkValue(value);
    this.write(copyBytes(key), copyBytes(value));
  }

  delete(key: KvKey): void {
    this.checkWritable();
    checkKey(key);
    this.write(copyBytes(key), undefined);
  }

  private write(key: Buffer, value: Buffer | undefined): void {
    const keyString = keyToString(key);
    if (this.writes.size >= KV_TXN_WRITES_MAX && !this.writes.has(keyString)) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `kv transaction writes more than ${KV_TXN_WRITES_MAX} keys; split the work into batches`,
      );
    }
    this.writes.set(keyString, { key, keyString, value });
  }

  private checkUsable(): void {
    if (this.finished) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        'kv transaction used after it finished (a read or write escaped fn)',
      );
    }
    if (this.expired) {
      throw new SpindleError(
        ErrorCode.TXN_CONFLICT,
        'kv transaction snapshot expired (it ran too long); it will be re-run',
      );
    }
  }

  private checkWritable(): void {
    this.checkUsable();
    if (this.readOnly) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'write in a read-only kv transaction');
  }
}

export class OptimisticEngine implements KvEngine {
  readonly name: string;
  private readonly backend: KvBackend;
  private readonly retriesMax: number;
  private readonly overlayKeysMax: number;
  private readonly logger: Logger | undefined;

  private committedSeq = 0;
  private visibleSeq = 0;
  private durableSeq = 0;
  /** Version chains of recently written keys. */
  private readonly chains = new SortedMap<Chain>();
  /** Commits whose chains may still be collected, in seq order (from logHead). */
  private log: CommitRecord[] = [];
  private logHead = 0;
  /** Commits not yet visible / not yet durable, in seq order (values: done flags). */
  private readonly visibleDone = new Map<number, boolean>();
  private readonly durableDone = new Map<number, boolean>();
  private durableWaiters: DurableWaiter[] = [];
  /** Start seq → running transactions; insertion order is ascending (start seqs never decrease). */
  private readonly activeStarts = new Map<number, Set<OptimisticTxn>>();
  private activeCount = 0;
  private readonly lane = new RetryLane();
  private failure: Error | undefined;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closePromise: Promise<void> | undefined;
  private readonly counters = { commits: 0, reads: 0, conflicts: 0, conflictsExhausted: 0 };

  constructor(options: OptimisticEngineOptions) {
    this.name = options.name;
    this.backend = options.backend;
    const retries = options.txnRetriesMax ?? KV_TXN_RETRIES_DEFAULT;
    if (!Number.isInteger(retries) || retries < 0 || retries > KV_TXN_RETRIES_MAX) {
      throw new SpindleError(
        ErrorCode.CONFIG_INVALID,
        `txnRetriesMax must be an integer in 0..${KV_TXN_RETRIES_MAX}, got ${String(retries)}`,
      );
    }
    this.retriesMax = retries;
    const overlayKeysMax = options.overlayKeysMax ?? KV_OVERLAY_KEYS_MAX;
    if (!Number.isInteger(overlayKeysMax) || overlayKeysMax < 1) {
      throw new SpindleError(
        ErrorCode.CONFIG_INVALID,
        `overlayKeysMax must be a positive integer, got ${String(overlayKeysMax)}`,
      );
    }
    this.overlayKeysMax = overlayKeysMax;
    this.logger = options.logger;
  }

  async transaction<T>(fn: (txn: KvTxn) => Promise<T>, options: KvTransactionOptions = {}): Promise<T> {
    const readOnly = options.readOnly === true;
    const signal = options.signal;
    this.checkAccepting();
    if (signal?.aborted) throw cancelledError(signal);
    let laneHeld = false;
    try {
      for (let attempt = 1; ; attempt++) {
        if (attempt > 1 && !laneHeld) {
          await this.lane.acquire(signal);
          laneHeld = true;
          this.checkAccepting();
        }
        if (signal?.aborted) throw cancelledError(signal);
        const txn = this.begin(readOnly);
        let result!: T;
        let seq: number;
        try {
          result = await fn(txn);
          if (signal?.aborted) throw cancelledError(signal);
          this.checkAccepting();
          if (txn.expired) {
            seq = CONFLICT;
          } else if (readOnly) {
            this.counters.reads++;
            seq = txn.startSeq;
          } else {
            seq = this.commit(txn);
          }
        } catch (error) {
          // An expired snapshot is the engine's doing, not fn's: whatever fn threw, re-run it.
          if (!txn.expired) throw error;
          seq = CONFLICT;
        } finally {
          this.end(txn);
        }
        if (seq === CONFLICT) {
          this.counters.conflicts++;
          if (attempt > this.retriesMax) {
            this.counters.conflictsExhausted++;
            this.logger?.debug({ engine: this.name, attempts: attempt }, 'kv transaction gave up after conflicts');
            throw new SpindleError(
              ErrorCode.TXN_CONFLICT,
              `kv transaction conflicted ${attempt} times with concurrent writers; retry later`,
            );
          }
          continue;
        }
        if (laneHeld) {
          laneHeld = false;
          this.lane.release();
        }
        options.onCommitted?.();
        const wait = this.waitDurable(seq);
        if (wait !== undefined) await wait;
        return result;
      }
    } finally {
      if (laneHeld) this.lane.release();
    }
  }

  /** Waits for pending commits to become durable, then closes the backend. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= this.closeOnce();
    return this.closePromise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  stats(): KvEngineStats {
    return {
      ...this.counters,
      overlayKeys: this.chains.size,
      active: this.activeCount,
      lastCommittedSeq: this.committedSeq,
      lastDurableSeq: this.durableSeq,
    };
  }

  // --- reads (called by OptimisticTxn) ---

  /** Value of `key` as of `seq`, as a buffer the caller owns. */
  readAt(keyString: string, key: Uint8Array, seq: number): Uint8Array | undefined {
    this.checkReadable();
    const chain = this.chains.get(keyString);
    if (chain !== undefined) {
      const value = valueAt(chain, seq);
      return value === undefined ? undefined : copyBytes(value);
    }
    return this.backend.get(Buffer.isBuffer(key) ? key : copyBytes(key));
  }

  rangeAt(txn: OptimisticTxn, start: Uint8Array, end: Uint8Array, options: KvRangeOptions): KvPair[] {
    checkBound(start, 'start');
    checkBound(end, 'end');
    checkLimit(options.limit);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const reverse = options.reverse === true;
    if (limit === 0 || compareBytes(start, end) >= 0) return [];
    this.checkReadable();
    const startString = keyToString(start);
    const endString = keyToString(end);

    // Keys whose value at the snapshot comes from the overlay or from own writes.
    const overrides = new Map<string, Buffer | undefined>();
    this.chains.scan(startString, endString, false, (keyString, chain) => {
      overrides.set(keyString, valueAt(chain, txn.startSeq));
    });
    for (const [keyString, write] of txn.writes) {
      if (keyString >= startString && keyString < endString) overrides.set(keyString, write.value);
    }
    const overrideKeys = [...overrides.keys()].sort();
    if (reverse) overrideKeys.reverse();

    const result: KvPair[] = [];
    const cursor = this.backend.scan(Buffer.from(start), Buffer.from(end), reverse);
    try {
      if (overrideKeys.length === 0) {
        // Nothing recent in the interval: the backend alone is the snapshot (no key conversions).
        while (result.length < limit) {
          const pair = cursor.next();
          if (pair === undefined) break;
          result.push(pair);
        }
        return this.recordRange(txn, result, limit, reverse, startString, endString);
      }
      let next = cursor.next();
      let nextString = next === undefined ? '' : keyToString(next.key);
      let overrideIndex = 0;
      while (result.length < limit) {
        while (next !== undefined && overrides.has(nextString)) {
          next = cursor.next();
          if (next !== undefined) nextString = keyToString(next.key);
        }
        const overrideKey = overrideIndex < overrideKeys.length ? overrideKeys[overrideIndex] : undefined;
        if (next === undefined && overrideKey === undefined) break;
        const takeOverride =
          overrideKey !== undefined &&
          (next === undefined || (reverse ? overrideKey > nextString : overrideKey < nextString));
        if (takeOverride) {
          overrideIndex++;
          const value = overrides.get(overrideKey);
          if (value !== undefined) result.push({ key: stringToKey(overrideKey), value: copyBytes(value) });
        } else {
          result.push(next!);
          next = cursor.next();
          if (next !== undefined) nextString = keyToString(next.key);
        }
      }
    } finally {
      cursor.close();
    }
    return this.recordRange(txn, result, limit, reverse, startString, endString);
  }

  /** Remembers what a read-write transaction observed: the interval, or up to the last key when cut by limit. */
  private recordRange(
    txn: OptimisticTxn,
    result: KvPair[],
    limit: number,
    reverse: boolean,
    startString: string,
    endString: string,
  ): KvPair[] {
    if (txn.readOnly) return result;
    if (result.length >= limit) {
      const last = keyToString(result[result.length - 1]!.key);
      txn.ranges.push(reverse ? [last, endString] : [startString, `${last}\u0000`]);
    } else {
      txn.ranges.push([startString, endString]);
    }
    return result;
  }

  // --- transaction lifecycle ---

  private begin(readOnly: boolean): OptimisticTxn {
    const startSeq = this.committedSeq;
    const txn = new OptimisticTxn(this, startSeq, readOnly);
    let group = this.activeStarts.get(startSeq);
    if (group === undefined) {
      group = new Set();
      this.activeStarts.set(startSeq, group);
    }
    group.add(txn);
    this.activeCount++;
    return txn;
  }

  private end(txn: OptimisticTxn): void {
    txn.finished = true;
    this.activeCount--;
    if (!txn.expired) {
      const group = this.activeStarts.get(txn.startSeq)!;
      group.delete(txn);
      if (group.size === 0) this.activeStarts.delete(txn.startSeq);
    }
    this.collect();
  }

  /** Validates and commits; returns the commit seq (startSeq when nothing was written) or CONFLICT. */
  private commit(txn: OptimisticTxn): number {
    if (txn.writes.size === 0) {
      this.counters.reads++;
      return txn.startSeq;
    }
    if (!this.validate(txn)) return CONFLICT;

    const seq = this.committedSeq + 1;
    const writes = [...txn.writes.values()];
    // Values before this commit, for keys without a chain (read before the backend applies). Only
    // snapshots older than this commit read them; when this is the only running transaction there
    // are none, and every later snapshot starts at or after `seq`.
    const needBefore = this.activeCount > 1;
    const befores = writes.map((write) =>
      needBefore && !this.chains.has(write.keyString) ? this.backend.get(write.key) : undefined,
    );
    let applied: KvApplyResult | undefined;
    try {
      applied = this.backend.apply(writes);
    } catch (error) {
      throw this.fail(error, 'kv backend rejected a commit');
    }
    this.committedSeq = seq;
    for (let i = 0; i < writes.length; i++) {
      const write = writes[i]!;
      let chain = this.chains.get(write.keyString);
      if (chain === undefined) {
        const before = befores[i];
        chain = {
          before: before === undefined ? undefined : Buffer.from(before.buffer, before.byteOffset, before.byteLength),
          versions: [],
          lastSeq: 0,
        };
        this.chains.set(write.keyString, chain);
      }
      chain.versions.push({ seq, value: write.value });
      chain.lastSeq = seq;
    }
    this.log.push({ seq, keys: writes.map((write) => write.keyString) });
    this.counters.commits++;

    if (applied === undefined) {
      this.visibleSeq = seq;
      this.durableSeq = seq;
    } else {
      this.visibleDone.set(seq, false);
      this.durableDone.set(seq, false);
      applied.visible.then(
        () => this.markVisible(seq),
        (error: unknown) => this.fail(error, 'kv backend commit failed'),
      );
      applied.durable.then(
        () => this.markDurable(seq),
        (error: unknown) => this.fail(error, 'kv backend flush failed'),
      );
    }
    return seq;
  }

  private validate(txn: OptimisticTxn): boolean {
    const startSeq = txn.startSeq;
    for (const keyString of txn.reads) {
      const chain = this.chains.get(keyString);
      if (chain !== undefined && chain.lastSeq > startSeq) return false;
    }
    for (const [start, end] of txn.ranges) {
      let valid = true;
      this.chains.scan(start, end, false, (_key, chain) => {
        if (chain.lastSeq > startSeq) {
          valid = false;
          return false;
        }
        return true;
      });
      if (!valid) return false;
    }
    return true;
  }

  private markVisible(seq: number): void {
    this.visibleDone.set(seq, true);
    // Advance in seq order (Map iteration order is insertion order = seq order).
    for (const [pendingSeq, done] of this.visibleDone) {
      if (!done) break;
      this.visibleDone.delete(pendingSeq);
      this.visibleSeq = pendingSeq;
    }
    this.collect();
  }

  private markDurable(seq: number): void {
    this.durableDone.set(seq, true);
    for (const [pendingSeq, done] of this.durableDone) {
      if (!done) break;
      this.durableDone.delete(pendingSeq);
      this.durableSeq = pendingSeq;
    }
    if (this.durableWaiters.length === 0) return;
    const waiting: DurableWaiter[] = [];
    for (const waiter of this.durableWaiters) {
      if (waiter.seq <= this.durableSeq) waiter.resolve();
      else waiting.push(waiter);
    }
    this.durableWaiters = waiting;
  }

  /** undefined when `seq` is durable already, else a promise for it. */
  private waitDurable(seq: number): Promise<void> | undefined {
    if (this.failure !== undefined) return Promise.reject(this.failedError());
    if (seq <= this.durableSeq) return undefined;
    return new Promise<void>((resolve, reject) => this.durableWaiters.push({ seq, resolve, reject }));
  }

  /** Drops chains nobody can need any more and folds old versions into `before`. */
  private collect(): void {
    this.collectOnce();
    // A transaction stuck in fn must not pin the overlay forever: expire the oldest snapshots
    // that hold back collection (not those merely waiting for the backend to catch up).
    while (this.chains.size > this.overlayKeysMax) {
      const oldest = this.activeStarts.entries().next();
      if (oldest.done === true || oldest.value[0] >= this.visibleSeq) return;
      const [startSeq, group] = oldest.value;
      this.activeStarts.delete(startSeq);
      for (const txn of group) txn.expired = true;
      this.logger?.warn(
        { engine: this.name, transactions: group.size, overlayKeys: this.chains.size },
        'kv snapshots expired: transactions ran too long',
      );
      this.collectOnce();
    }
  }

  private collectOnce(): void {
    if (this.logHead >= this.log.length) return;
    let oldestSnapshot = this.committedSeq;
    for (const startSeq of this.activeStarts.keys()) {
      oldestSnapshot = startSeq;
      break;
    }
    const dropBelow = Math.min(oldestSnapshot, this.visibleSeq);
    while (this.logHead < this.log.length && this.log[this.logHead]!.seq <= dropBelow) {
      for (const keyString of this.log[this.logHead]!.keys) {
        const chain = this.chains.get(keyString);
        if (chain === undefined) continue;
        if (chain.lastSeq <= dropBelow) {
          this.chains.delete(keyString);
          continue;
        }
        let fold = -1;
        for (let i = 0; i < chain.versions.length && chain.versions[i]!.seq <= oldestSnapshot; i++) fold = i;
        if (fold >= 0) {
          chain.before = chain.versions[fold]!.value;
          chain.versions.splice(0, fold + 1);
        }
      }
      this.logHead++;
    }
    if (this.logHead === this.log.length) {
      this.log = [];
      this.logHead = 0;
    } else if (this.logHead > 1024 && this.logHead * 2 > this.log.length) {
      this.log = this.log.slice(this.logHead);
      this.logHead = 0;
    }
  }

  // --- state ---

  private checkAccepting(): void {
    if (this.failure !== undefined) throw this.failedError();
    if (this.state !== 'open') throw new SpindleError(ErrorCode.CANCELLED, `kv engine ${this.name} is closed`);
  }

  private checkReadable(): void {
    if (this.failure !== undefined) throw this.failedError();
    if (this.state === 'closed') throw new SpindleError(ErrorCode.CANCELLED, `kv engine ${this.name} is closed`);
  }

  private failedError(): SpindleError {
    return new SpindleError(
      ErrorCode.IO_ERROR,
      `kv engine ${this.name} failed and must be reopened: ${this.failure?.message ?? 'unknown error'}`,
      { cause: this.failure },
    );
  }

  /** Marks the engine failed (memory and storage may disagree) and rejects everyone waiting. */
  private fail(error: unknown, message: string): SpindleError {
    if (this.failure === undefined) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.logger?.error({ engine: this.name, err: this.failure }, message);
      const waiters = this.durableWaiters;
      this.durableWaiters = [];
      const failed = this.failedError();
      for (const waiter of waiters) waiter.reject(failed);
    }
    return this.failedError();
  }

  private async closeOnce(): Promise<void> {
    this.state = 'closing';
    try {
      const wait = this.waitDurable(this.committedSeq);
      if (wait !== undefined) await wait;
    } catch {
      // A failed engine has nothing more to flush; close the backend anyway.
    }
    this.state = 'closed';
    this.chains.clear();
    this.log = [];
    this.logHead = 0;
    await this.backend.close();
  }
}
