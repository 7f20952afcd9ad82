// How many bytes one BatchRead may ask of each storage node: the config's readBatchMaxBytes, or
// less once a node refused a batch as too large (a node configured below this client). Learned
// per node, so one small node does not shrink the batches of the others.
//
// Guarantees: a budget only goes down, never below READ_BUDGET_MIN_BYTES; concurrent refusals
// from one node each halve their own request, not each other's result; one number per node read
// from (bounded memory).
import { READ_BUDGET_MIN_BYTES } from './constants.js';

export class ReadBudgets {
  private readonly learned = new Map<string, number>();

  constructor(private readonly configuredBytes: number) {}

  /** Bytes one BatchRead to `address` may ask for. */
  of(address: string): number {
    return this.learned.get(address) ?? this.configuredBytes;
  }

  /**
   * The node at `address` refused a batch of `askedBytes` as too large: ask it for at most half
   * as much from now on. False when the batch was at the minimum already (nothing to lower: the
   * refusal is final).
   */
  refused(address: string, askedBytes: number): boolean {
    if (askedBytes <= READ_BUDGET_MIN_BYTES) return false;
    this.learned.set(address, Math.min(this.of(address), Math.max(READ_BUDGET_MIN_BYTES, Math.floor(askedBytes / 2))));
    return true;
  }
}
