// DatasetWriter → openDataset on a real cluster: samples come back byte for byte with their keys
// across shards and chunk boundaries; entries() reads only the index pages it needs within a
// bounded cache; a damaged index page is DATA_CORRUPTED; verify finds a damaged sample; publishing
// over an existing dataset is EXISTS and leaves it intact.
import { beforeAll, describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { DatasetWriter, openDataset, verifyDataset } from '../../client/loader/index.js';
import {
  INDEX_ENTRY_BYTES,
  INDEX_HEADER_BYTES,
  INDEX_PAGE_ENTRIES,
  shardFileName,
} from '../../client/loader/dataset/format.js';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';
import { expectError, packSamples, readAll, sampleBytes, type TestSample } from './support.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small chunks so that samples cross chunk boundaries without megabytes of test data. */
const CHUNK_BYTES = 64 * KiB;

const cluster = useCluster();
let client: SpindleClient;

beforeAll(async () => {
  client = await cluster().client();
  await client.mkdir('/ds');
  await client.setLayout('/ds', { chunkSizeBytes: CHUNK_BYTES });
});

/** 700 samples of 0 B .. 30 KiB, every 50th 200 KiB (several chunks); keys on two samples of three. */
function mixedSamples(): TestSample[] {
  return Array.from({ length: 700 }, (_, i) => {
    const length = i % 50 === 0 ? 200 * KiB + i : (i * 7919) % (30 * KiB);
    const data = sampleBytes(i, length);
    return i % 3 === 0 ? { data } : { data, key: `sample/${i}.bin` };
  });
}

/** `count` tiny samples (several index pages cost little). */
function tinySamples(count: number): TestSample[] {
  return Array.from({ length: count }, (_, i) => ({ data: sampleBytes(i, 8 + (i % 33)) }));
}

describe('DatasetWriter and openDataset', () => {
  it('round-trip samples with and without keys over several shards and chunk boundaries', async () => {
    const samples = mixedSamples();
    const manifest = await packSamples(client, '/ds/mixed', samples, {
      shardBytes: 5 * MiB,
      source: { kind: 'test' },
    });
    expect(manifest.samples).toBe(samples.length);
    expect(manifest.bytes).toBe(samples.reduce((sum, s) => sum + s.data.length, 0));
    expect(manifest.shards.length).toBeGreaterThanOrEqual(2);
    for (const shard of manifest.shards) expect(shard.bytes).toBeLessThanOrEqual(5 * MiB);
    expect(manifest.sampleEncoding).toBe('raw');
    expect(manifest.source).toEqual({ kind: 'test' });
    // keys.bin kept whole (the default for a small one) and read in ranges per call.
    for (const keysWholeBytesMax of [undefined, 0]) {
      const back = await readAll(client, '/ds/mixed', { keysWholeBytesMax });
      expect(back.length).toBe(samples.length);
      for (const [i, sample] of samples.entries()) {
        expect(back[i]!.key).toBe(sample.key);
        expect(back[i]!.data.equals(sample.data)).toBe(true);
      }
    }
    // Only what the format lists (owner.json belongs to the staging directory) and no staging left.
    expect((await client.readdir('/ds/mixed')).sort()).toEqual(
      ['index-pages.crc', 'index.bin', 'keys.bin', 'manifest.json', ...manifest.shards.map((s) => s.file)].sort(),
    );
    expect((await client.readdir('/ds')).filter((name) => name.startsWith('.'))).toEqual([]);
    const dataset = await openDataset(client, '/ds/mixed');
    try {
      expect(dataset.id).toBe(manifest.id);
      expect(dataset.size).toBe(samples.length);
      expect(await dataset.shard(1)).toBe(await dataset.shard(1));
      const [entry] = await dataset.entries([50]);
      expect(entry!.crc32c).toBe(crc32c(samples[50]!.data) >>> 0);
    } finally {
      await dataset.close();
    }
    const report = await verifyDataset(client, '/ds/mixed');
    expect(report).toMatchObject({ ok: true, samples: samples.length, problems: [], problemCount: 0 });
  });

  it('writes no keys.bin when no sample has a key', async () => {
    const manifest = await packSamples(client, '/ds/nokeys', tinySamples(10));
    expect(manifest.keys.bytes).toBe(0);
    expect(await client.exists('/ds/nokeys/keys.bin')).toBe(false);
    const back = await readAll(client, '/ds/nokeys');
    expect(back.every((sample) => sample.key === undefined)).toBe(true);
  });

  it('reads entries across index pages with a cache of one page, never holding more', async () => {
    const count = 3 * INDEX_PAGE_ENTRIES + 123;
    const samples = tinySamples(count);
    await packSamples(client, '/ds/pages', samples);
    const pageBytes = INDEX_PAGE_ENTRIES * INDEX_ENTRY_BYTES;
    const dataset = await openDataset(client, '/ds/pages', { indexCacheBytes: pageBytes });
    try {
      let offset = 0;
      const offsets = samples.map((s) => {
        const at = offset;
        offset += s.data.length;
        return at;
      });
      // Batches that jump between all four pages.
      for (let step = 0; step < 40; step++) {
        const indices = Array.from({ length: 64 }, (_, j) => (step * 7919 + j * 104_729) % count);
        const entries = await dataset.entries(indices);
        for (const [j, index] of indices.entries()) {
          expect(entries[j]).toMatchObject({ shard: 0, offset: offsets[index], length: samples[index]!.data.length });
        }
        expect(dataset.cachedIndexBytes).toBeLessThanOrEqual(pageBytes);
      }
      expect(dataset.cachedIndexBytes).toBeGreaterThan(0);
    } finally {
      await dataset.close();
    }
    const uncached = await openDataset(client, '/ds/pages', { indexCacheBytes: 0 });
    try {
      await uncached.entries([0, count - 1]);
      expect(uncached.cachedIndexBytes).toBe(0);
    } finally {
      await uncached.close();
    }
  });

  it('refuses an index page that fails its CRC with DATA_CORRUPTED, and verify reports it', async () => {
    const count = 2 * INDEX_PAGE_ENTRIES + 5;
    await packSamples(client, '/ds/badpage', tinySamples(count));
    // Flip one bit of the offset of the first entry of page 1.
    const handle = await client.open('/ds/badpage/index.bin', 'r+');
    const at = INDEX_HEADER_BYTES + INDEX_PAGE_ENTRIES * INDEX_ENTRY_BYTES + 8;
    const byte = Buffer.alloc(1);
    await handle.readAt(at, byte);
    byte[0]! ^= 0x01;
    await handle.writeBytes(byte, at);
    await handle.close();
    const dataset = await openDataset(client, '/ds/badpage');
    try {
      await dataset.entries([0, 2 * INDEX_PAGE_ENTRIES]);
      await expectError(dataset.entries([INDEX_PAGE_ENTRIES + 3]), ErrorCode.DATA_CORRUPTED, 'page 1', 'CRC32C');
    } finally {
      await dataset.close();
    }
    const report = await verifyDataset(client, '/ds/badpage');
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.what.includes('index page 1'))).toBe(true);
  });

  it('verify names a sample whose bytes changed', async () => {
    const samples = mixedSamples().slice(0, 120);
    await packSamples(client, '/ds/badsample', samples, { shardBytes: MiB });
    const dataset = await openDataset(client, '/ds/badsample');
    const [entry] = await dataset.entries([77]);
    await dataset.close();
    const handle = await client.open(`/ds/badsample/${shardFileName(entry!.shard)}`, 'r+');
    const at = entry!.offset + Math.floor(entry!.length / 2);
    const byte = Buffer.alloc(1);
    await handle.readAt(at, byte);
    byte[0]! ^= 0x80;
    await handle.writeBytes(byte, at);
    await handle.close();
    const report = await verifyDataset(client, '/ds/badsample');
    expect(report.ok).toBe(false);
    expect(report.problemCount).toBe(1);
    expect(report.problems[0]).toMatchObject({ sample: 77, shard: entry!.shard });
    expect(report.problems[0]!.what).toContain('CRC32C');
  });

  it('refuses to publish over an existing dataset (EXISTS) and leaves it as it was', async () => {
    const first = tinySamples(20);
    const late = await DatasetWriter.create(client, '/ds/taken');
    await late.add(Buffer.from('late sample'));
    const published = await packSamples(client, '/ds/taken', first);
    await expectError(late.publish(), ErrorCode.EXISTS, '/ds/taken', 'spindle dataset rm /ds/taken');
    await expectError(DatasetWriter.create(client, '/ds/taken'), ErrorCode.EXISTS, 'spindle dataset rm /ds/taken');
    const back = await readAll(client, '/ds/taken');
    expect(back.map((s) => s.data.toString('hex'))).toEqual(first.map((s) => s.data.toString('hex')));
    const dataset = await openDataset(client, '/ds/taken');
    expect(dataset.id).toBe(published.id);
    await dataset.close();
    expect((await client.readdir('/ds')).filter((name) => name.startsWith('.'))).toEqual([]);
  });
});
