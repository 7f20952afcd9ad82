// Pinned placement vectors. These arrays were computed by an independent implementation of the
// definition in placement.ts (Python, big integers). If this test fails, placement changed and
// every existing file would be read from the wrong chains: fix the code, never the vectors.
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from './errors.js';
import { chainForChunk, fileChains } from './placement.js';

const T6 = [1, 2, 3, 4, 5, 6];
const T16 = Array.from({ length: 16 }, (_, i) => i + 1);
const T24 = Array.from({ length: 24 }, (_, i) => i + 101);

const layout = (stripeWidth: number, chainBase: number, shuffleSeed: number) => ({
  stripeWidth,
  chainBase,
  shuffleSeed,
});

describe('fileChains pinned vectors', () => {
  const cases: Array<[number, number, number, number[], number[]]> = [
    [4, 2, 42, T6, [5, 3, 6, 4]],
    [1, 0, 0, T6, [1]],
    [6, 0, 0, T6, [5, 3, 6, 4, 1, 2]],
    [16, 0, 1, T16, [3, 12, 11, 7, 8, 14, 15, 1, 13, 6, 16, 10, 4, 9, 5, 2]],
    [16, 5, 123456789, T16, [5, 1, 8, 3, 10, 4, 14, 9, 7, 6, 16, 13, 2, 11, 12, 15]],
    [8, 20, 2 ** 53 - 1, T24, [122, 102, 103, 101, 124, 121, 123, 104]],
    [3, 7, 987654321012345, T24, [108, 110, 109]],
    [
      24,
      0,
      7,
      T24,
      [
        105, 111, 103, 113, 110, 112, 120, 108, 121, 119, 123, 107, 109, 114, 106, 102, 124, 117, 122, 115, 104, 101,
        118, 116,
      ],
    ],
  ];
  for (const [w, base, seed, table, expected] of cases) {
    it(`stripe ${w}, base ${base}, seed ${seed}, ${table.length} chains`, () => {
      expect(fileChains(layout(w, base, seed), table)).toEqual(expected);
    });
  }

  it('chainForChunk walks the file chains round-robin', () => {
    const l = layout(4, 2, 42);
    const chunks = Array.from({ length: 10 }, (_, i) => chainForChunk(l, T6, i));
    expect(chunks).toEqual([5, 3, 6, 4, 5, 3, 6, 4, 5, 3]);
    expect(chainForChunk(l, T6, 2 ** 40 + 1)).toBe(3);
  });
});

describe('fileChains properties', () => {
  it('is a permutation of stripe consecutive table entries from chain_base, wrapping', () => {
    for (let seed = 0; seed < 50; seed++) {
      const base = (seed * 7) % 30;
      const chains = fileChains(layout(10, base, seed), T24);
      const window = Array.from({ length: 10 }, (_, k) => T24[(base + k) % 24]);
      expect([...chains].sort((a, b) => a - b)).toEqual([...window].sort((a, b) => a - b));
    }
  });

  it('depends on the seed and is deterministic', () => {
    expect(fileChains(layout(16, 0, 1), T16)).toEqual(fileChains(layout(16, 0, 1), T16));
    expect(fileChains(layout(16, 0, 1), T16)).not.toEqual(fileChains(layout(16, 0, 2), T16));
  });

  it('returns a fresh array each call', () => {
    const a = fileChains(layout(4, 0, 3), T6);
    a[0] = -1;
    expect(fileChains(layout(4, 0, 3), T6)).not.toContain(-1);
  });
});

describe('fileChains validation', () => {
  const bad: Array<[string, () => unknown]> = [
    ['stripe 0', () => fileChains(layout(0, 0, 0), T6)],
    ['stripe wider than the table', () => fileChains(layout(7, 0, 0), T6)],
    ['empty table', () => fileChains(layout(1, 0, 0), [])],
    ['negative base', () => fileChains(layout(2, -1, 0), T6)],
    ['unsafe seed', () => fileChains(layout(2, 0, 2 ** 53), T6)],
    ['fractional seed', () => fileChains(layout(2, 0, 1.5), T6)],
    ['negative chunk index', () => chainForChunk(layout(2, 0, 0), T6, -1)],
  ];
  for (const [name, call] of bad) {
    it(`rejects ${name} with INVALID_ARGUMENT`, () => {
      let thrown: unknown;
      try {
        call();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(SpindleError);
      expect((thrown as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
      expect((thrown as SpindleError).message).toMatch(/^placement: /);
    });
  }
  it('names the table size when the stripe is too wide', () => {
    expect(() => fileChains(layout(7, 0, 0), T6)).toThrow(/stripe width 7 exceeds the 6 chains/);
  });
});
