// The orphan sweep's safety rule on a memory KV and a manual clock: chunks of an id below the first
// inode id go at once; those of an id below the counter go only once the counter snapshot that
// covers it is the safe age old, and only if no inode and no GC record has that id; ids at or above
// the old counter (a create may still take them) stay however long they are orphans.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.js';
import type { ChunkId, Layout, RoutingInfo } from '../proto/index.js';
import { createMemoryEngine } from './kv/memory-engine.js';
import { encodeU64, gcRecordKey, inodeCounterKey, inodeKey } from './namespace/schema.js';
import { OrphanSweeper } from './orphan-sweeper.js';

const SAFE_AGE_MS = 60_000;

/** One chain of one table holding chunk 0 of each of `inos`; removals drop them. */
function fakeStorage(inos: number[]) {
  const held = new Set(inos);
  return {
    held,
    async listChunks(_chainId: number, after: ChunkId | undefined) {
      const chunks = [...held]
        .sort((a, b) => a - b)
        .filter((ino) => after === undefined || ino > after.ino)
        .map((ino) => ({ ino, index: 0 }));
      return { chunks, hasMore: false };
    },
    async removeChunks(ino: number, _layout: Layout) {
      held.delete(ino);
    },
    async truncateFile() {},
    async queryLength() {
      return 0;
    },
  };
}

const ROUTING = { chains: [{ chainId: 1 }], chainTables: [{ tableId: 1, version: 1, chainIds: [1] }] } as RoutingInfo;

describe('OrphanSweeper', () => {
  it('removes only chunks of ids that can never be a live file', async () => {
    const kv = createMemoryEngine();
    const clock = new ManualClock(1_000_000);
    // Ids 16..99 handed out so far; 20 is a file, 30 was deleted and waits in the GC queue.
    await kv.transaction(async (txn) => {
      txn.put(inodeCounterKey(), encodeU64(100));
      txn.put(inodeKey(20), Buffer.from('inode'));
      txn.put(gcRecordKey(30), Buffer.from('queued'));
    });
    const storage = fakeStorage([0, 7, 20, 30, 40, 150]);
    const sweeper = new OrphanSweeper({
      kv,
      storage,
      routing: () => ROUTING,
      intervalMs: 1_000,
      safeAgeMs: SAFE_AGE_MS,
      clock,
    });
    try {
      // No counter snapshot is old enough yet: only the reserved ids go.
      expect((await sweeper.runOnce()).removed).toBe(2);
      expect([...storage.held].sort((a, b) => a - b)).toEqual([20, 30, 40, 150]);
      // Meanwhile ids up to 199 are handed out and 150 becomes a file: its chunks were written first.
      await kv.transaction(async (txn) => {
        txn.put(inodeCounterKey(), encodeU64(200));
        txn.put(inodeKey(150), Buffer.from('inode'));
      });
      clock.advance(SAFE_AGE_MS);
      // The first snapshot (counter 100) is old enough: 40 (below it, no inode, not queued) goes.
      expect((await sweeper.runOnce()).removed).toBe(1);
      expect([...storage.held].sort((a, b) => a - b)).toEqual([20, 30, 150]);
      // 150 deleted and collected, then a late write leaves a chunk: gone once 200 is the safe floor.
      await kv.transaction(async (txn) => txn.delete(inodeKey(150)));
      expect((await sweeper.runOnce()).removed).toBe(0);
      clock.advance(SAFE_AGE_MS);
      expect((await sweeper.runOnce()).removed).toBe(1);
      expect([...storage.held].sort((a, b) => a - b)).toEqual([20, 30]);
    } finally {
      await sweeper.close();
      await kv.close();
    }
  });
});
