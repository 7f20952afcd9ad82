import { describe, expect, it } from 'vitest';
import { crc32c as nodeRsCrc32c } from '@node-rs/crc32';
import { crc32c, crc32cCombine, crc32cImplementation, crc32cOf } from './crc32c.js';

describe('crc32c', () => {
  it('matches the standard check value and RFC 3720 vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });

  it('is an unsigned 32-bit number', () => {
    const value = crc32c(Buffer.from('123456789'));
    expect(value).toBeGreaterThan(0x7fffffff);
    expect(Number.isInteger(value)).toBe(true);
  });

  it('incremental equals one-shot at every split point', () => {
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 31 + 7) & 0xff));
    const whole = crc32c(data);
    for (const split of [0, 1, 3, 64, 150, 299, 300]) {
      expect(crc32c(data.subarray(split), crc32c(data.subarray(0, split)))).toBe(whole);
    }
    expect(crc32cOf([data.subarray(0, 10), data.subarray(10, 200), data.subarray(200)])).toBe(whole);
  });

  it('reads only the view of a subarray', () => {
    const backing = Buffer.from('xx123456789yy');
    expect(crc32c(backing.subarray(2, 11))).toBe(0xe3069283);
  });

  it('detects a flipped bit', () => {
    const data = Buffer.alloc(4096, 0x5a);
    const before = crc32c(data);
    data[1234]! ^= 0x10;
    expect(crc32c(data)).not.toBe(before);
  });

  it('combines the CRCs of two pieces into the CRC of both, without the bytes', () => {
    let seed = 7;
    const bytes = (n: number) =>
      Buffer.from(Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    for (const [lengthA, lengthB] of [
      [0, 5],
      [5, 0],
      [1, 1],
      [100, 65_536],
      [65_536, 65_536],
      [3, 4 * 2 ** 20],
      [4 * 2 ** 20, 12_345],
    ] as const) {
      const a = bytes(lengthA);
      const b = bytes(lengthB);
      expect(crc32cCombine(crc32c(a), crc32c(b), lengthB), `${lengthA} + ${lengthB}`).toBe(
        crc32c(Buffer.concat([a, b])),
      );
    }
    // Many segments folded left to right, as chunk reads do.
    const segments = Array.from({ length: 9 }, (_, i) => bytes(i === 8 ? 1_000 : 65_536));
    const folded = segments.reduce((crc, segment) => crc32cCombine(crc, crc32c(segment), segment.length), 0);
    expect(folded).toBe(crc32c(Buffer.concat(segments)));
    expect(() => crc32cCombine(1, 2, -1)).toThrow(/not a non-negative integer/);
  });

  it('agrees with @node-rs/crc32 at every length around the native lanes (8 KiB × 3) and from any initial CRC', () => {
    // scripts/setup.sh builds the addon; without it (or SSE4.2) both sides are @node-rs and agree trivially.
    expect(['sse42-3way', 'node-rs']).toContain(crc32cImplementation.name);
    let seed = 11;
    const bytes = (n: number) =>
      Buffer.from(Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    const data = bytes(3 * 24_576 + 100);
    for (const length of [0, 1, 7, 8, 63, 64, 65, 8191, 24_575, 24_576, 24_577, 49_152, 49_153, data.length]) {
      for (const initial of [0, 0xffffffff, 0x12345678]) {
        expect(crc32c(data.subarray(0, length), initial), `${length} bytes from ${initial}`).toBe(
          nodeRsCrc32c(data.subarray(0, length), initial) >>> 0,
        );
      }
    }
    // A view that does not start at its buffer's beginning.
    expect(crc32c(data.subarray(13, 30_013))).toBe(nodeRsCrc32c(data.subarray(13, 30_013)) >>> 0);
  });
});
