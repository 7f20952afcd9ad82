import { describe, expect, it } from 'vitest';
import { chunkCount, splitRange, truncatePlan } from './chunk-math.js';

describe('splitRange', () => {
  it('keeps a range inside one chunk whole', () => {
    expect(splitRange(10, 20, 64)).toEqual([{ chunkIndex: 0, chunkOffset: 10, length: 20, bufferOffset: 0 }]);
  });

  it('cuts exactly at chunk boundaries', () => {
    expect(splitRange(60, 80, 64)).toEqual([
      { chunkIndex: 0, chunkOffset: 60, length: 4, bufferOffset: 0 },
      { chunkIndex: 1, chunkOffset: 0, length: 64, bufferOffset: 4 },
      { chunkIndex: 2, chunkOffset: 0, length: 12, bufferOffset: 68 },
    ]);
  });

  it('a range ending on a boundary does not touch the next chunk', () => {
    expect(splitRange(64, 64, 64)).toEqual([{ chunkIndex: 1, chunkOffset: 0, length: 64, bufferOffset: 0 }]);
    expect(splitRange(0, 128, 64).map((p) => p.chunkIndex)).toEqual([0, 1]);
  });

  it('covers every byte exactly once', () => {
    for (const [offset, length] of [
      [0, 1],
      [63, 2],
      [1000, 5000],
      [4096 * 3 - 1, 4096 + 2],
    ] as const) {
      const pieces = splitRange(offset, length, 4096);
      expect(pieces.reduce((sum, p) => sum + p.length, 0)).toBe(length);
      let expected = 0;
      for (const piece of pieces) {
        expect(piece.bufferOffset).toBe(expected);
        expect(piece.chunkIndex * 4096 + piece.chunkOffset).toBe(offset + piece.bufferOffset);
        expect(piece.chunkOffset + piece.length).toBeLessThanOrEqual(4096);
        expected += piece.length;
      }
    }
  });

  it('an empty range has no pieces', () => {
    expect(splitRange(100, 0, 64)).toEqual([]);
  });

  it('handles offsets past 2^32', () => {
    const size = 4 * 1024 * 1024;
    const offset = 2 ** 40 + 5;
    expect(splitRange(offset, 10, size)).toEqual([
      { chunkIndex: 2 ** 40 / size, chunkOffset: 5, length: 10, bufferOffset: 0 },
    ]);
  });

  it('refuses bad input with typed errors', () => {
    expect(() => splitRange(-1, 10, 64)).toThrow(/offset must be a non-negative integer/);
    expect(() => splitRange(0, -1, 64)).toThrow(/length must be/);
    expect(() => splitRange(0.5, 1, 64)).toThrow(/offset/);
    expect(() => splitRange(0, 10, 100)).toThrow(/power of two/);
    expect(() => splitRange(2 ** 50, 1, 64)).toThrow(expect.objectContaining({ code: 'EFBIG' }));
  });
});

describe('truncatePlan', () => {
  it('cutting inside a chunk removes the following chunks and cuts the boundary one', () => {
    expect(truncatePlan(100, 64)).toEqual({ removeFromIndex: 2, cut: { chunkIndex: 1, length: 36 } });
  });

  it('cutting on a boundary only removes', () => {
    expect(truncatePlan(128, 64)).toEqual({ removeFromIndex: 2, cut: undefined });
    expect(truncatePlan(0, 64)).toEqual({ removeFromIndex: 0, cut: undefined });
  });

  it('chunkCount rounds up', () => {
    expect(chunkCount(0, 64)).toBe(0);
    expect(chunkCount(1, 64)).toBe(1);
    expect(chunkCount(64, 64)).toBe(1);
    expect(chunkCount(65, 64)).toBe(2);
  });
});
