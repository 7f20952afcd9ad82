// Repair of a bad local replica (issue 15; as HDFS reportBadBlocks + re-replication). When a read of
// a local chunk fails its checksum — a client's read or the scrubber's — the node that holds the
// chunk fetches the same committed version from another serving replica of the chain, checks it
// against the chunk's recorded CRC32C (the metadata is intact; the block is not), and rewrites the
// chunk into a fresh block under the chunk lock (the bad block goes back to the free map). The
// client itself has already failed over to another replica (client/chunk-reads.ts).
//
// Guarantees: a repair never changes a chunk's content, version or length — it only replaces bytes
// that failed their check with bytes that pass the same check; it runs under the chunk lock, so it
// cannot race a write of the chunk (a chunk whose version moved on is left alone: the write
// replaced the bad block anyway); one repair per chunk at a time; failures are logged and counted,
// the next read or scrub tries again.
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../common/clock.js';
import { crc32c } from '../common/crc32c.js';
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import { callUnary } from '../common/rpc.js';
import { UpdateType } from '../proto/index.js';
import type { KeyedLocks } from './chunk-locks.js';
import type { PeerClients } from './peer-clients.js';
import { chunkLockKey } from './resync-receiver.js';
import type { RoutingView } from './routing-view.js';
import type { StorageTarget } from './target.js';

const REPAIR_TIMEOUT_MS = 10_000;
/** Repairs remembered for `spindle admin scrub` (newest last). */
const REPAIR_RECORDS_MAX = 64;

export interface RepairRecord {
  targetId: number;
  ino: number;
  index: number;
  commitVersion: number;
  /** Who found it: a read, or the scrubber. */
  foundBy: 'read' | 'scrub';
  /**
   * 'repaired' from `fromTarget`; 'lost' when no serving replica holds a good copy of this version
   * (every one answered, with a bad copy or another version; or there is none) — reads of the chunk
   * fail until a replica with a good copy serves again; 'failed' (a peer did not answer) or 'skipped'
   * with `error`.
   */
  outcome: 'repaired' | 'failed' | 'skipped' | 'lost';
  fromTarget?: number;
  error?: string;
  atMs: number;
}

export interface ChunkRepairDeps {
  routing: RoutingView;
  peers: PeerClients;
  locks: KeyedLocks;
  /** Stamps the repair records (the simulator's clock there, so a seed replays them too). */
  clock: Clock;
  logger: Logger;
  registry?: Registry;
}

export class ChunkRepairer {
  private readonly running = new Map<string, Promise<void>>();
  readonly records: RepairRecord[] = [];
  /** Repairs since start, by outcome (for `spindle admin scrub`; `failed` counts lost ones too). */
  readonly totals = { repaired: 0, failed: 0 };
  private readonly repairs: Counter<'outcome' | 'found_by'> | undefined;

  constructor(private readonly deps: ChunkRepairDeps) {
    this.repairs =
      deps.registry === undefined
        ? undefined
        : new Counter({
            name: 'spindle_storage_corrupt_chunk_repairs_total',
            help: 'Local chunks that failed their checksum, by who found them and what the repair did',
            labelNames: ['outcome', 'found_by'],
            registers: [deps.registry],
          });
  }

  /** Starts a repair of a local chunk found corrupt (at most one per chunk runs); never throws. */
  report(target: StorageTarget, chainId: number, ino: number, index: number, foundBy: 'read' | 'scrub'): Promise<void> {
    const key = chunkLockKey(target.targetId, ino, index);
    let run = this.running.get(key);
    if (run === undefined) {
      run = this.repair(target, chainId, ino, index, foundBy).finally(() => this.running.delete(key));
      this.running.set(key, run);
    }
    return run;
  }

  /** Waits for the repairs in flight (close). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private async repair(
    target: StorageTarget,
    chainId: number,
    ino: number,
    index: number,
    foundBy: 'read' | 'scrub',
  ): Promise<void> {
    const record: RepairRecord = {
      targetId: target.targetId,
      ino,
      index,
      commitVersion: 0,
      foundBy,
      outcome: 'failed',
      atMs: this.deps.clock.nowMs(),
    };
    const log = this.deps.logger.child({ targetId: target.targetId, chainId, ino, index, foundBy });
    log.warn('local chunk failed its checksum: repairing it from another replica');
    try {
      await this.deps.locks.withLock(chunkLockKey(target.targetId, ino, index), async () => {
        const meta = target.engine.committed(ino, index);
        if (meta === undefined) {
          record.outcome = 'skipped';
          record.error = 'the chunk is gone';
          return;
        }
        if (target.engine.pendingOf(ino, index) !== undefined) {
          // A write of the chunk is in flight (its pending version must not be dropped); it
          // replaces the bad block when it commits, or the next read or scrub repairs it.
          record.outcome = 'skipped';
          record.error = 'a write of the chunk is in flight';
          return;
        }
        record.commitVersion = meta.commitVersion;
        const view = this.deps.routing.chain(chainId);
        const errors: string[] = [];
        /** A peer that did not answer may hold a good copy: then the chunk is not known to be lost. */
        let unanswered = false;
        for (const peer of this.deps.routing.servingPeers(chainId)) {
          if (peer.address === undefined) continue;
          try {
            const client = this.deps.peers.get(peer.address);
            const response = await callUnary(
              client,
              client.batchRead,
              {
                ios: [
                  {
                    chainId,
                    chainVersion: view?.chainVersion ?? 0,
                    chunk: { ino, index },
                    offset: 0,
                    length: meta.length,
                  },
                ],
              },
              `storage.BatchRead (repair) of target ${peer.targetId}`,
              { timeoutMs: REPAIR_TIMEOUT_MS },
            );
            const result = response.results[0];
            if (result === undefined || result.status?.code !== ErrorCode.OK) {
              const code =
                result?.status?.code === ErrorCode.CHUNK_CORRUPT ? ErrorCode.CHUNK_CORRUPT : ErrorCode.INTERNAL;
              throw new SpindleError(code, result?.status?.message ?? 'no result');
            }
            const data = Buffer.from(result.data);
            if (result.commitVersion !== meta.commitVersion || data.length !== meta.length) {
              throw new SpindleError(
                ErrorCode.INTERNAL,
                `holds v${result.commitVersion} (${data.length} bytes), this replica v${meta.commitVersion}`,
              );
            }
            const crc = crc32c(data);
            if (crc !== meta.crc32c) throw new SpindleError(ErrorCode.CHUNK_CORRUPT, 'its copy fails the CRC too');
            await target.engine.applyUpdate(ino, index, meta.commitVersion, {
              type: UpdateType.REPLACE,
              offset: 0,
              data,
              dataCrc32c: crc,
            });
            await target.engine.commit(ino, index, meta.commitVersion, meta.chainVersion);
            record.outcome = 'repaired';
            record.fromTarget = peer.targetId;
            return;
          } catch (err) {
            target.engine.abort(ino, index);
            const error = asSpindleError(err);
            // A bad copy, or another version (an INTERNAL built above): an answer, not a good copy.
            if (error.errorCode !== ErrorCode.CHUNK_CORRUPT && error.errorCode !== ErrorCode.INTERNAL)
              unanswered = true;
            errors.push(`target ${peer.targetId}: ${error.message}`);
          }
        }
        if (!unanswered) record.outcome = 'lost';
        record.error =
          errors.length === 0
            ? 'no other serving replica: no good copy until one returns'
            : `${unanswered ? '' : 'no good copy on any serving replica: '}${errors.join('; ')}`;
      });
    } catch (err) {
      record.error = asSpindleError(err).message;
    }
    if (record.outcome === 'repaired') log.warn({ fromTarget: record.fromTarget }, 'chunk repaired');
    else if (record.outcome === 'failed') log.error({ error: record.error }, 'chunk repair failed');
    else if (record.outcome === 'lost')
      log.error({ error: record.error }, 'chunk lost: no serving replica holds a good copy; its reads fail');
    this.repairs?.inc({ outcome: record.outcome, found_by: foundBy });
    if (record.outcome === 'repaired') this.totals.repaired++;
    if (record.outcome === 'failed' || record.outcome === 'lost') this.totals.failed++;
    this.records.push(record);
    if (this.records.length > REPAIR_RECORDS_MAX) this.records.shift();
  }
}
