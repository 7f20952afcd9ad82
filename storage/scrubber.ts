// Background scrubber of a storage node (issue 15; as Ceph's deep scrub): reads every committed chunk
// of every local target at a bounded rate and checks it against its CRC32Cs (ChunkEngine.read does
// the check), so corruption of chunks nobody reads is found — and repaired from another replica
// (chunk-repair.ts) — before the other copies are lost too. Storage config `scrubBytesPerSec`
// (0 = off). A pass goes through the targets one page of chunk metadata at a time; after each
// chunk it sleeps as long as reading it should take at the rate, so the disk time it uses is
// bounded. Counts are in metrics (spindle_storage_scrub_*) and in `stats()`.
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../common/clock.js';
import { ErrorCode, asSpindleError } from '../common/errors.js';
import type { ChunkAddress } from './chunk-engine/chunk-key.js';
import type { ScrubStatusResponse } from '../proto/index.js';
import type { ChunkRepairer } from './chunk-repair.js';
import type { RoutingView } from './routing-view.js';
import type { StorageTarget } from './target.js';

const SCRUB_PAGE_CHUNKS = 256;
/** Pause between passes when a pass found nothing to read (no chunks). */
const IDLE_PASS_PAUSE_MS = 1_000;
/**
 * Bytes each chunk counts for at least when pacing: checking a chunk costs a metadata lookup, a
 * read and a CRC whatever its size, so many small chunks must not turn the rate into a busy loop
 * (without it, 4 KiB chunks at 32 MiB/s were 8,000 reads a second on an idle node).
 */
const SCRUB_CHUNK_CHARGE_MIN_BYTES = 256 * 1024;

export interface ScrubStats {
  passesDone: number;
  chunksChecked: number;
  bytesChecked: number;
  corruptFound: number;
  lastPassEndMs: number;
}

export interface ScrubberDeps {
  targets: readonly StorageTarget[];
  routing: RoutingView;
  repairer: ChunkRepairer;
  bytesPerSec: number;
  /** Least time from the start of one pass to the start of the next. */
  passIntervalMs: number;
  clock: Clock;
  logger: Logger;
  registry?: Registry;
}

export class Scrubber {
  private readonly stopped = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly counts: ScrubStats = {
    passesDone: 0,
    chunksChecked: 0,
    bytesChecked: 0,
    corruptFound: 0,
    lastPassEndMs: 0,
  };
  private readonly bytes: Counter | undefined;
  private readonly corrupt: Counter | undefined;

  constructor(private readonly deps: ScrubberDeps) {
    const registers = deps.registry === undefined ? undefined : [deps.registry];
    this.bytes =
      registers &&
      new Counter({ name: 'spindle_storage_scrub_bytes_total', help: 'Bytes the scrubber checked', registers });
    this.corrupt =
      registers &&
      new Counter({
        name: 'spindle_storage_scrub_corrupt_total',
        help: 'Chunks the scrubber found failing their checksum',
        registers,
      });
  }

  start(): void {
    if (this.deps.bytesPerSec <= 0 || this.loop !== undefined) return;
    this.loop = this.run().catch((err: unknown) =>
      this.deps.logger.error({ err: asSpindleError(err).message }, 'scrubber stopped'),
    );
  }

  stats(): ScrubStats {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    this.stopped.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      const startedMs = this.deps.clock.nowMs();
      let checked = 0;
      for (const target of this.deps.targets) checked += await this.scrubTarget(target);
      if (this.stopped.signal.aborted) return;
      this.counts.passesDone++;
      this.counts.lastPassEndMs = this.deps.clock.nowMs();
      // The next pass waits for the interval: re-reading a small data set back to back checks
      // nothing new and keeps a core and the disk busy. A pass that found no chunk (a new node)
      // is not a pass: the first chunks written are checked soon.
      const untilNextMs = startedMs + this.deps.passIntervalMs - this.deps.clock.nowMs();
      await this.pause(checked === 0 ? IDLE_PASS_PAUSE_MS : untilNextMs);
    }
  }

  /** One pass over a target; returns the chunks checked. */
  private async scrubTarget(target: StorageTarget): Promise<number> {
    let after: ChunkAddress | undefined;
    let checked = 0;
    for (;;) {
      if (this.stopped.signal.aborted) return checked;
      let page: ReturnType<StorageTarget['engine']['dump']>;
      try {
        page = target.engine.dump({ after, limit: SCRUB_PAGE_CHUNKS });
      } catch {
        return checked; // the target closed
      }
      for (const chunk of page.chunks) {
        if (this.stopped.signal.aborted) return checked;
        await this.check(target, chunk.ino, chunk.index, chunk.length);
        checked++;
        await this.pause((Math.max(chunk.length, SCRUB_CHUNK_CHARGE_MIN_BYTES) / this.deps.bytesPerSec) * 1000);
      }
      if (!page.hasMore || page.chunks.length === 0) return checked;
      const last = page.chunks[page.chunks.length - 1]!;
      after = { ino: last.ino, index: last.index };
    }
  }

  private async check(target: StorageTarget, ino: number, index: number, length: number): Promise<void> {
    try {
      await target.engine.read(ino, index, 0, length);
    } catch (err) {
      if (asSpindleError(err).errorCode !== ErrorCode.CHUNK_CORRUPT) return; // removed meanwhile, closed
      this.counts.corruptFound++;
      this.corrupt?.inc();
      const chainId = this.deps.routing.chainOfTarget(target.targetId);
      if (chainId !== 0) await this.deps.repairer.report(target, chainId, ino, index, 'scrub');
    } finally {
      this.counts.chunksChecked++;
      this.counts.bytesChecked += length;
      this.bytes?.inc(length);
    }
  }

  /** Sleeps `ms`, or less when the scrubber closes. */
  private async pause(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped.signal.aborted) return;
    await this.deps.clock.sleep(ms, this.stopped.signal).catch(() => undefined);
  }
}

/** The answer of Storage.ScrubStatus from a node's scrubber and repairer. */
export function scrubStatusOf(scrubber: Scrubber, repairer: ChunkRepairer, bytesPerSec: number): ScrubStatusResponse {
  const stats = scrubber.stats();
  return {
    scrubBytesPerSec: bytesPerSec,
    passesDone: stats.passesDone,
    chunksChecked: stats.chunksChecked,
    bytesChecked: stats.bytesChecked,
    corruptFound: stats.corruptFound,
    lastPassEndMs: stats.lastPassEndMs,
    repaired: repairer.totals.repaired,
    repairFailed: repairer.totals.failed,
    recent: repairer.records.map((r) => ({
      targetId: r.targetId,
      chunk: { ino: r.ino, index: r.index },
      commitVersion: r.commitVersion,
      foundBy: r.foundBy,
      outcome: r.outcome,
      fromTargetId: r.fromTarget ?? 0,
      error: r.error ?? '',
      atMs: r.atMs,
    })),
  };
}
