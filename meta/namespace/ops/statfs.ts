// StatFs: capacity and free bytes from the cluster view (target capacity divided by the replica
// count), used bytes (sum of file lengths) and inode count from the sharded usage counters.
import type { StatFsResponse } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { decodeUsage, usageRange } from '../schema.js';
import { USAGE_SHARDS } from '../constants.js';

export async function statFs(ctx: NamespaceContext, signal?: AbortSignal): Promise<StatFsResponse> {
  const usage = await ctx.deps.kv.transaction(
    async (txn) => {
      const range = usageRange();
      const pairs = await txn.getRange(range.start, range.end, { limit: USAGE_SHARDS * 2 });
      const total = { inodes: 0, bytes: 0 };
      for (const pair of pairs) {
        const shard = decodeUsage(pair.value);
        total.inodes += shard.inodes;
        total.bytes += shard.bytes;
      }
      return total;
    },
    { readOnly: true, signal },
  );
  const capacity = ctx.deps.cluster.capacity();
  return {
    capacityBytes: Math.max(0, capacity.capacityBytes),
    usedBytes: Math.max(0, usage.bytes),
    freeBytes: Math.max(0, capacity.freeBytes),
    inodes: Math.max(0, usage.inodes),
  };
}
