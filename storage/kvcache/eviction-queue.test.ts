// The eviction queue on its own: LRU order among unleased leaves, leased leaves held back until
// their lease ends, and memory bounded however often a hot page is touched.
import { describe, expect, it } from 'vitest';
import { EvictionQueue } from './eviction-queue.js';
import type { PageEntry } from './page-entry.js';

function page(id: string, lastUsedSeq: number, leaseUntilMs = 0): PageEntry<null> {
  const key = new Uint8Array(32);
  return {
    id,
    key,
    parent: undefined,
    sizeBytes: 16384,
    location: null,
    children: new Set(),
    lastUsedSeq,
    leaseUntilMs,
    ttlExpiresAtMs: Number.POSITIVE_INFINITY,
    queueToken: 0,
    present: true,
  };
}

describe('eviction queue', () => {
  it('pops unleased leaves least recently used first and holds leased ones until their lease ends', () => {
    const queue = new EvictionQueue<null>();
    const [a, b, c] = [page('a', 3), page('b', 1, 500), page('c', 2)];
    for (const p of [a, b, c]) queue.enqueue(p, 100);
    expect([queue.popVictim(100)?.id, queue.popVictim(100)?.id, queue.popVictim(100)]).toEqual(['c', 'a', undefined]);
    expect(queue.earliestLeaseEndMs()).toBe(500);
    expect(queue.popVictim(500)?.id).toBe('b');
  });

  it('skips a page that gained a child or left, and stays bounded under a hot page', () => {
    const queue = new EvictionQueue<null>();
    const [hot, parent, gone] = [page('hot', 1), page('parent', 0), page('gone', 0)];
    queue.enqueue(parent, 0);
    queue.enqueue(gone, 0);
    parent.children.add(hot);
    gone.present = false;
    for (let seq = 2; seq < 10_000; seq++) {
      hot.lastUsedSeq = seq;
      queue.enqueue(hot, 0);
    }
    expect(queue.queuedEntries).toBeLessThanOrEqual(2 * 3 + 64);
    expect([queue.popVictim(0)?.id, queue.popVictim(0)]).toEqual(['hot', undefined]);
  });
});
