// A read of a file's range: its chunk items (read-plan.ts) sent round after round, each in a
// BatchRead to the node of its replica shared with other callers' reads to that node
// (read-coalescer.ts, read-transports/), until every item is filled or one failed for good.
//
// The read's retry policy, per round (in the common retry loop): items that failed on an
// unreachable replica go to their next replica at once; once an item tried every replica, or
// when routing is stale, the read refreshes routing and backs off first; any other retryable
// failure backs off. A replica answering CHUNK_CORRUPT (its bytes failed their checksum) is failed
// over like an unreachable one; when every serving replica of the chunk answered it, the read
// fails at once (not retryable). Non-retryable item errors end the read at once.
//
// Guarantees: when read() resolves every byte of the range is filled (data, or zeros for holes
// and past a chunk's end); a read gives up with RETRIES_EXHAUSTED inside config.retryDeadlineMs;
// an item's error names its chunk; no batch writes into the caller's buffer once read() settled.
import { assert, ErrorCode, isSpindleError, SpindleError } from '../common/errors.js';
import { retryWithBackoff, throwIfAborted } from '../common/retry.js';
import type { Layout } from '../proto/index.js';
import type { ChunkIoContext } from './chunk-io-context.js';
import { BATCH_READ_IOS_MAX, READ_BATCHES_PER_NODE_MAX, READ_COALESCE_ALONE_MIN_BYTES } from './constants.js';
import { ReadBudgets } from './read-budgets.js';
import { ReadCoalescer } from './read-coalescer.js';
import { planReads, readItemsFor, type ReadItem } from './read-plan.js';
import type { ReadEntry, ReadTransportContext } from './read-transports/read-entry.js';
import { sendReadBatch } from './read-transports/send-read-batch.js';
import { clientRetryBudget, storageRetryAction, type RetryAction } from './retry-policy.js';
import { inContext } from './storage-retry.js';

/** A range of a file and where its bytes go in the caller's buffer. */
export interface FileRange {
  readonly offset: number;
  readonly length: number;
  readonly targetOffset: number;
}

/** The failures of one read round and what they call for (the read's retry policy). */
interface FailedReadRound {
  readonly items: ReadItem[];
  readonly action: RetryAction;
  /** The error the round ends with: a retry's RETRIES_EXHAUSTED names it. */
  readonly last: SpindleError;
}

export class ChunkReads {
  /** Learned per-node limits of BatchRead bytes (nodes configured below our readBatchMaxBytes). */
  private readonly budgets: ReadBudgets;
  /** Small reads of all callers, batched per storage node. */
  private readonly coalescer: ReadCoalescer<ReadEntry>;

  /** `closeSignal` aborts every batch in flight (the chunk store closed). */
  constructor(
    private readonly ctx: ChunkIoContext,
    closeSignal: AbortSignal,
  ) {
    this.budgets = new ReadBudgets(ctx.config.readBatchMaxBytes);
    const transport: ReadTransportContext = {
      connections: ctx.connections,
      routing: ctx.routing,
      config: ctx.config,
      logger: ctx.logger,
      budgets: this.budgets,
    };
    this.coalescer = new ReadCoalescer<ReadEntry>({
      send: (address, entries, signal) => sendReadBatch(transport, ctx.bulk, address, entries, signal),
      budgetBytes: (address) => this.budgets.of(address),
      itemsMax: BATCH_READ_IOS_MAX,
      batchesPerNodeMax: READ_BATCHES_PER_NODE_MAX,
      aloneMinBytes: READ_COALESCE_ALONE_MIN_BYTES,
      slots: ctx.io,
      signal: closeSignal,
    });
  }

  /**
   * Reads `length` bytes from byte `offset` of the file into target[0, length). Resolves to the
   * end (in `target`) of the bytes the replicas returned; the rest of the range is zeros.
   * `signal` ends the read (the caller's signal linked with the store's close); `callerSignal`
   * alone lets a batch shared with other callers drop this read's entries.
   */
  async read(
    ino: number,
    layout: Layout,
    table: readonly number[],
    offset: number,
    target: Uint8Array,
    length: number,
    signal: AbortSignal,
    callerSignal: AbortSignal | undefined,
  ): Promise<number> {
    const items = readItemsFor(layout, table, offset, length, this.ctx.config.readBatchMaxBytes, this.ctx.rng);
    await this.readItems(ino, items, target, signal, callerSignal, `read of inode ${ino}`);
    // Every byte of the range must have been filled: a gap would hand the caller stale memory.
    let filled = 0;
    for (const item of items) {
      assert(item.done, `read item at ${item.targetOffset} of inode ${ino} was never completed`);
      filled += item.length;
    }
    assert(filled === length, `read of inode ${ino} filled ${filled} of ${length} bytes`);
    let end = 0;
    for (const item of items) end = Math.max(end, item.dataEnd);
    return end;
  }

  /**
   * Reads many ranges of one file, each into its place in `target`, as one read: one plan and one
   * retry loop for all of them (a batch of small samples costs one read's bookkeeping, not one per
   * range). Every range must lie before the file's end; holes read as zeros.
   */
  async readRanges(
    ino: number,
    layout: Layout,
    table: readonly number[],
    ranges: readonly FileRange[],
    target: Uint8Array,
    signal: AbortSignal,
    callerSignal: AbortSignal | undefined,
  ): Promise<void> {
    const { readBatchMaxBytes } = this.ctx.config;
    const items = ranges.flatMap((range) =>
      readItemsFor(layout, table, range.offset, range.length, readBatchMaxBytes, this.ctx.rng).map((item) => ({
        ...item,
        targetOffset: item.targetOffset + range.targetOffset,
      })),
    );
    const what = `read of ${ranges.length} ranges of inode ${ino}`;
    await this.readItems(ino, items, target, signal, callerSignal, what);
    for (const item of items) assert(item.done, `${what}: the item at ${item.targetOffset} was never completed`);
  }

  /** Reads every item, round after round (see the header), until all succeeded or one failed for good. */
  private async readItems(
    ino: number,
    items: ReadItem[],
    target: Uint8Array,
    signal: AbortSignal,
    callerSignal: AbortSignal | undefined,
    what: string,
  ): Promise<void> {
    let pending = items;
    let failedRound: FailedReadRound | undefined;
    await retryWithBackoff(
      async () => {
        failedRound = await this.readRound(ino, pending, items, target, signal, callerSignal, what);
        if (failedRound === undefined) return;
        pending = failedRound.items;
        throw failedRound.last;
      },
      {
        ...clientRetryBudget(this.ctx.config, this.ctx.clock, this.ctx.rng),
        what,
        signal,
        // The round decided what its failures call for; any other error ends the read.
        classify: (err) => (failedRound !== undefined && err === failedRound.last ? failedRound.action : 'fail'),
        retriesAtOnce: (action) => action === 'failover',
        onRetry: async (_err, { action }) => {
          if (action === 'refresh-routing') await this.ctx.refreshRouting();
        },
      },
    );
  }

  /**
   * One round: sends every pending item and waits until each batch settled. Returns undefined
   * when all succeeded, else the failed items (moved on to their next replica) and what they call
   * for; throws when one failed for good.
   */
  private async readRound(
    ino: number,
    pending: ReadItem[],
    all: ReadItem[],
    target: Uint8Array,
    signal: AbortSignal,
    callerSignal: AbortSignal | undefined,
    what: string,
  ): Promise<FailedReadRound | undefined> {
    const { replicas } = this.ctx;
    const planned = planReads(pending, all, replicas, this.budgets);
    const sent: Array<Promise<void>> = [];
    for (const item of planned) {
      if (item.error !== undefined) continue;
      // planReads counted these bytes in flight to `address`; they leave when the batch settles.
      const address = item.address!;
      const bytes = item.length;
      sent.push(
        this.coalescer
          .submit(address, { ino, item, target, bytes, abandoned: false }, callerSignal)
          .finally(() => replicas.readSettled(address, bytes)),
      );
    }
    // Settled, not all: no batch may still write into `target` once this call returned.
    const outcomes = await Promise.allSettled(sent);
    throwIfAborted(signal, what);
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw inContext(outcome.reason, what);
    const failed = planned.filter((item) => item.error !== undefined);
    if (failed.length === 0) return undefined;
    let action: RetryAction = 'failover';
    let last: SpindleError | undefined;
    for (const item of failed) {
      const error = item.error!;
      last = error;
      const where = `read of chunk ${item.chunkIndex} of inode ${ino} on chain ${item.chainId}`;
      // A replica whose bytes fail their stored checksum will fail the same way again: read another
      // one at once; once every serving replica did, the chunk is damaged everywhere — fail now.
      const corrupt = isSpindleError(error, ErrorCode.CHUNK_CORRUPT);
      if (corrupt) {
        if (!item.corruptAt.includes(item.address!)) item.corruptAt = [...item.corruptAt, item.address!];
        const serving = replicas.serving(item.chainId);
        if (serving.length > 0 && serving.every((replica) => item.corruptAt.includes(replica.address!))) {
          throw new SpindleError(
            ErrorCode.CHUNK_CORRUPT,
            `${where}: every replica (${item.corruptAt.join(', ')}) failed its checksum: ${error.message}`,
            { cause: error, retryable: false },
          );
        }
      }
      const itemAction = corrupt ? 'failover' : storageRetryAction(error);
      if (itemAction === 'fail') throw inContext(error, where);
      if (itemAction === 'failover') {
        item.rotation++;
        item.failovers++;
        // Every replica tried once without success: the chain may be changing; wait and refresh.
        if (item.failovers >= Math.max(1, replicas.serving(item.chainId).length)) {
          action = 'refresh-routing';
          item.failovers = 0;
        }
      } else if (itemAction === 'refresh-routing') {
        action = 'refresh-routing';
      } else if (action === 'failover') {
        action = 'retry';
      }
      item.error = undefined;
    }
    return { items: failed, action, last: last! };
  }
}
