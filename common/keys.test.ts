import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from './errors.js';
import { KeyPrefix, encodeKey, hasKeyPrefix, keyPrefixOf, prefixEnd, readKeyString, readKeyU64 } from './keys.js';

describe('KeyPrefix registry', () => {
  it('has the contract prefixes', () => {
    expect(KeyPrefix).toMatchObject({
      INODE: 'INOD',
      DENTRY: 'DENT',
      CHAIN_TABLE: 'CHTB',
      CHAIN: 'CHAN',
      NODE: 'NODE',
      TARGET: 'TARG',
      SESSION: 'SESS',
      IDEMPOTENCY: 'IDEM',
      GC: 'GCQU',
      COUNTER: 'CNTR',
      ROUTING: 'ROUT',
      CHUNK: 'CHNK',
    });
  });

  it('prefixes are unique 4-byte ASCII', () => {
    const values = Object.values(KeyPrefix);
    expect(new Set(values).size).toBe(values.length);
    for (const value of values) expect(Buffer.byteLength(value, 'utf8')).toBe(4);
  });
});

describe('encodeKey', () => {
  it('encodes numbers as 8-byte big-endian, strings as UTF-8, bytes raw', () => {
    const key = encodeKey(KeyPrefix.DENTRY, 0x0102, 'né', new Uint8Array([0xff, 0]));
    expect(key.toString('hex')).toBe(
      `${Buffer.from('DENT').toString('hex')}0000000000000102${Buffer.from('né').toString('hex')}ff00`,
    );
    expect(
      encodeKey(KeyPrefix.INODE, 1n << 63n)
        .subarray(4)
        .toString('hex'),
    ).toBe('8000000000000000');
    expect(encodeKey(KeyPrefix.ROUTING).toString()).toBe('ROUT');
  });

  it('orders numeric parts numerically', () => {
    const ids = [0, 1, 255, 256, 65_535, 2 ** 32, 2 ** 53 - 1];
    const keys = ids.map((id) => encodeKey(KeyPrefix.INODE, id));
    const sorted = [...keys].sort(Buffer.compare);
    expect(sorted).toEqual(keys);
  });

  it('rejects numbers that are not safe non-negative integers', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Infinity]) {
      let thrown: unknown;
      try {
        encodeKey(KeyPrefix.INODE, bad);
      } catch (err) {
        thrown = err;
      }
      expect((thrown as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    }
    expect(() => encodeKey(KeyPrefix.INODE, 1n << 64n)).toThrow(SpindleError);
    expect(() => encodeKey(KeyPrefix.INODE, -1n)).toThrow(SpindleError);
  });

  it('refuses unregistered prefixes', () => {
    expect(() => encodeKey('XXXX' as never, 1)).toThrow(/unregistered key prefix/);
  });

  it('round-trips through the readers', () => {
    const key = encodeKey(KeyPrefix.DENTRY, 42, 'file.txt');
    expect(keyPrefixOf(key)).toBe('DENT');
    expect(readKeyU64(key, 4)).toBe(42);
    expect(readKeyString(key, 12)).toBe('file.txt');
    expect(hasKeyPrefix(key, KeyPrefix.DENTRY)).toBe(true);
    expect(hasKeyPrefix(key, encodeKey(KeyPrefix.DENTRY, 42))).toBe(true);
    expect(hasKeyPrefix(key, encodeKey(KeyPrefix.DENTRY, 43))).toBe(false);
    expect(keyPrefixOf(Buffer.from('ZZZZ'))).toBeUndefined();
    expect(() => readKeyU64(key, 10)).toThrow(SpindleError);
    expect(() => readKeyU64(encodeKey(KeyPrefix.INODE, 1n << 60n), 4)).toThrow(/exceeds/);
  });
});

describe('prefixEnd', () => {
  it('increments the last byte that is not 0xff and drops the rest', () => {
    expect(prefixEnd(Buffer.from([1, 2, 3])).toString('hex')).toBe('010204');
    expect(prefixEnd(Buffer.from([1, 0xff, 0xff])).toString('hex')).toBe('02');
    expect(prefixEnd(Buffer.from('INOD')).toString()).toBe('INOE');
  });

  it('bounds every key with the prefix and nothing else', () => {
    const prefix = encodeKey(KeyPrefix.DENTRY, 7);
    const end = prefixEnd(prefix);
    const inside = [
      encodeKey(KeyPrefix.DENTRY, 7),
      encodeKey(KeyPrefix.DENTRY, 7, '\u{10ffff}'),
      Buffer.concat([prefix, Buffer.alloc(8, 0xff)]),
    ];
    for (const key of inside) {
      expect(Buffer.compare(key, prefix)).toBeGreaterThanOrEqual(0);
      expect(Buffer.compare(key, end)).toBeLessThan(0);
    }
    expect(Buffer.compare(encodeKey(KeyPrefix.DENTRY, 8), end)).toBeGreaterThanOrEqual(0);
  });

  it('does not modify its input', () => {
    const key = Buffer.from([1, 2]);
    prefixEnd(key);
    expect(key.toString('hex')).toBe('0102');
  });

  it('rejects keys with no upper bound', () => {
    expect(() => prefixEnd(Buffer.from([0xff, 0xff]))).toThrow(SpindleError);
    expect(() => prefixEnd(new Uint8Array(0))).toThrow(SpindleError);
  });
});
