// Inode id allocation without a global hotspot: each process takes a batch of INODE_ID_BATCH ids
// from the shared counter (CNTR ‖ "inode") in its own small transaction, then hands ids out from
// memory. Creates never touch the counter key, so they do not conflict with each other on it.
//
// Ids never repeat: the counter is advanced durably before any id of a batch is used, so ids of a
// batch that was in memory when the process died are skipped, never reused. An operation reserves
// the ids it may need before its transaction starts (a transaction must not run another one) and
// returns the ones it did not use.
//
// Ids of batches taken more than INODE_ID_RESERVATION_TTL_MS ago are dropped, never handed out:
// an id below the counter's value of that long ago that names no inode never will.
import { systemClock, type Clock } from '../../common/clock.js';
import { ErrorCode, SpindleError, assert } from '../../common/errors.js';
import type { KvEngine } from '../kv/engine.js';
import { INODE_ID_BATCH, INODE_ID_FIRST, INODE_ID_MAX, INODE_ID_RESERVATION_TTL_MS } from './constants.js';
import { decodeU64, encodeU64, inodeCounterKey } from './schema.js';

export class InodeIdAllocator {
  private readonly free: number[] = [];
  private next = 0;
  private end = 0;
  /** When the oldest batch whose ids may still be in memory was taken (before its transaction). */
  private oldestHeldAtMs = 0;
  /** Bumped when held ids are dropped: ids of leases from before are not taken back. */
  private generation = 0;

  constructor(
    private readonly kv: KvEngine,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Takes `count` fresh ids (fetching batches from the store as needed). */
  async reserve(count: number): Promise<IdLease> {
    this.dropExpired();
    while (this.held() < count) await this.refill(count);
    const ids: number[] = [];
    while (ids.length < count && this.free.length > 0) ids.push(this.free.pop()!);
    while (ids.length < count) ids.push(this.next++);
    return new IdLease(this, ids, this.generation);
  }

  /** Fetches a batch ahead of the first create (so a first request does not pay for it). */
  async prefetch(): Promise<void> {
    this.dropExpired();
    if (this.held() === 0) await this.refill(1);
  }

  /** Gives back ids that were reserved but not written to the store (unless dropped meanwhile). */
  release(ids: readonly number[], generation: number): void {
    if (generation === this.generation) this.free.push(...ids);
  }

  private held(): number {
    return this.free.length + (this.end - this.next);
  }

  /** Drops every held id once the oldest batch they come from is older than the TTL. */
  private dropExpired(): void {
    if (this.held() === 0 || this.clock.nowMs() - this.oldestHeldAtMs <= INODE_ID_RESERVATION_TTL_MS) return;
    this.free.length = 0;
    this.next = this.end;
    this.generation++;
  }

  private async refill(count: number): Promise<void> {
    const takenAtMs = this.clock.nowMs();
    if (this.held() === 0) this.oldestHeldAtMs = takenAtMs;
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
    private readonly generation: number,
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
    this.allocator.release(this.ids.slice(this.used), this.generation);
    this.ids.length = 0;
    this.used = 0;
  }

  /** Returns every id (the transaction did not commit). */
  releaseAll(): void {
    this.allocator.release(this.ids, this.generation);
    this.ids.length = 0;
    this.used = 0;
  }
}
