// Inode id allocation without a global hotspot: each process takes a batch of INODE_ID_BATCH ids
// from the shared counter (CNTR ‖ "inode") in its own small transaction, then hands ids out from
// memory. Creates never touch the counter key, so they do not conflict with each other on it.
//
// Ids never repeat: the counter is advanced durably before any id of a batch is used, so ids of a
// batch that was in memory when the process died are skipped, never reused. An operation reserves
// the ids it may need before its transaction starts (a transaction must not run another one) and
// returns the ones it did not use.
import { ErrorCode, SpindleError, assert } from '../../common/errors.js';
import type { KvEngine } from '../kv/engine.js';
import { INODE_ID_BATCH, INODE_ID_FIRST, INODE_ID_MAX } from './constants.js';
import { decodeU64, encodeU64, inodeCounterKey } from './schema.js';

export class InodeIdAllocator {
  private readonly free: number[] = [];
  private next = 0;
  private end = 0;

  constructor(private readonly kv: KvEngine) {}

  /** Takes `count` fresh ids (fetching batches from the store as needed). */
  async reserve(count: number): Promise<IdLease> {
    while (this.free.length + (this.end - this.next) < count) await this.refill(count);
    const ids: number[] = [];
    while (ids.length < count && this.free.length > 0) ids.push(this.free.pop()!);
    while (ids.length < count) ids.push(this.next++);
    return new IdLease(this, ids);
  }

  /** Fetches a batch ahead of the first create (so a first request does not pay for it). */
  async prefetch(): Promise<void> {
    if (this.free.length + (this.end - this.next) === 0) await this.refill(1);
  }

  /** Gives back ids that were reserved but not written to the store. */
  release(ids: readonly number[]): void {
    this.free.push(...ids);
  }

  private async refill(count: number): Promise<void> {
    const size = Math.max(INODE_ID_BATCH, count);
    const [first, last] = await this.kv.transaction(async (txn) => {
      const key = inodeCounterKey();
      const stored = await txn.get(key);
      const start = stored === undefined ? INODE_ID_FIRST : decodeU64(stored);
      if (start + size > INODE_ID_MAX) throw new SpindleError(ErrorCode.NO_SPACE, 'inode ids are exhausted');
      txn.put(key, encodeU64(start + size));
      return [start, start + size] as const;
    });
    // Ids left in the current range stay usable through the free list.
    for (let id = this.next; id < this.end; id++) this.free.push(id);
    this.next = first;
    this.end = last;
  }
}

/** Thrown inside a transaction that needs more ids than it reserved; the caller reserves more. */
export class IdsExhausted extends Error {
  constructor() {
    super('reserved inode ids exhausted');
    this.name = 'IdsExhausted';
  }
}

/** Ids reserved for one operation. Reset at the start of every attempt of its transaction. */
export class IdLease {
  private used = 0;

  constructor(
    private readonly allocator: InodeIdAllocator,
    private readonly ids: number[],
  ) {}

  get size(): number {
    return this.ids.length;
  }

  reset(): void {
    this.used = 0;
  }

  take(): number {
    if (this.used >= this.ids.length) throw new IdsExhausted();
    return this.ids[this.used++]!;
  }

  /** Returns the unused ids (after the commit: ids[0..used) are now in the store). */
  releaseUnused(): void {
    assert(this.used <= this.ids.length, 'lease overrun');
    this.allocator.release(this.ids.slice(this.used));
    this.ids.length = 0;
    this.used = 0;
  }

  /** Returns every id (the transaction did not commit). */
  releaseAll(): void {
    this.allocator.release(this.ids);
    this.ids.length = 0;
    this.used = 0;
  }
}
