// The orphan sweep: chunks on storage that no file owns (written for inode 0, for a reserved id,
// or for a file that was deleted and collected before a late write landed) are found and removed,
// as HDFS removes blocks its block reports name but no file holds. A background loop pages through
// each chain's chunk metadata (its head's DumpChunkMeta), a bounded number of pages per pass, and
// removes the chunks of every inode that provably can never be a live file's:
// - an id below INODE_ID_FIRST (0 and the reserved ids: never allocated), or
// - an id below the inode counter as it was INODE_ID_RESERVATION_TTL_MS + a margin ago (every id
//   below it was handed out or dropped since: meta/namespace/inode-ids.ts) that names no inode and
//   is not in the GC queue (checked in one read transaction after the chunk was seen).
// Ids at or above that counter value are left alone: a create may still take them.
//
// Guarantees: a chunk of a live inode is never removed (a file created after the check has an id
// above the safe floor); each pass reads at most ORPHAN_PAGES_PER_PASS pages of ORPHAN_PAGE_CHUNKS
// rows and removes at most that many inodes' chunks; a failed removal is logged and found again in
// a later sweep of that chain. Rounds never overlap (common/periodic-loop.ts); close() is idempotent.
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { systemClock, type Clock } from '../common/clock.js';
import { asSpindleError } from '../common/errors.js';
import { silentLogger } from '../common/logger.js';
import { PeriodicLoop } from '../common/periodic-loop.js';
import type { ChunkId, Layout, RoutingInfo } from '../proto/index.js';
import type { KvEngine } from './kv/engine.js';
import { INODE_ID_FIRST, INODE_ID_RESERVATION_TTL_MS } from './namespace/constants.js';
import { decodeU64, gcRecordKey, inodeCounterKey, inodeKey } from './namespace/schema.js';
import type { StoragePort } from './storage-port.js';

/** Rows per DumpChunkMeta page (the storage node caps it too). */
const ORPHAN_PAGE_CHUNKS = 1024;
/** Pages read per pass, over all chains: bounds a pass's cost whatever the cluster's size. */
const ORPHAN_PAGES_PER_PASS = 16;
/** Past the reservation TTL: covers transactions in flight with a reserved id and clock skew. */
const ORPHAN_SAFETY_MARGIN_MS = 2 * 60_000;
/** Counter snapshots kept (one per pass); older ones than the safe age are pruned anyway. */
const COUNTER_SNAPSHOTS_MAX = 4096;
/** Any valid chunk size: removing chunks does not depend on it. */
const ANY_CHUNK_SIZE_BYTES = 64 * 1024;

/** What the sweep needs from storage besides removing chunks: listing what a chain holds. */
interface ChunkListing {
  listChunks(
    chainId: number,
    after: ChunkId | undefined,
    limit: number,
    options?: { signal?: AbortSignal },
  ): Promise<{ chunks: ChunkId[]; hasMore: boolean }>;
}

export interface OrphanSweeperOptions {
  kv: KvEngine;
  storage: StoragePort & ChunkListing;
  /** The current routing (chains and chain tables). */
  routing: () => RoutingInfo | undefined;
  intervalMs: number;
  /** Age of the counter snapshot whose value is the safe floor (default: the reservation TTL + margin). */
  safeAgeMs?: number;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
}

export interface OrphanPassResult {
  /** Chunk rows read. */
  scanned: number;
  /** Inodes whose chunks were removed. */
  removed: number;
  /** Inodes that were orphans but whose removal failed. */
  failed: number;
}

export class OrphanSweeper {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly loop: PeriodicLoop<OrphanPassResult>;
  /** (time, inode counter) per pass, oldest first. */
  private readonly snapshots: Array<{ atMs: number; counter: number }> = [];
  /** Where the sweep of each chain goes on (undefined: from its first chunk). */
  private readonly cursors = new Map<number, ChunkId | undefined>();
  private chainTurn = 0;
  private readonly removedTotal: Counter | undefined;

  constructor(private readonly options: OrphanSweeperOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'meta.orphans' });
    this.loop = new PeriodicLoop({
      intervalMs: options.intervalMs,
      pass: (signal) => this.pass(signal),
      clock: this.clock,
      logger: this.logger,
      failureMessage: 'orphan sweep failed; retrying next round',
    });
    this.removedTotal =
      options.registry &&
      new Counter({
        name: 'spindle_meta_orphan_inodes_removed_total',
        help: 'Inodes no file owns whose chunks the orphan sweep removed from storage.',
        registers: [options.registry],
      });
  }

  start(): void {
    this.loop.start();
  }

  /** One pass now (shared with the loop's). */
  runOnce(): Promise<OrphanPassResult> {
    if (this.loop.state === 'stopped') return Promise.resolve({ scanned: 0, removed: 0, failed: 0 });
    return this.loop.runNow();
  }

  close(): Promise<void> {
    return this.loop.stop();
  }

  private async pass(signal: AbortSignal): Promise<OrphanPassResult> {
    const result: OrphanPassResult = { scanned: 0, removed: 0, failed: 0 };
    const floor = await this.safeFloor();
    const routing = this.options.routing();
    const chains = routing?.chains.map((c) => c.chainId) ?? [];
    if (routing === undefined || chains.length === 0) return result;
    const candidates = new Set<number>();
    // A chain swept to its end is not read again in the same pass.
    const ended = new Set<number>();
    for (let page = 0; page < ORPHAN_PAGES_PER_PASS && ended.size < chains.length && !signal.aborted; page++) {
      const chainId = chains[this.chainTurn++ % chains.length]!;
      if (ended.has(chainId)) continue;
      const after = this.cursors.get(chainId);
      const listed = await this.options.storage.listChunks(chainId, after, ORPHAN_PAGE_CHUNKS, { signal });
      result.scanned += listed.chunks.length;
      for (const chunk of listed.chunks) if (chunk.ino < INODE_ID_FIRST || chunk.ino < floor) candidates.add(chunk.ino);
      const last = listed.chunks[listed.chunks.length - 1];
      const more = listed.hasMore && last !== undefined;
      this.cursors.set(chainId, more ? last : undefined);
      if (!more) ended.add(chainId);
    }
    for (const ino of await this.notLive([...candidates])) {
      if (signal.aborted) break;
      if (await this.remove(ino, routing, signal)) result.removed++;
      else result.failed++;
    }
    if (result.removed > 0 || result.failed > 0) this.logger.info(result, 'orphan sweep pass done');
    return result;
  }

  /**
   * Records this pass's inode counter and returns the counter of the newest snapshot at least the
   * safe age old (INODE_ID_FIRST until there is one): ids below it name an inode or never will.
   */
  private async safeFloor(): Promise<number> {
    const nowMs = this.clock.nowMs();
    const stored = await this.options.kv.transaction((txn) => txn.get(inodeCounterKey()), { readOnly: true });
    this.snapshots.push({ atMs: nowMs, counter: stored === undefined ? INODE_ID_FIRST : decodeU64(stored) });
    const safeAgeMs = this.options.safeAgeMs ?? INODE_ID_RESERVATION_TTL_MS + ORPHAN_SAFETY_MARGIN_MS;
    let floor = INODE_ID_FIRST;
    while (this.snapshots.length > 0 && nowMs - this.snapshots[0]!.atMs >= safeAgeMs) {
      floor = this.snapshots[0]!.counter;
      // Keep the newest old-enough snapshot as the floor of the next passes.
      if (this.snapshots.length > 1 && nowMs - this.snapshots[1]!.atMs >= safeAgeMs) this.snapshots.shift();
      else break;
    }
    if (this.snapshots.length > COUNTER_SNAPSHOTS_MAX) this.snapshots.splice(1, 1);
    return floor;
  }

  /** The inodes among `inos` that name no inode and are not waiting in the GC queue. */
  private notLive(inos: number[]): Promise<number[]> {
    if (inos.length === 0) return Promise.resolve([]);
    return this.options.kv.transaction(
      async (txn) => {
        const orphans: number[] = [];
        for (const ino of inos) {
          if (ino >= INODE_ID_FIRST && (await txn.get(inodeKey(ino))) !== undefined) continue;
          if ((await txn.get(gcRecordKey(ino))) !== undefined) continue;
          orphans.push(ino);
        }
        return orphans;
      },
      { readOnly: true },
    );
  }

  /** Removes the inode's chunks from every chain of every chain table (idempotent). */
  private async remove(ino: number, routing: RoutingInfo, signal: AbortSignal): Promise<boolean> {
    try {
      for (const layout of everyChainLayouts(routing))
        await this.options.storage.removeChunks(ino, layout, 0, { signal });
    } catch (err) {
      if (signal.aborted) return false;
      const error = asSpindleError(err);
      this.logger.warn(
        { ino, code: error.codeName, err: error.message },
        'cannot remove chunks no file owns; next sweep',
      );
      return false;
    }
    this.removedTotal?.inc();
    this.logger.info({ ino }, 'removed chunks no file owns');
    return true;
  }
}

/** One layout per chain table version, covering all of its chains (a chain may be in several). */
function everyChainLayouts(routing: RoutingInfo): Layout[] {
  return routing.chainTables
    .filter((table) => table.chainIds.length > 0)
    .map((table) => ({
      chunkSizeBytes: ANY_CHUNK_SIZE_BYTES,
      stripeWidth: table.chainIds.length,
      chainTableId: table.tableId,
      chainTableVersion: table.version,
      chainBase: 0,
      shuffleSeed: 0,
    }));
}
