import { describe, expect, it } from 'vitest';
import { Permutation } from './permutation.js';
import { expectInvalid } from './testing/expect-invalid.js';

const SIZES = [1, 2, 3, 7, 100, 1000, 4097];
const SEEDS = Array.from({ length: 200 }, (_, i) => i * 7919 + 1);

function order(p: Permutation): number[] {
  return Array.from({ length: p.size }, (_, i) => p.at(i));
}

describe('Permutation', () => {
  it('is a bijection of [0, N) with indexOf its inverse, for every size and seed', () => {
    for (const size of SIZES) {
      for (const seed of SEEDS) {
        const p = new Permutation(size, seed, seed % 5);
        const seen = new Uint8Array(size);
        let inverseMismatches = 0;
        for (let position = 0; position < size; position++) {
          const index = p.at(position);
          if (index >= 0 && index < size) seen[index]! += 1;
          if (p.indexOf(index) !== position) inverseMismatches++;
        }
        expect(seen.every((count) => count === 1)).toBe(true);
        expect(inverseMismatches).toBe(0);
      }
    }
  });

  it('is a pure function of (size, seed, epoch)', () => {
    for (const size of SIZES) {
      for (const seed of SEEDS.slice(0, 20)) {
        expect(order(new Permutation(size, seed, 3))).toEqual(order(new Permutation(size, seed, 3)));
      }
    }
  });

  it('gives each epoch and each seed its own order (N >= 8)', () => {
    for (const size of [8, 100, 1000, 4097]) {
      for (const seed of SEEDS) {
        const first = order(new Permutation(size, seed, 0));
        expect(order(new Permutation(size, seed, 1))).not.toEqual(first);
        expect(order(new Permutation(size, seed + 1, 0))).not.toEqual(first);
      }
    }
  });

  it('is neither the identity nor a rotation, and moves indices about as far as a random shuffle', () => {
    for (const size of [100, 1000, 4097]) {
      let displacementSum = 0;
      for (const seed of SEEDS) {
        const o = order(new Permutation(size, seed, 0));
        const steps = new Set(o.slice(1).map((v, i) => (v - o[i]! + size) % size));
        expect(steps.size).toBeGreaterThan(1); // a rotation (or the identity) has one step
        displacementSum += o.reduce((sum, v, i) => sum + Math.abs(v - i), 0) / size;
      }
      // A uniform shuffle displaces an index by (N^2 - 1) / 3N on average.
      const mean = displacementSum / SEEDS.length / size;
      expect(mean).toBeGreaterThan(0.3);
      expect(mean).toBeLessThan(0.37);
    }
  });

  it('puts position 0 on every index of a small dataset about equally often', () => {
    for (const size of [3, 7, 8, 13]) {
      const counts = new Array<number>(size).fill(0);
      const draws = 4000;
      for (let seed = 0; seed < draws; seed++) counts[new Permutation(size, seed, 0).at(0)]!++;
      for (const count of counts) {
        expect(count).toBeGreaterThan((draws / size) * 0.7);
        expect(count).toBeLessThan((draws / size) * 1.3);
      }
    }
  });

  it('matches the pinned vectors (the order must not change across machines or releases)', () => {
    expect(order(new Permutation(10, 0, 0))).toEqual([1, 0, 3, 6, 7, 9, 5, 8, 2, 4]);
    expect(order(new Permutation(10, 1, 0))).toEqual([9, 3, 1, 2, 0, 6, 8, 7, 5, 4]);
    expect(order(new Permutation(10, 0, 1))).toEqual([4, 6, 2, 3, 0, 7, 1, 8, 5, 9]);
    const p1000 = new Permutation(1000, 42, 3);
    expect([0, 1, 2, 3, 4].map((i) => p1000.at(i))).toEqual([634, 35, 153, 489, 234]);
  });

  it('handles the largest size, 2^53 - 1, exactly', () => {
    const size = Number.MAX_SAFE_INTEGER;
    const p = new Permutation(size, 7, 0);
    expect([0, 1].map((i) => p.at(i))).toEqual([6986106855622575, 4009014321301329]);
    for (const position of [0, 1, size - 1, 123456789012345]) {
      const index = p.at(position);
      expect(index).toBeLessThan(size);
      expect(p.indexOf(index)).toBe(position);
    }
    expect(p.at(size - 1)).toBe(2850514310238505);
  });

  it('rejects bad sizes, seeds, epochs and positions with a message naming the field', () => {
    for (const size of [0, -1, 1.5, Number.NaN, 2 ** 53])
      expectInvalid(() => new Permutation(size, 0, 0), 'datasetSize');
    for (const seed of [-1, 0.5, 2 ** 53]) expectInvalid(() => new Permutation(10, seed, 0), 'seed');
    for (const epoch of [-1, 0.5, Number.POSITIVE_INFINITY])
      expectInvalid(() => new Permutation(10, 0, epoch), 'epoch');
    const p = new Permutation(10, 0, 0);
    for (const position of [-1, 10, 2.5]) expectInvalid(() => p.at(position), 'position');
    for (const index of [-1, 10, 2.5]) expectInvalid(() => p.indexOf(index), 'sampleIndex');
  });
});
