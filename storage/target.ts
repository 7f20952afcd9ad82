// A target: one directory on one disk, holding one chunk engine; it belongs to exactly one chain
// (learned from routing). Target id = node id × 1000 + local index.
import { statfs } from 'node:fs/promises';
import { TARGETS_PER_NODE_MAX } from '../common/constants.js';
import { ChunkEngine } from './chunk-engine/chunk-engine.js';

export class StorageTarget {
  private constructor(
    readonly localIndex: number,
    readonly path: string,
    readonly engine: ChunkEngine,
    public targetId: number,
  ) {}

  static async open(localIndex: number, path: string, options: { fsync: boolean; nodeId: number }): Promise<StorageTarget> {
    const engine = await ChunkEngine.open({ dir: path, fsync: options.fsync });
    return new StorageTarget(localIndex, path, engine, targetIdOf(options.nodeId, localIndex));
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

  close(): Promise<void> {
    return this.engine.close();
  }
}

export function targetIdOf(nodeId: number, localIndex: number): number {
  return nodeId * TARGETS_PER_NODE_MAX + localIndex;
}
