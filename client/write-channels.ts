// Exactly-once write channels (docs/design.md §4, 3FS "update channels"): a client owns up to
// writeChannelsMax channel ids; each write takes a free channel and the channel's next sequence
// number, keeps both across its retries, and frees the channel when it finished (either way). A
// storage head remembers the last (client, channel, seqnum) it applied and answers a retry of it
// with the first result instead of applying it twice.
//
// Guarantees: one write at a time per channel; seqnums on a channel strictly increase from 1;
// channel ids are 1..size (0 means "no channel" on the wire).
import { Semaphore } from './semaphore.js';

export interface WriteChannelLease {
  readonly channelId: number;
  readonly seqnum: number;
  /** Frees the channel; idempotent. */
  release(): void;
}

export class WriteChannelPool {
  private readonly slots: Semaphore;
  /** Free channel ids; the most recently freed is reused first so few channels stay active. */
  private readonly freeIds: number[] = [];
  private readonly lastSeqnums: number[];

  constructor(readonly size: number) {
    this.slots = new Semaphore(size);
    this.lastSeqnums = new Array<number>(size + 1).fill(0);
    for (let id = size; id >= 1; id--) this.freeIds.push(id);
  }

  /** Waits for a free channel and assigns the write its sequence number. */
  async acquire(signal?: AbortSignal): Promise<WriteChannelLease> {
    const releaseSlot = await this.slots.acquire(signal);
    const channelId = this.freeIds.pop()!;
    const seqnum = ++this.lastSeqnums[channelId]!;
    let released = false;
    return {
      channelId,
      seqnum,
      release: () => {
        if (released) return;
        released = true;
        this.freeIds.push(channelId);
        releaseSlot();
      },
    };
  }

  /** Last seqnum issued on a channel (tests and diagnostics). */
  lastSeqnum(channelId: number): number {
    return this.lastSeqnums[channelId] ?? 0;
  }
}
