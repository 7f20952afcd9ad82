// The GC queue, as the cluster manager's collector sees it. When the last link of a file goes
// away (unlink, rename over it, recursive remove), the same transaction moves its inode from INOD
// to GCQU (store.ts `queueForGc`). The collector lists the queue oldest first, removes each file's
// chunks from storage (StoragePort.removeChunks), then calls `completeGc` to drop the record.
//
// Until then the chunks stay readable: a client that still has the file open keeps reading (and
// may keep writing and syncing: Sync and stat-by-inode find the queued record). The collector
// decides how long to wait (`queuedAtUs` + its configured delay) before removing chunks.
import type { KvEngine } from '../kv/engine.js';
import type { Layout } from '../../proto/index.js';
import { decodeGcRecord, gcOrderIno, gcOrderKey, gcOrderRange, gcRecordKey } from './schema.js';

export interface GcQueueEntry {
  ino: number;
  layout: Layout;
  /** The file's length when it was queued (or as synced since by a writer that still had it open). */
  length: number;
  /** When the last link went away, µs since the epoch. */
  queuedAtUs: number;
}

export interface ListGcQueueOptions {
  /** Only entries queued before this time (µs): lets the collector apply its delay in the scan. */
  queuedBeforeUs?: number;
}

/** Up to `limit` queued files, oldest first. */
export async function listGcQueue(
  kv: KvEngine,
  limit: number,
  options: ListGcQueueOptions = {},
): Promise<GcQueueEntry[]> {
  if (!(limit > 0)) return [];
  return kv.transaction(
    async (txn) => {
      const range = gcOrderRange();
      const end = options.queuedBeforeUs === undefined ? range.end : gcOrderKey(Math.max(0, options.queuedBeforeUs), 0);
      const pairs = await txn.getRange(range.start, end, { limit });
      const entries: GcQueueEntry[] = [];
      for (const pair of pairs) {
        const ino = gcOrderIno(pair.key);
        const bytes = await txn.get(gcRecordKey(ino));
        if (bytes === undefined) continue;
        const record = decodeGcRecord(bytes);
        entries.push({
          ino,
          layout: record.inode.layout ?? emptyLayout(),
          length: record.inode.size,
          queuedAtUs: record.queuedAtUs,
        });
      }
      return entries;
    },
    { readOnly: true },
  );
}

/** Drops a queued file for good (its chunks are gone). A no-op when it is not queued. */
export async function completeGc(kv: KvEngine, ino: number): Promise<void> {
  await kv.transaction(async (txn) => {
    const key = gcRecordKey(ino);
    const bytes = await txn.get(key);
    if (bytes === undefined) return;
    const record = decodeGcRecord(bytes);
    txn.delete(key);
    txn.delete(gcOrderKey(record.queuedAtUs, ino));
  });
}

function emptyLayout(): Layout {
  return { chunkSizeBytes: 0, stripeWidth: 0, chainTableId: 0, chainTableVersion: 0, chainBase: 0, shuffleSeed: 0 };
}
