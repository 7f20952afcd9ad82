// Exactly-once client writes (docs/3fs-notes.md §2.3 "reliable update"): the head remembers, per
// (client id, chain id, channel id), the last sequence number and its outcome. A retry with the
// same sequence number gets the first attempt's result (waiting for it if it is still running,
// and running itself if that attempt fails);
// an older sequence number is refused. Only successes are remembered: after a failure the same
// sequence number runs again, which is safe because a failed write left no committed change at
// the head. Channel 0 bypasses the table (as in 3FS). The table is in memory and bounded
// (DEDUPE_CHANNELS_MAX, least recently used forgotten first; idle channels expire).
import type { Clock } from '../common/clock.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { DEDUPE_CHANNEL_IDLE_MS, DEDUPE_CHANNELS_MAX } from './constants.js';

interface Entry<T> {
  seqnum: number;
  /** Identifies the request content; a retry must match it. */
  fingerprint: string;
  result: Promise<T>;
  lastUsedMs: number;
}

export interface DedupeOptions {
  clock: Clock;
  capacity?: number;
  idleMs?: number;
}

export class UpdateDedupe<T> {
  /** Insertion order = least recently used first (entries are re-inserted on use). */
  private readonly entries = new Map<string, Entry<T>>();
  private readonly capacity: number;
  private readonly idleMs: number;

  constructor(private readonly options: DedupeOptions) {
    this.capacity = options.capacity ?? DEDUPE_CHANNELS_MAX;
    this.idleMs = options.idleMs ?? DEDUPE_CHANNEL_IDLE_MS;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Runs `execute` once per (channel, seqnum). `hits` tells the caller whether the result came
   * from the table.
   */
  async run(
    channel: string,
    seqnum: number,
    fingerprint: string,
    execute: () => Promise<T>,
    waitedForFailure = false,
  ): Promise<{ result: T; replayed: boolean }> {
    const now = this.options.clock.nowMs();
    this.expire(now);
    const entry = this.entries.get(channel);
    if (entry !== undefined) {
      if (seqnum < entry.seqnum) {
        throw new SpindleError(
          ErrorCode.DUPLICATE_REQUEST_MISMATCH,
          `write channel ${channel} is already at sequence number ${entry.seqnum}; ` +
            `request ${seqnum} is an outdated retry`,
        );
      }
      if (seqnum === entry.seqnum) {
        if (fingerprint !== entry.fingerprint) {
          throw new SpindleError(
            ErrorCode.DUPLICATE_REQUEST_MISMATCH,
            `write channel ${channel} sequence number ${seqnum} was already used for a different write`,
          );
        }
        this.touch(channel, entry, now);
        try {
          return { result: await entry.result, replayed: true };
        } catch (err) {
          // The attempt this retry waited for failed (its caller may just have cancelled it), and
          // failures are not remembered: run this retry as one that arrived after the failure,
          // rather than hand it an error that was not its own. Once: its own failure is final.
          if (waitedForFailure) throw err;
          return this.run(channel, seqnum, fingerprint, execute, true);
        }
      }
    }
    const result = execute();
    const fresh: Entry<T> = { seqnum, fingerprint, result, lastUsedMs: now };
    this.entries.delete(channel);
    this.entries.set(channel, fresh);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    try {
      return { result: await result, replayed: false };
    } catch (err) {
      // Forget a failed attempt so a retry runs again (unless a newer request took the channel).
      if (this.entries.get(channel) === fresh) this.entries.delete(channel);
      throw err;
    }
  }

  private touch(channel: string, entry: Entry<T>, now: number): void {
    entry.lastUsedMs = now;
    this.entries.delete(channel);
    this.entries.set(channel, entry);
  }

  private expire(now: number): void {
    for (const [channel, entry] of this.entries) {
      if (now - entry.lastUsedMs < this.idleMs) break;
      this.entries.delete(channel);
    }
  }
}
