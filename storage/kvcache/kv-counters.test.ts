// The KV counters of a node: counted per chain and namespace, and the namespace names bounded —
// past KV_COUNTED_NAMESPACES_MAX distinct names, later ones are counted (and labelled) together.
import { describe, expect, it } from 'vitest';
import { KV_COUNTED_NAMESPACES_MAX, KvCounters, OTHER_NAMESPACES } from './kv-counters.js';
import { DropReason, PutStatus } from './statuses.js';

describe('KvCounters', () => {
  it('counts per chain and namespace, and tells the sink under the same name', () => {
    const told: string[] = [];
    const counters = new KvCounters({
      gets: (ns, hits, misses) => told.push(`gets ${ns} ${hits} ${misses}`),
      puts: (ns, status, count) => told.push(`puts ${ns} ${status} ${count}`),
      drops: (ns, reason, count) => told.push(`drops ${ns} ${reason} ${count}`),
      match: (ns, hit, miss, _s, leased) => told.push(`match ${ns} ${hit} ${miss} ${leased}`),
    });
    counters.countGets(1, 'a', 3, 1);
    counters.countPuts(1, 'a', [PutStatus.STORED, PutStatus.STORED, PutStatus.REJECTED_FULL]);
    counters.countDrops(1, 'a', DropReason.EXPIRED, 2);
    counters.countMatch(2, 'a', 5, 1, 0.001, true);
    expect(counters.of(1, 'a')).toEqual({
      getHits: 3,
      getMisses: 1,
      matchCalls: 0,
      matchHitKeys: 0,
      matchMissKeys: 0,
      putsByStatus: { STORED: 2, REJECTED_FULL: 1 },
      dropsByReason: { ttl: 2 },
    });
    expect(counters.of(2, 'a')).toMatchObject({ matchCalls: 1, matchHitKeys: 5, matchMissKeys: 1, getHits: 0 });
    expect(told).toEqual([
      'gets a 3 1',
      'puts a STORED 2',
      'puts a REJECTED_FULL 1',
      'drops a ttl 2',
      'match a 5 1 true',
    ]);
  });

  it(`labels at most ${KV_COUNTED_NAMESPACES_MAX} names; later ones are counted together`, () => {
    const labels: string[] = [];
    const counters = new KvCounters({
      gets: (ns) => labels.push(ns),
      puts: () => undefined,
      drops: () => undefined,
      match: () => undefined,
    });
    for (let i = 0; i < KV_COUNTED_NAMESPACES_MAX + 10; i++) counters.countGets(1, `ns-${i}`, 1, 0);
    expect(new Set(labels).size).toBe(KV_COUNTED_NAMESPACES_MAX + 1);
    expect(labels.slice(KV_COUNTED_NAMESPACES_MAX)).toEqual(Array(10).fill(OTHER_NAMESPACES));
    expect(counters.of(1, 'ns-0').getHits).toBe(1);
    expect(counters.of(1, `ns-${KV_COUNTED_NAMESPACES_MAX + 3}`).getHits).toBe(10);
    // A name seen before the bound keeps its own label.
    counters.countGets(1, 'ns-5', 1, 0);
    expect(labels.at(-1)).toBe('ns-5');
  });
});
