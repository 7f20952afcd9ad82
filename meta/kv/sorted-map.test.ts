// SortedMap against a plain model: random inserts, overwrites and deletes with tiny leaves (so
// splits and empty leaves happen), then every kind of range scan.
import { describe, expect, it } from 'vitest';
import { SortedMap } from './sorted-map.js';

function seeded(seed: number): (maxExclusive: number) => number {
  let state = seed >>> 0 || 1;
  return (maxExclusive) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % maxExclusive;
  };
}

function keyOf(index: number): string {
  return String.fromCharCode(index >> 4, 0xff - (index & 0x0f));
}

function scanAll(map: SortedMap<number>, start: string, end: string | undefined, reverse: boolean): string[] {
  const out: string[] = [];
  map.scan(start, end, reverse, (key) => {
    out.push(key);
  });
  return out;
}

describe('SortedMap', () => {
  it('matches a model under random mutations and scans', () => {
    const random = seeded(42);
    const map = new SortedMap<number>(4);
    const model = new Map<string, number>();
    for (let step = 0; step < 3000; step++) {
      const key = keyOf(random(200));
      if (random(3) === 0) {
        expect(map.delete(key)).toBe(model.delete(key));
      } else {
        map.set(key, step);
        model.set(key, step);
      }
      expect(map.size).toBe(model.size);
      if (step % 50 === 0) {
        const start = keyOf(random(200));
        const end = random(5) === 0 ? undefined : keyOf(random(200));
        const expected = [...model.keys()].filter((k) => k >= start && (end === undefined || k < end)).sort();
        expect(scanAll(map, start, end, false)).toEqual(expected);
        expect(scanAll(map, start, end, true)).toEqual([...expected].reverse());
        expect(scanAll(map, '', undefined, false)).toEqual([...model.keys()].sort());
        for (const [k, v] of model) expect(map.get(k)).toBe(v);
      }
    }
  });

  it('stops a scan when the visitor returns false, and handles empty maps', () => {
    const map = new SortedMap<number>(2);
    expect(scanAll(map, '', undefined, false)).toEqual([]);
    expect(scanAll(map, '', 'z', true)).toEqual([]);
    for (const key of ['d', 'a', 'c', 'b', 'e']) map.set(key, key.charCodeAt(0));
    const seen: string[] = [];
    map.scan('b', undefined, false, (key) => {
      seen.push(key);
      return seen.length < 2;
    });
    expect(seen).toEqual(['b', 'c']);
    expect(scanAll(map, 'a', 'e', true)).toEqual(['d', 'c', 'b', 'a']);
    map.clear();
    expect(map.size).toBe(0);
    expect(scanAll(map, '', undefined, false)).toEqual([]);
  });
});
