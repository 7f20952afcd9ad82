// A target: one directory on one disk, holding one chunk engine; it belongs to exactly one chain
// (learned from routing). Target id = node id × 1000 + local index (common/target-ids.ts).
import { statfs } from 'node:fs/promises';
import { systemClock } from '../common/clock.js';
import { targetIdOf } from '../common/target-ids.js';
import { ChannelRecords } from './channel-records.js';
import type { Logger } from '../common/logger.js';
import { ChunkEngine } from './chunk-engine/chunk-engine.js';
import type { SpaceLimits } from './chunk-engine/space-guard.js';
import { CAPACITY_REFRESH_MS } from './constants.js';

export class StorageTarget {
  private capacity = 0;
  private capacityAtMs = -Infinity;
  private capacityRefresh: Promise<void> | undefined;

  private constructor(
    readonly localIndex: number,
    readonly path: string,
    readonly engine: ChunkEngine,
    public targetId: number,
    /** Last committed write per client channel (exactly-once across head changes). */
    readonly channels: ChannelRecords,
  ) {}

  static async open(
    localIndex: number,
    path: string,
    options: { fsync: boolean; nodeId: number; logger?: Logger; space?: SpaceLimits },
  ): Promise<StorageTarget> {
    const engine = await ChunkEngine.open({
      dir: path,
      fsync: options.fsync,
      logger: options.logger,
      space: options.space,
    });
    let channels: ChannelRecords;
    try {
      channels = await ChannelRecords.open(path, engine.records, { clock: systemClock });
    } catch (err) {
      await engine.close();
      throw err;
    }
    const target = new StorageTarget(localIndex, path, engine, targetIdOf(options.nodeId, localIndex), channels);
    await target.refreshCapacity();
    return target;
  }

  /**
   * The disk capacity from the last statfs, for heartbeats: answered from memory, and refreshed in
   * the background when older than CAPACITY_REFRESH_MS. statfs runs on libuv's threadpool, which
   * block writes and fsyncs keep busy under load; a heartbeat must not queue behind them.
   */
  cachedCapacityBytes(): number {
    if (Date.now() - this.capacityAtMs >= CAPACITY_REFRESH_MS) void this.refreshCapacity();
    return this.capacity;
  }

  private refreshCapacity(): Promise<void> {
    this.capacityRefresh ??= (async () => {
      this.capacity = await this.capacityBytes();
      this.capacityAtMs = Date.now();
    })().finally(() => {
      this.capacityRefresh = undefined;
    });
    return this.capacityRefresh;
  }

  /** Capacity of the disk under the target (0 if unknown). */
  async capacityBytes(): Promise<number> {
    try {
      const stats = await statfs(this.path);
      return stats.blocks * stats.bsize;
    } catch {
      return 0;
    }
  }

  async close(): Promise<void> {
    await this.channels.close();
    await this.engine.close();
  }
}

/** The encoding, for storage-node.ts (a node learns its id at registration). */
export { targetIdOf } from '../common/target-ids.js';
