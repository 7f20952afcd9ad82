// The shuffled data loader (docs/loader.md): one rank's batches of a packed dataset, in the
// world-size-independent global order of EpochSampler, read ahead of the consumer within a byte
// budget.
//
// Guarantees:
// - Batch k handed out is this rank's slice of global batch k, in order, every sample's bytes
//   checked against its CRC32C (batch-reads.ts); a storage node that dies costs retries on other
//   replicas inside the client, never a missing, repeated or wrong sample.
// - Sample bytes read but not yet handed out never exceed `prefetchBytes`, nor their range reads
//   PREFETCH_READS_MAX (one batch larger than either is read alone); with the dataset's bounded
//   index cache, memory does not grow with the dataset.
// - `state()` is the cursor after the batches handed out so far — the same on every rank of a
//   step — and `resumeLoader` continues it at any rank and world size: the samples of the epoch
//   not yet handed out, each once.
// - Bad options or a cursor of another dataset (id or size) fail before any read with
//   SpindleError(INVALID_ARGUMENT) naming the field; nothing is left open.
import { setMaxListeners } from 'node:events';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { SpindleClient } from '../spindle-client.js';
import { type RangeRead, type ShardReader, planRangeReads, rangeBytes, readBatch } from './batch-reads.js';
import { PrefetchBudget } from './prefetch-budget.js';
import { type Dataset, openDataset } from './dataset/index.js';
import type { IndexEntry } from './dataset/format.js';
import type { LastBatchPolicy } from './global-batches.js';
import { describe, requireInteger } from './integer-args.js';
import { EpochSampler, type RankPlacement } from './sampler.js';
import type { SamplerCursor } from './sampler-cursor.js';

/** Sample bytes read ahead of the consumer unless told otherwise. */
export const PREFETCH_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Batches read ahead at most, however small (bounds the bookkeeping of tiny samples). */
const PREFETCH_BATCHES_MAX = 64;
/**
 * Range reads ahead at most, whatever prefetchBytes allows: 64 MiB of 4 KiB samples would be
 * 16,384 reads in flight, which cost the client 40% more CPU per sample than 2,048 and added
 * latency, for less throughput (`spindle bench loader`, docs/performance.md).
 */
export const PREFETCH_READS_MAX = 2048;

export interface LoaderOptions extends RankPlacement {
  /** The dataset's directory in the namespace (made by `spindle dataset pack` or DatasetWriter). */
  readonly dataset: string;
  readonly seed: number;
  readonly epoch: number;
  /** Global batch size: samples per step over all ranks, a multiple of worldSize. */
  readonly batchSize: number;
  readonly lastBatch: LastBatchPolicy;
  /** Sample bytes read ahead of the consumer (default PREFETCH_BYTES_DEFAULT). */
  readonly prefetchBytes?: number;
  /** Aborting it closes the loader: a pending next() rejects with CANCELLED. */
  readonly signal?: AbortSignal;
}

export interface LoadedSample {
  /** The sample's index in the dataset. */
  readonly index: number;
  readonly key: string | undefined;
  readonly data: Buffer;
}

export interface LoadedBatch {
  /** The global batch (= step) this is this rank's slice of. */
  readonly batchIndex: number;
  readonly samples: LoadedSample[];
}

/** A loader's resumable position: the sampler cursor plus the dataset's path. */
export interface LoaderState extends SamplerCursor {
  readonly dataset: string;
}

/** Where and how a resumed loader runs. */
export interface ResumeOptions extends RankPlacement {
  readonly prefetchBytes?: number;
  readonly signal?: AbortSignal;
}

/** Opens `options.dataset` and returns a loader at the start of the epoch. */
export async function openLoader(client: SpindleClient, options: LoaderOptions): Promise<DataLoader> {
  if (typeof options !== 'object' || options === null) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `loader options must be an object, got ${describe(options)}`);
  }
  const prefetchBytes = checkPrefetch(options.prefetchBytes);
  const dataset = await openDataset(client, requirePath(options.dataset, 'dataset'));
  return withDataset(dataset, () => {
    const sampler = new EpochSampler({ ...options, datasetId: dataset.id, datasetSize: dataset.size });
    return new DataLoader(dataset, sampler, prefetchBytes, options.signal);
  });
}

/** Continues a saved `state` at `at.rank` of `at.worldSize` (any world size). */
export async function resumeLoader(client: SpindleClient, state: LoaderState, at: ResumeOptions): Promise<DataLoader> {
  if (typeof state !== 'object' || state === null) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `loader state must be an object, got ${describe(state)}`);
  }
  const prefetchBytes = checkPrefetch(at.prefetchBytes);
  const dataset = await openDataset(client, requirePath(state.dataset, 'state.dataset'));
  return withDataset(dataset, () => {
    const sampler = EpochSampler.resume(state, {
      rank: at.rank,
      worldSize: at.worldSize,
      datasetId: dataset.id,
      datasetSize: dataset.size,
    });
    return new DataLoader(dataset, sampler, prefetchBytes, at.signal);
  });
}

async function withDataset(dataset: Dataset, make: () => DataLoader): Promise<DataLoader> {
  try {
    return make();
  } catch (err) {
    await dataset.close();
    throw err;
  }
}

/** A batch being read, and the prefetch bytes it holds until it is handed out. */
interface PendingBatch {
  readonly batch: Promise<LoadedBatch>;
  readonly bytes: number;
  readonly reads: number;
}

export class DataLoader implements AsyncIterable<LoadedBatch> {
  /** Global batches (= steps of every rank) in the epoch. */
  readonly batchCount: number;
  /** Samples this rank gets per step. */
  readonly samplesPerStep: number;
  private readonly budget: PrefetchBudget;
  /** Range reads of the batches read ahead. */
  private readonly readsBudget = new PrefetchBudget(PREFETCH_READS_MAX);
  private readonly closer = new AbortController();
  private readonly pending: PendingBatch[] = [];
  private readonly reader: ShardReader;
  /** The next batch handed out. */
  private nextBatch: number;
  /** The next batch the producer plans. */
  private plannedNext: number;
  private producer: Promise<void> | undefined;
  /** Set when the producer stopped early: the error the consumer gets after the pending batches. */
  private failure: unknown;
  private wake: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly dataset: Dataset,
    private readonly sampler: EpochSampler,
    prefetchBytes: number,
    signal?: AbortSignal,
  ) {
    this.batchCount = sampler.batchCount;
    this.samplesPerStep = sampler.samplesPerStep;
    this.budget = new PrefetchBudget(prefetchBytes);
    // Every chunk read in flight listens on this signal: a deep prefetch is many more than 10.
    setMaxListeners(0, this.closer.signal);
    this.nextBatch = sampler.state().nextBatch;
    this.plannedNext = this.nextBatch;
    // Range reads take no signal: each would add a listener to one shared signal per chunk read in
    // flight (thousands with a deep prefetch), and EventTarget scans its listeners on every add.
    // close() stops planning new batches and waits for the reads in flight instead.
    this.reader = {
      readShard: async (shard, position, target) => (await dataset.shard(shard)).readAt(position, target),
      readShardRanges: async (shard, ranges, target) => (await dataset.shard(shard)).readRanges(ranges, target),
    };
    if (signal !== undefined) {
      if (signal.aborted) this.closer.abort();
      else signal.addEventListener('abort', () => void this.close(), { once: true });
    }
  }

  /** The dataset being read (its manifest, id and size). */
  get datasetInfo(): { readonly path: string; readonly id: string; readonly size: number } {
    return { path: this.dataset.path, id: this.dataset.id, size: this.dataset.size };
  }

  /** Sample bytes read ahead and not yet handed out. */
  get prefetchedBytes(): number {
    return this.budget.heldBytes;
  }

  /** Range reads of the batches read ahead and not yet handed out. */
  get prefetchedReads(): number {
    return this.readsBudget.heldBytes;
  }

  /** The cursor after the batches handed out so far. */
  state(): LoaderState {
    return { dataset: this.dataset.path, ...this.sampler.state(), nextBatch: this.nextBatch };
  }

  /** The next batch of this rank, or undefined at the end of the epoch. */
  async next(): Promise<LoadedBatch | undefined> {
    this.throwIfClosed();
    if (this.nextBatch >= this.batchCount) return undefined;
    this.producer ??= this.produce();
    while (this.pending.length === 0) {
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.throwIfClosed();
    }
    const head = this.pending[0];
    const batch = await head.batch;
    this.throwIfClosed();
    this.pending.shift();
    this.budget.release(head.bytes);
    this.readsBudget.release(head.reads);
    this.nextBatch = batch.batchIndex + 1;
    this.wakeProducerUp();
    return batch;
  }

  [Symbol.asyncIterator](): AsyncIterator<LoadedBatch> {
    return {
      next: async () => {
        const batch = await this.next();
        return batch === undefined ? { done: true, value: undefined } : { done: false, value: batch };
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /** Stops reading ahead and closes the dataset; resolves when no read is in flight. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async shutDown(): Promise<void> {
    this.closed = true;
    this.closer.abort();
    this.notify();
    this.wakeProducerUp();
    await this.producer?.catch(() => {});
    await Promise.allSettled(this.pending.map((p) => p.batch));
    this.pending.length = 0;
    await this.dataset.close();
  }

  /** Plans and starts batch reads in order, as far ahead as the budget allows. */
  private async produce(): Promise<void> {
    const signal = this.closer.signal;
    try {
      while (this.plannedNext < this.batchCount && !signal.aborted) {
        if (this.pending.length >= PREFETCH_BATCHES_MAX) {
          await this.waitForConsumer();
          continue;
        }
        const batchIndex = this.plannedNext++;
        const { sampleIndices } = this.sampler.batch(batchIndex);
        const entries = await this.dataset.entries(sampleIndices, signal);
        const ranges = planRangeReads(entries);
        const bytes = rangeBytes(ranges);
        await this.readsBudget.acquire(ranges.length, signal);
        await this.budget.acquire(bytes, signal);
        const batch = this.read(batchIndex, sampleIndices, entries, ranges, signal);
        batch.catch(() => {}); // the consumer sees it when it reaches this batch
        this.pending.push({ batch, bytes, reads: ranges.length });
        this.notify();
      }
    } catch (err) {
      this.failure = err;
      this.notify();
    }
  }

  private async read(
    batchIndex: number,
    sampleIndices: readonly number[],
    entries: IndexEntry[],
    ranges: RangeRead[],
    signal: AbortSignal,
  ): Promise<LoadedBatch> {
    const [data, keys] = await Promise.all([
      readBatch(this.reader, entries, ranges, signal),
      this.dataset.keys(entries, signal),
    ]);
    return {
      batchIndex,
      samples: sampleIndices.map((index, at) => ({ index, key: keys[at], data: data[at] })),
    };
  }

  /** Resolves when the consumer took a batch (or the loader closed). */
  private waitForConsumer(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeProducer = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private wakeProducerUp(): void {
    const wake = this.wakeProducer;
    this.wakeProducer = undefined;
    wake?.();
  }

  private throwIfClosed(): void {
    if (this.closed) throw new SpindleError(ErrorCode.CANCELLED, 'the loader was closed');
  }
}

function checkPrefetch(value: number | undefined): number {
  return value === undefined ? PREFETCH_BYTES_DEFAULT : requireInteger('prefetchBytes', value, 1);
}

function requirePath(value: unknown, field: string): string {
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${field} must be the dataset's absolute path in the namespace, got ${describe(value)}`,
    );
  }
  return value;
}
