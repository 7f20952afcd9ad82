// The hand-built hot keys are byte for byte the keys encodeKey builds (the on-disk schema must
// not change with an optimization), and they refuse the same bad numbers.
import { describe, expect, it } from 'vitest';
import { KeyPrefix, encodeKey } from '../../common/keys.js';
import { DirEntry, InodeType } from '../../proto/index.js';
import {
  decodeEntry,
  dentryKey,
  dentryName,
  encodeEntry,
  idempotencyExpiryKey,
  idempotencyKey,
  inodeKey,
} from './schema.js';

const u64 = (value: number) => {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
};
const numbers = [0, 1, 16, 255, 256, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER];
const names = [
  '',
  'a',
  'file.txt',
  'ünïcødé-名前',
  '🙂'.repeat(10),
  'x'.repeat(255),
  `${'x'.repeat(31)}é`,
  `é${'x'.repeat(40)}`,
];

describe('schema keys', () => {
  it('inode and entry keys equal encodeKey output', () => {
    for (const n of numbers) {
      expect(inodeKey(n).equals(encodeKey(KeyPrefix.INODE, n))).toBe(true);
      for (const name of names) expect(dentryKey(n, name).equals(encodeKey(KeyPrefix.DENTRY, n, name))).toBe(true);
    }
  });

  it('idempotency keys equal the documented layout built with encodeKey', () => {
    for (const clientId of ['c', 'host-123-abcdef', 'ünï名']) {
      for (const requestId of numbers) {
        const client = Buffer.from(clientId, 'utf8');
        const suffix = Buffer.concat([u64(client.length), client, u64(requestId)]);
        expect(idempotencyKey(clientId, requestId).equals(encodeKey(KeyPrefix.IDEMPOTENCY, 'r', suffix))).toBe(true);
        const at = 1_700_000_000_000_000;
        expect(
          idempotencyExpiryKey(at, clientId, requestId).equals(encodeKey(KeyPrefix.IDEMPOTENCY, 't', at, suffix)),
        ).toBe(true);
      }
    }
  });

  it('refuses ids that are not safe non-negative integers', () => {
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
      expect(() => inodeKey(bad)).toThrow(/safe non-negative integer/);
      expect(() => dentryKey(bad, 'x')).toThrow(/safe non-negative integer/);
      expect(() => idempotencyKey('c', bad)).toThrow(/safe non-negative integer/);
    }
  });

  it('entry names and values decode as the generic decoders do (fast paths included)', () => {
    for (const name of [...names, 'x'.repeat(32), 'x'.repeat(33), 'a\u007f']) {
      expect(dentryName(dentryKey(42, name))).toBe(name);
    }
    const inos = [0, 1, 127, 128, 2 ** 49 - 1, 2 ** 49, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER];
    for (const ino of inos) {
      for (const type of [InodeType.FILE, InodeType.DIRECTORY, InodeType.SYMLINK, InodeType.INODE_TYPE_INVALID]) {
        const bytes = encodeEntry({ ino, type });
        const generic = DirEntry.decode(bytes);
        expect(decodeEntry(bytes)).toEqual({ ino: generic.ino, type: generic.type });
        expect(decodeEntry(bytes)).toEqual({ ino, type });
      }
    }
    // A value another writer might add a field to still decodes (through the generated decoder).
    const withName = DirEntry.encode({ name: 'n', ino: 7, type: InodeType.FILE }).finish();
    expect(decodeEntry(withName)).toEqual({ ino: 7, type: InodeType.FILE });
  });
});
