// One item of one caller's read as it travels in a (possibly shared) BatchRead, and what every
// read transport needs: the way to nodes, routing for the chain versions, the per-node budgets.
// The transports (grpc-batch.ts, bulk-call-batch.ts, bulk-frames-batch.ts) differ only in how
// the bytes travel; batch-outcome.ts is how the answer lands in the entries.
import type { ReadIO } from '../../proto/index.js';
import type { ChunkIoContext } from '../chunk-io-context.js';
import type { ReadBudgets } from '../read-budgets.js';
import type { CoalescedEntry } from '../read-coalescer.js';
import type { ReadItem } from '../read-plan.js';

export interface ReadEntry extends CoalescedEntry {
  readonly ino: number;
  readonly item: ReadItem;
  /** The caller's buffer (item.targetOffset is relative to it). */
  readonly target: Uint8Array;
  /** Set by a bulk batch: stops the receive writing into `target` (its caller gave up). */
  onAbandoned?: () => void;
}

export interface ReadTransportContext extends Pick<ChunkIoContext, 'connections' | 'routing' | 'config' | 'logger'> {
  readonly budgets: ReadBudgets;
}

/** The BatchRead items of the entries, each at its chain's current version. */
export function readIOs(ctx: ReadTransportContext, entries: readonly ReadEntry[]): ReadIO[] {
  return entries.map(({ ino, item }) => ({
    chainId: item.chainId,
    chainVersion: ctx.routing.chain(item.chainId)?.chainVersion ?? 0,
    chunk: { ino, index: item.chunkIndex },
    offset: item.chunkOffset,
    length: item.length,
  }));
}
