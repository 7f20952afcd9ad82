// Background loop of a storage node: resyncs SYNCING successors (docs/3fs-notes.md §2.8, docs/design.md §4).
//
// When this node's target of a chain is SERVING and the next target that receives writes is
// SYNCING (a returning replica placed at the tail by the manager), this node is its predecessor:
// new writes already reach the successor as full-chunk replaces (chain-replicator.ts); this worker
// copies the rest. It pages through the successor's chunk metadata (Storage.DumpChunkMeta) and its
// own, merged in key order, and for every chunk that differs — only here, only there, another
// version, length or CRC, or a pending update there — takes the chunk lock, reads its committed
// state afresh and sends a full-chunk REPLACE with the committed version (or a REMOVE), marked
// `sync`. Then it sends Storage.SyncDone; the successor reports the target UPTODATE and the manager
// makes it SERVING.
//
// Guarantees: a copy is made under the chunk lock from this node's committed state, so it cannot
// overtake or undo a write of the same chunk; the scan starts only after every update this node
// admitted before (perhaps under an older chain version, with no successor) let go of its chunk
// lock, so none commits here unseen by the scan; each copy re-checks the chain version and the
// successor, and a chain change aborts the run (the next round starts over under the new version
// — only what still differs is copied); a failed run is retried next round; memory is bounded by
// one page of each dump and `concurrency` copies in flight. The check runs on
// common/periodic-loop.ts (at start, then every `intervalMs`; a failing check is logged and the
// loop goes on); close() stops the loop, aborts the resyncs and waits for them.
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Clock } from '../common/clock.js';
import { CHUNK_SIZE_MAX_BYTES } from '../common/constants.js';
import { crc32c } from '../common/crc32c.js';
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import { PeriodicLoop } from '../common/periodic-loop.js';
import { callUnary } from '../common/rpc.js';
import {
  PublicTargetState,
  UpdateType,
  type ChunkMeta,
  type ResyncProgress,
  type StorageClient,
} from '../proto/index.js';
import type { ChainResolver } from './chain-resolver.js';
import type { ChunkInfo } from './chunk-engine/chunk-engine.js';
import type { KeyedLocks } from './chunk-locks.js';
import { DUMP_CHUNK_META_LIMIT_DEFAULT } from './constants.js';
import type { PeerClients } from './peer-clients.js';
import { chunkLockKey, damagedChunkOf } from './resync-receiver.js';
import type { ChainView } from './routing-view.js';
import type { RoutingView } from './routing-view.js';
import type { StorageTarget } from './target.js';

/** Chains resynced at once by one node (each copies `concurrency` chunks at a time). */
const RESYNC_CHAINS_CONCURRENT_MAX = 4;
/** Finished resync records kept for the heartbeat report (the newest per successor target). */
const RESYNC_RECORDS_MAX = 256;

export interface ResyncWorkerDeps {
  routing: RoutingView;
  resolver: ChainResolver;
  target(targetId: number): StorageTarget | undefined;
  locks: KeyedLocks;
  peers: PeerClients;
  clock: Clock;
  logger: Logger;
  registry?: Registry;
  /** Period of the check for syncing successors. */
  intervalMs: number;
  /** Chunk copies in flight per resync. */
  concurrency: number;
  /** Deadline of one call to the successor. */
  callTimeoutMs: number;
  /** False while the node's lease with the manager is stale: it copies nothing then. */
  mayServe(): boolean;
}

class ResyncMetrics {
  readonly active: Gauge;
  readonly runs: Counter<'result'>;
  readonly chunks: Counter<'action'>;
  readonly bytes: Counter;
  readonly seconds: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.active = new Gauge({
      name: 'spindle_storage_resync_active',
      help: 'Resyncs this node runs now as a predecessor',
      registers,
    });
    this.runs = new Counter({
      name: 'spindle_storage_resync_runs_total',
      help: 'Finished resyncs by result (done, failed, aborted)',
      labelNames: ['result'],
      registers,
    });
    this.chunks = new Counter({
      name: 'spindle_storage_resync_chunks_total',
      help: 'Chunks handled by resyncs (copied, removed, unchanged, damaged: copied failing its checksum)',
      labelNames: ['action'],
      registers,
    });
    this.bytes = new Counter({
      name: 'spindle_storage_resync_bytes_total',
      help: 'Bytes copied to syncing successors',
      registers,
    });
    this.seconds = new Histogram({
      name: 'spindle_storage_resync_duration_seconds',
      help: 'Duration of completed resyncs',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers,
    });
  }
}

/** A run aborted because the chain changed under it (not a failure: the next round starts over). */
class ChainChanged extends Error {}

interface Job {
  /** chain/version/successor: a change of any of them is a new job. */
  key: string;
  running: boolean;
  done: boolean;
  progress: ResyncProgress;
}

type Action = 'copy' | 'remove' | 'unchanged';

/** What to do with a chunk, from this node's and the successor's metadata. */
export function resyncAction(local: ChunkInfo | undefined, remote: ChunkMeta | undefined): Action {
  if (local === undefined) return remote === undefined ? 'unchanged' : 'remove';
  if (remote === undefined) return 'copy';
  const same =
    local.commitVersion === remote.commitVersion &&
    remote.updateVersion === remote.commitVersion &&
    local.length === remote.length &&
    local.crc32c === remote.crc32c;
  return same ? 'unchanged' : 'copy';
}

function compareChunks(a: { ino: number; index: number }, b: { ino: number; index: number }): number {
  return a.ino !== b.ino ? a.ino - b.ino : a.index - b.index;
}

export class ResyncWorker {
  private readonly jobs = new Map<number, Job>();
  private readonly finished = new Map<number, ResyncProgress>();
  private readonly runs = new Set<Promise<void>>();
  private readonly metrics: ResyncMetrics | undefined;
  /** Runs checkOnce; its signal also aborts the resyncs (which outlive a check). */
  private readonly loop: PeriodicLoop;

  constructor(private readonly deps: ResyncWorkerDeps) {
    this.metrics = deps.registry === undefined ? undefined : new ResyncMetrics(deps.registry);
    this.loop = new PeriodicLoop({
      intervalMs: deps.intervalMs,
      pass: () => this.checkOnce(),
      clock: deps.clock,
      logger: deps.logger,
      failureMessage: 'resync check failed',
      failureLevel: 'error',
      passAtStart: true,
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Progress of running and recently finished resyncs (reported in heartbeats). */
  progress(): ResyncProgress[] {
    const out = new Map(this.finished);
    for (const job of this.jobs.values()) out.set(job.progress.targetId, job.progress);
    return [...out.values()].map((p) => ({ ...p }));
  }

  /** One round: starts a resync for each chain whose successor is syncing (also used by tests). */
  checkOnce(): void {
    if (!this.deps.mayServe() || this.loop.signal.aborted) return;
    let running = [...this.jobs.values()].filter((j) => j.running).length;
    for (const view of this.deps.routing.chainsHosted()) {
      const successor = view.successor;
      if (
        view.localState !== PublicTargetState.SERVING ||
        successor === undefined ||
        successor.state !== PublicTargetState.SYNCING
      ) {
        if (!this.jobs.get(view.chainId)?.running) this.jobs.delete(view.chainId);
        continue;
      }
      const key = `${view.chainId}/${view.chainVersion}/${successor.targetId}`;
      const job = this.jobs.get(view.chainId);
      if (job !== undefined && (job.running || (job.key === key && job.done))) continue;
      if (running >= RESYNC_CHAINS_CONCURRENT_MAX) break;
      running++;
      this.startJob(view, key);
    }
  }

  private startJob(view: ChainView, key: string): void {
    const nowUs = this.deps.clock.nowUs();
    const job: Job = {
      key,
      running: true,
      done: false,
      progress: {
        chainId: view.chainId,
        chainVersion: view.chainVersion,
        targetId: view.successor!.targetId,
        fromTargetId: view.localTargetId,
        chunksScanned: 0,
        chunksCopied: 0,
        chunksRemoved: 0,
        bytesCopied: 0,
        done: false,
        startedUs: nowUs,
        updatedUs: nowUs,
      },
    };
    this.jobs.set(view.chainId, job);
    this.metrics?.active.inc();
    const stopTimer = this.metrics?.seconds.startTimer();
    const log = this.deps.logger.child({
      chainId: view.chainId,
      chainVersion: view.chainVersion,
      successor: view.successor!.targetId,
    });
    log.info('resync of a syncing successor started');
    const run = this.resync(view, job)
      .then(
        () => {
          job.done = true;
          job.progress.done = true;
          stopTimer?.();
          this.metrics?.runs.inc({ result: 'done' });
          const p = job.progress;
          log.info(
            {
              scanned: p.chunksScanned,
              copied: p.chunksCopied,
              removed: p.chunksRemoved,
              bytes: p.bytesCopied,
              ms: Math.round((this.deps.clock.nowUs() - p.startedUs) / 1000),
            },
            'resync done; successor told',
          );
          this.finished.set(p.targetId, { ...p });
          while (this.finished.size > RESYNC_RECORDS_MAX) this.finished.delete(this.finished.keys().next().value!);
        },
        (err: unknown) => {
          if (err instanceof ChainChanged) {
            this.metrics?.runs.inc({ result: 'aborted' });
            log.info({ reason: err.message }, 'resync stopped: the chain changed; the next round starts over');
          } else {
            this.metrics?.runs.inc({ result: 'failed' });
            if (!this.loop.signal.aborted)
              log.warn({ err: asSpindleError(err).message }, 'resync failed; retrying next round');
          }
          // Not done: the next round runs it again (from the start, copying only what differs).
          this.jobs.delete(view.chainId);
        },
      )
      .finally(() => {
        job.running = false;
        job.progress.updatedUs = this.deps.clock.nowUs();
        this.metrics?.active.dec();
        this.runs.delete(run);
      });
    this.runs.add(run);
  }

  /** The chain as it is now, if this run may go on (same version, same syncing successor). */
  private current(admitted: ChainView): ChainView {
    let view: ChainView;
    try {
      view = this.deps.resolver.recheck(admitted.chainId, admitted.chainVersion);
    } catch (err) {
      throw new ChainChanged(asSpindleError(err).message);
    }
    if (
      view.successor?.targetId !== admitted.successor!.targetId ||
      view.successor.state !== PublicTargetState.SYNCING
    ) {
      throw new ChainChanged(`successor of chain ${admitted.chainId} changed`);
    }
    if (this.loop.signal.aborted) throw new SpindleError(ErrorCode.CANCELLED, 'storage node is closing');
    return view;
  }

  private async resync(view: ChainView, job: Job): Promise<void> {
    const target = this.deps.target(view.localTargetId);
    if (target === undefined)
      throw new SpindleError(ErrorCode.TARGET_NOT_FOUND, `target ${view.localTargetId} is not open`);
    const successor = view.successor!;
    const client = this.deps.peers.get(successor.address);
    const signal = this.loop.signal;
    const timeoutMs = this.deps.callTimeoutMs;

    // An update this node admitted under an older chain version — when it had no successor, as the
    // chain's last writing target — may still be in flight: it commits here without reaching the
    // new successor, and a chunk it creates or changes may look equal on both sides while it is
    // pending (the simulator found it: docs/simulation.md, seeds 2566 and 3254). Routing already
    // names the syncing successor, so every update admitted from now on forwards to it (a chunk
    // lock holder rechecks the chain version); wait for those admitted before to finish first.
    const draining = this.deps.locks.drain(`${target.targetId}/`, signal);
    if (draining !== undefined) {
      await draining;
      this.current(view);
    }

    // The successor's metadata, page by page.
    let remotePage: ChunkMeta[] = [];
    let remoteIndex = 0;
    let remoteMore = true;
    let remoteAfter: { ino: number; index: number } | undefined;
    const peekRemote = async (): Promise<ChunkMeta | undefined> => {
      while (remoteIndex >= remotePage.length && remoteMore) {
        const response = await callUnary(
          client,
          client.dumpChunkMeta,
          {
            chainId: view.chainId,
            chainVersion: view.chainVersion,
            after: remoteAfter,
            limit: DUMP_CHUNK_META_LIMIT_DEFAULT,
            ino: 0,
          },
          `storage.DumpChunkMeta of target ${successor.targetId}`,
          { timeoutMs, signal },
        );
        remotePage = response.chunks;
        remoteIndex = 0;
        remoteMore = response.hasMore && response.chunks.length > 0;
        if (response.chunks.length > 0) remoteAfter = response.chunks[response.chunks.length - 1]!.chunk;
      }
      return remotePage[remoteIndex];
    };
    // This node's metadata, page by page (committed state; copies re-read it under the lock).
    let localPage: ChunkInfo[] = [];
    let localIndex = 0;
    let localMore = true;
    let localAfter: { ino: number; index: number } | undefined;
    const peekLocal = (): ChunkInfo | undefined => {
      while (localIndex >= localPage.length && localMore) {
        const page = target.engine.dump({ after: localAfter, limit: DUMP_CHUNK_META_LIMIT_DEFAULT });
        localPage = page.chunks;
        localIndex = 0;
        localMore = page.hasMore && page.chunks.length > 0;
        if (page.chunks.length > 0) localAfter = page.chunks[page.chunks.length - 1]!;
      }
      return localPage[localIndex];
    };

    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    const launch = (chunk: { ino: number; index: number }) => {
      const copy = this.copyChunk(view, target, client, chunk, job).catch((err: unknown) => {
        failure ??= err;
      });
      const tracked = copy.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };
    for (;;) {
      if (failure !== undefined) break;
      this.current(view);
      const remote = await peekRemote();
      const local = peekLocal();
      if (remote === undefined && local === undefined) break;
      const order = remote === undefined ? -1 : local === undefined ? 1 : compareChunks(local, remote.chunk!);
      const localRow = order <= 0 ? local : undefined;
      const remoteRow = order >= 0 ? remote : undefined;
      if (order <= 0) localIndex++;
      if (order >= 0) remoteIndex++;
      job.progress.chunksScanned++;
      const action = resyncAction(localRow, remoteRow);
      if (action === 'unchanged') {
        this.metrics?.chunks.inc({ action: 'unchanged' });
        continue;
      }
      const chunk =
        localRow !== undefined
          ? { ino: localRow.ino, index: localRow.index }
          : { ino: remoteRow!.chunk!.ino, index: remoteRow!.chunk!.index };
      while (inFlight.size >= Math.max(1, this.deps.concurrency)) await Promise.race(inFlight);
      launch(chunk);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;

    const current = this.current(view);
    await callUnary(
      client,
      client.syncDone,
      {
        chainId: current.chainId,
        chainVersion: current.chainVersion,
        targetId: successor.targetId,
        fromTargetId: current.localTargetId,
        // Records of the chunks found equal too (the successor may have lost them in a crash): K2.
        channelRecords: { records: target.channels?.ofChain(current.chainId) ?? [] },
      },
      `storage.SyncDone to target ${successor.targetId}`,
      { timeoutMs, signal },
    );
  }

  /** Copies (or removes) one chunk under its lock, from this node's committed state. */
  private async copyChunk(
    admitted: ChainView,
    target: StorageTarget,
    client: StorageClient,
    chunk: { ino: number; index: number },
    job: Job,
  ): Promise<void> {
    const signal = this.loop.signal;
    await this.deps.locks.withLock(
      chunkLockKey(target.targetId, chunk.ino, chunk.index),
      async () => {
        const view = this.current(admitted);
        const committed = target.engine.committed(chunk.ino, chunk.index);
        const base = {
          chainId: view.chainId,
          chainVersion: view.chainVersion,
          chunk,
          offset: 0,
          chunkSizeBytes: CHUNK_SIZE_MAX_BYTES,
          fromTargetId: view.localTargetId,
          sync: true,
        };
        if (committed === undefined) {
          await callUnary(
            client,
            client.update,
            { ...base, type: UpdateType.REMOVE, data: Buffer.alloc(0), dataCrc32c: 0, updateVersion: 1 },
            `storage.Update (resync remove) to target ${admitted.successor!.targetId}`,
            { timeoutMs: this.deps.callTimeoutMs, signal },
          );
          job.progress.chunksRemoved++;
          this.metrics?.chunks.inc({ action: 'removed' });
        } else {
          const copy = await target.engine.readForCopy(chunk.ino, chunk.index);
          const data = copy?.data ?? Buffer.alloc(0);
          // This copy fails its checksum, and no serving peer has a good one (else the repair that
          // the scrub or a read started would have used it). Stopping here kept the chain stuck
          // without the replicas that may hold a good copy; instead the successor gets the bytes
          // under their recorded checksums: it fails the same reads, never serves wrong bytes, and
          // a replica with a good copy repairs both once it serves.
          const damaged = damagedChunkOf(copy?.damaged);
          if (damaged !== undefined) {
            this.deps.logger.error(
              { chainId: view.chainId, ino: chunk.ino, index: chunk.index, version: committed.commitVersion },
              'resync source chunk fails its checksum: copied as damaged (reads fail until a good copy repairs it)',
            );
            this.metrics?.chunks.inc({ action: 'damaged' });
          }
          const dataCrc32c = crc32c(data);
          const response = await callUnary(
            client,
            client.update,
            {
              ...base,
              type: UpdateType.REPLACE,
              data,
              dataCrc32c,
              updateVersion: committed.commitVersion,
              // The records of writes to this chunk travel with it (resync-receiver.ts, K2).
              channelRecords: { records: target.channels?.ofChunk(chunk.ino, chunk.index) ?? [] },
              damaged,
            },
            `storage.Update (resync copy) to target ${admitted.successor!.targetId}`,
            { timeoutMs: this.deps.callTimeoutMs, signal },
          );
          if (
            response.commitVersion === committed.commitVersion &&
            (response.chunkCrc32c !== committed.crc32c || response.length !== committed.length)
          ) {
            throw new SpindleError(
              ErrorCode.CHECKSUM_MISMATCH,
              `resync copy of chunk ${chunk.index} of inode ${chunk.ino} ` +
                `landed with CRC ${response.chunkCrc32c}/${response.length} bytes, ` +
                `expected ${committed.crc32c}/${committed.length}`,
            );
          }
          job.progress.chunksCopied++;
          job.progress.bytesCopied += data.length;
          this.metrics?.chunks.inc({ action: 'copied' });
          this.metrics?.bytes.inc(data.length);
        }
        job.progress.updatedUs = this.deps.clock.nowUs();
      },
      signal,
    );
  }

  /** Stops the loop and waits for the runs in flight to stop. Idempotent. */
  async close(): Promise<void> {
    await this.loop.stop();
    await Promise.allSettled([...this.runs]);
  }
}
