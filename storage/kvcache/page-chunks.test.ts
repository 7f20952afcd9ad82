// Page chunk ids and headers: ids stay in the reserved KV space and differ by namespace; a header
// reads back as written; bytes that are not a header of this format are no page.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_INDEX_MAX, INO_MAX } from '../constants.js';
import { KV_INO_BASE, decodePageHeader, encodePageChunk, headerMatches, pageChunkAddress } from './page-chunks.js';

const ns = { name: 'llama', fingerprint: '0123456789abcdef0123456789abcdef' };

describe('page chunks', () => {
  it('places every page in the KV ino space, deterministically, apart per namespace', () => {
    for (let i = 0; i < 1000; i++) {
      const key = randomBytes(32);
      const { ino, index } = pageChunkAddress(ns, key);
      expect(ino).toBeGreaterThanOrEqual(KV_INO_BASE);
      expect(ino).toBeLessThanOrEqual(INO_MAX);
      expect(Number.isSafeInteger(index) && index >= 0 && index <= CHUNK_INDEX_MAX).toBe(true);
      expect(pageChunkAddress(ns, key)).toEqual({ ino, index });
      expect(pageChunkAddress({ ...ns, name: 'other' }, key)).not.toEqual({ ino, index });
      expect(pageChunkAddress({ ...ns, fingerprint: 'f'.repeat(32) }, key)).not.toEqual({ ino, index });
    }
  });

  it('reads a header back as written, with and without parent and expiry', () => {
    const key = randomBytes(32);
    const parentKey = randomBytes(32);
    const value = randomBytes(20_000);
    for (const header of [
      { ...ns, key, parentKey, expiresAtMs: 1_700_000_000_123 },
      { ...ns, key, parentKey: undefined, expiresAtMs: Infinity },
    ]) {
      const chunk = encodePageChunk(header, value);
      const decoded = decodePageHeader(chunk)!;
      expect(decoded.header).toEqual({ ...header, valueBytes: value.length });
      expect(chunk.subarray(decoded.headerBytes).equals(value)).toBe(true);
      expect(headerMatches(decoded.header, ns, key)).toBe(true);
      expect(headerMatches(decoded.header, ns, parentKey)).toBe(false);
      expect(headerMatches(decoded.header, { ...ns, name: 'other' }, key)).toBe(false);
    }
  });

  it('takes bytes that are no header of this format for no page', () => {
    const chunk = encodePageChunk(
      { ...ns, key: randomBytes(32), parentKey: undefined, expiresAtMs: Infinity },
      randomBytes(100),
    );
    expect(decodePageHeader(randomBytes(chunk.length))).toBeUndefined();
    expect(decodePageHeader(chunk.subarray(0, 50))).toBeUndefined();
    const otherVersion = Buffer.from(chunk);
    otherVersion[4] = 2;
    expect(decodePageHeader(otherVersion)).toBeUndefined();
  });
});
