// The garbage collector of deleted files: a background loop that takes files from the namespace's
// GC queue (written in the unlink transaction), removes their chunks from every chain of their
// layout (StoragePort.removeChunks from chunk 0), and only then drops the queue record.
//
// Guarantees:
// - A record is completed only after removeChunks succeeded, so a crash between the two repeats
//   the removal (it is idempotent) instead of leaking chunks.
// - A file is collected no earlier than `delayMs` after its last link went away, so a process that
//   still has it open keeps reading for that long (3FS waits 5 minutes, docs/3fs-notes.md §3.5).
// - A failure is logged and retried in a later round with exponential backoff (capped); failing
//   files never block the rest of the queue. Memory is bounded: at most GC_FAILED_TRACKED_MAX
//   failing files are remembered, each round handles at most `batchSize` files.
// - Rounds never overlap (runOnce during a round shares it). The loop is common/periodic-loop.ts on
//   the injected clock (systemClock timers are unref'd); close() aborts the removals in flight,
//   waits for the round to end and is idempotent.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../common/clock.js';
import { asSpindleError } from '../common/errors.js';
import { silentLogger } from '../common/logger.js';
import { PeriodicLoop } from '../common/periodic-loop.js';
import type { Layout } from '../proto/index.js';
import type { KvEngine } from './kv/engine.js';
import { completeGc, listGcQueue, type GcQueueEntry } from './namespace/gc-queue.js';
import type { StoragePort } from './storage-port.js';

/** How long production waits after the last unlink before removing chunks (as 3FS's gc_file_delay). */
export const GC_DELAY_PRODUCTION_MS = 5 * 60_000;
/**
 * The test preset's delay: long enough for a test on a loaded 2-core machine to keep reading an
 * unlinked open file (1 s was not), short enough to watch GC happen.
 */
export const GC_DELAY_TEST_MS = 15_000;
/** Files removed at once within a round: removeChunks already fans out over chains. */
const GC_CONCURRENCY = 4;
/** Failing files remembered for backoff; beyond it the oldest failure is forgotten (and retried sooner). */
const GC_FAILED_TRACKED_MAX = 1_024;
/** Backoff of a failing file: first retry after one interval, doubling up to this cap. */
const GC_RETRY_BACKOFF_MAX_MS = 10 * 60_000;

export interface GcWorkerOptions {
  kv: KvEngine;
  storage: StoragePort;
  /** Pause between rounds. */
  intervalMs: number;
  /** Most files handled per round. */
  batchSize: number;
  /** Minimum age of a queue record before its chunks are removed. */
  delayMs: number;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
}

export interface GcRoundResult {
  /** Files whose chunks were removed and whose records were dropped. */
  collected: number;
  /** Files that failed this round (retried later). */
  failed: number;
  /** Files skipped because they are backing off after a failure. */
  deferred: number;
}

interface Failure {
  attempts: number;
  retryAtUs: number;
}

/** A layout that never placed a chunk (no table, no stripe, no chunk size): nothing to remove. */
function placesNoChunks(layout: Layout): boolean {
  return layout.chainTableId === 0 || layout.stripeWidth === 0 || layout.chunkSizeBytes === 0;
}

export class GcWorker {
  private readonly kv: KvEngine;
  private readonly storage: StoragePort;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly failures = new Map<number, Failure>();
  private readonly loop: PeriodicLoop<GcRoundResult>;
  private readonly metrics:
    | {
        collected: Counter;
        failures: Counter;
        rounds: Counter;
        backlog: Gauge;
      }
    | undefined;

  constructor(private readonly options: GcWorkerOptions) {
    this.kv = options.kv;
    this.storage = options.storage;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'meta.gc' });
    this.loop = new PeriodicLoop({
      intervalMs: options.intervalMs,
      pass: (signal) => this.collect(signal),
      clock: this.clock,
      logger: this.logger,
      failureMessage: 'gc round failed; retrying next round',
    });
    const registry = options.registry;
    this.metrics = registry && {
      collected: new Counter({
        name: 'spindle_meta_gc_files_collected_total',
        help: 'Deleted files whose chunks were removed.',
        registers: [registry],
      }),
      failures: new Counter({
        name: 'spindle_meta_gc_failures_total',
        help: "Failed attempts to remove a deleted file's chunks.",
        registers: [registry],
      }),
      rounds: new Counter({
        name: 'spindle_meta_gc_rounds_total',
        help: 'Rounds of the garbage collector.',
        registers: [registry],
      }),
      backlog: new Gauge({
        name: 'spindle_meta_gc_failing_files',
        help: 'Deleted files waiting to be retried after a failure.',
        registers: [registry],
      }),
    };
  }

  /** Starts the background loop (a no-op if running or closed); rounds come `intervalMs` apart. */
  start(): void {
    this.loop.start();
  }

  /**
   * One round now: collect up to batchSize due files. Concurrent calls (and the loop) share the
   * round. After close() it collects nothing.
   */
  runOnce(): Promise<GcRoundResult> {
    if (this.loop.state === 'stopped') return Promise.resolve({ collected: 0, failed: 0, deferred: 0 });
    return this.loop.runNow();
  }

  /** Stops the loop, aborts removals in flight, waits for the round to end. Idempotent. */
  close(): Promise<void> {
    return this.loop.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async collect(signal: AbortSignal): Promise<GcRoundResult> {
    const result: GcRoundResult = { collected: 0, failed: 0, deferred: 0 };
    this.metrics?.rounds.inc();
    const nowUs = this.clock.nowUs();
    // Ask for enough entries that files backing off cannot fill the whole batch.
    const entries = await listGcQueue(this.kv, this.options.batchSize + this.failures.size, {
      queuedBeforeUs: nowUs - this.options.delayMs * 1000,
    });
    const due: GcQueueEntry[] = [];
    for (const entry of entries) {
      const failure = this.failures.get(entry.ino);
      if (failure !== undefined && failure.retryAtUs > nowUs) {
        result.deferred++;
        continue;
      }
      if (due.length < this.options.batchSize) due.push(entry);
    }
    let next = 0;
    const worker = async () => {
      while (next < due.length && !signal.aborted) {
        const entry = due[next++]!;
        if (await this.collectOne(entry, signal)) result.collected++;
        else if (!signal.aborted) result.failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(GC_CONCURRENCY, due.length) }, worker));
    this.metrics?.backlog.set(this.failures.size);
    if (result.collected > 0 || result.failed > 0) this.logger.debug(result, 'gc round done');
    return result;
  }

  private async collectOne(entry: GcQueueEntry, signal: AbortSignal): Promise<boolean> {
    try {
      if (!placesNoChunks(entry.layout)) await this.storage.removeChunks(entry.ino, entry.layout, 0, { signal });
      await completeGc(this.kv, entry.ino);
    } catch (err) {
      if (signal.aborted) return false;
      const failure = this.failures.get(entry.ino) ?? { attempts: 0, retryAtUs: 0 };
      failure.attempts++;
      const backoffMs = Math.min(GC_RETRY_BACKOFF_MAX_MS, this.options.intervalMs * 2 ** (failure.attempts - 1));
      failure.retryAtUs = this.clock.nowUs() + backoffMs * 1000;
      this.failures.delete(entry.ino);
      this.failures.set(entry.ino, failure);
      if (this.failures.size > GC_FAILED_TRACKED_MAX) this.failures.delete(this.failures.keys().next().value!);
      this.metrics?.failures.inc();
      const error = asSpindleError(err);
      this.logger.warn(
        { ino: entry.ino, attempts: failure.attempts, retryInMs: backoffMs, code: error.codeName, err: error.message },
        'cannot remove chunks of a deleted file; will retry',
      );
      return false;
    }
    this.failures.delete(entry.ino);
    this.metrics?.collected.inc();
    this.logger.debug({ ino: entry.ino, length: entry.length }, 'deleted file collected');
    return true;
  }
}
