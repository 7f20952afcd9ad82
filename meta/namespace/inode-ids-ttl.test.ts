// Inode ids reserved longer ago than INODE_ID_RESERVATION_TTL_MS are never handed out (the orphan
// sweep relies on it): after the TTL, a process skips the rest of its batch and ids given back
// from an older lease, and takes a fresh batch.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { createMemoryEngine } from '../kv/memory-engine.js';
import { INODE_ID_BATCH, INODE_ID_FIRST, INODE_ID_RESERVATION_TTL_MS } from './constants.js';
import { InodeIdAllocator } from './inode-ids.js';

describe('InodeIdAllocator reservation TTL', () => {
  it('drops ids of a batch older than the TTL, including ids given back late', async () => {
    const kv = createMemoryEngine();
    const clock = new ManualClock(5_000);
    const ids = new InodeIdAllocator(kv, clock);
    try {
      const first = await ids.reserve(2);
      expect(first.take()).toBe(INODE_ID_FIRST);
      // Within the TTL the batch goes on.
      clock.advance(INODE_ID_RESERVATION_TTL_MS);
      const second = await ids.reserve(1);
      expect(second.take()).toBe(INODE_ID_FIRST + 2);
      clock.advance(1);
      const third = await ids.reserve(1);
      expect(third.take()).toBe(INODE_ID_FIRST + INODE_ID_BATCH);
      // The first lease's unused id comes back after the drop: it is not handed out again.
      first.releaseUnused();
      const fourth = await ids.reserve(1);
      expect(fourth.take()).toBe(INODE_ID_FIRST + INODE_ID_BATCH + 1);
    } finally {
      await kv.close();
    }
  });
});
