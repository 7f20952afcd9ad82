// HotPages: bounded by bytes (least recently used out first), an entry served only while the
// chunk's committed metadata is the one it was read under, pages over a quarter of the bound not kept.
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import type { CommittedChunkMeta } from '../chunk-engine/chunk-meta.js';
import { HotPages } from './hot-pages.js';
import type { PageHeader } from './page-chunks.js';

const header: PageHeader = {
  name: 'ns',
  fingerprint: '00'.repeat(16),
  key: Buffer.alloc(32, 1),
  parentKey: undefined,
  valueBytes: 0,
  expiresAtMs: Infinity,
};

function meta(overrides: Partial<CommittedChunkMeta> = {}): CommittedChunkMeta {
  return {
    commitVersion: 1,
    chainVersion: 1,
    length: 100,
    crc32c: 7,
    block: { classLog2: 0, fileIndex: 0, slot: 0 } as unknown as CommittedChunkMeta['block'],
    segmentBytes: 4096,
    segmentCrcs: new Uint32Array(0),
    updatedUs: 1,
    ...overrides,
  };
}

describe('HotPages', () => {
  it('serves a kept page with its CRC32C while the commit is unchanged', () => {
    const hot = new HotPages(1000);
    const value = Buffer.from('page bytes');
    const kept = hot.keep('a', meta(), header, value);
    expect(kept.valueCrc32c).toBe(crc32c(value));
    expect(hot.lookup('a', meta())?.value).toBe(value);
    expect(hot.lookup('b', meta())).toBeUndefined();
  });

  it('drops an entry whose chunk was committed again', () => {
    for (const change of [{ commitVersion: 2 }, { length: 101 }, { crc32c: 8 }, { updatedUs: 2 }]) {
      const hot = new HotPages(1000);
      hot.keep('a', meta(), header, Buffer.alloc(10));
      expect(hot.lookup('a', meta(change))).toBeUndefined();
      expect(hot.bytes).toBe(0);
      expect(hot.lookup('a', meta())).toBeUndefined(); // gone, not just hidden
    }
  });

  it('keeps at most its bound, least recently used out first', () => {
    const hot = new HotPages(300);
    hot.keep('a', meta(), header, Buffer.alloc(70));
    hot.keep('b', meta(), header, Buffer.alloc(70));
    hot.keep('c', meta(), header, Buffer.alloc(70));
    hot.lookup('a', meta()); // a is now the most recent
    hot.keep('d', meta(), header, Buffer.alloc(70));
    hot.keep('e', meta(), header, Buffer.alloc(70));
    expect(hot.bytes).toBeLessThanOrEqual(300);
    expect(hot.lookup('b', meta())).toBeUndefined();
    expect(hot.lookup('a', meta())).toBeDefined();
    expect(hot.lookup('e', meta())).toBeDefined();
  });

  it('does not keep a page larger than a quarter of its bound', () => {
    const hot = new HotPages(300);
    const kept = hot.keep('big', meta(), header, Buffer.alloc(76));
    expect(kept.valueCrc32c).toBe(crc32c(Buffer.alloc(76)));
    expect(hot.lookup('big', meta())).toBeUndefined();
    expect(hot.bytes).toBe(0);
  });
});
