import { describe, expect, it } from 'vitest';
import { crc32c, crc32cOf } from './crc32c.js';

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
});
