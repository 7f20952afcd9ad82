// An in-memory dataset for unit tests of the loader's pipeline: one shard, samples of given
// lengths whose bytes are derived from their index, reads that take a turn of the event loop and
// are counted. The real dataset (dataset/) is tested against a real cluster.
import { crc32c } from '../../../common/crc32c.js';
import type { FileRange } from '../../chunk-reads.js';
import type { IndexEntry } from '../dataset/format.js';
import type { Dataset } from '../dataset/index.js';

export interface MemoryDataset {
  readonly dataset: Dataset;
  /** Sample i's bytes. */
  sample(index: number): Buffer;
  /** Bytes read from the shard so far. */
  readonly stats: { bytesRead: number };
}

export function memoryDataset(lengths: readonly number[], id = 'memory-dataset'): MemoryDataset {
  const offsets: number[] = [];
  let total = 0;
  for (const length of lengths) {
    offsets.push(total);
    total += length;
  }
  const shard = Buffer.alloc(total);
  for (let i = 0; i < total; i++) shard[i] = (i * 131 + 7) & 0xff;
  const sample = (index: number) => shard.subarray(offsets[index], offsets[index] + lengths[index]);
  const entries: IndexEntry[] = lengths.map((length, i) => ({
    shard: 0,
    offset: offsets[i],
    length,
    crc32c: crc32c(sample(i)),
    keyOffset: 0,
    keyLength: 0,
  }));
  const stats = { bytesRead: 0 };
  const handle = {
    async readAt(position: number, target: Uint8Array): Promise<number> {
      await new Promise((resolve) => setImmediate(resolve));
      stats.bytesRead += target.length;
      return shard.copy(target, 0, position, Math.min(total, position + target.length));
    },
    async readRanges(ranges: readonly FileRange[], target: Buffer): Promise<void> {
      await new Promise((resolve) => setImmediate(resolve));
      for (const range of ranges) {
        stats.bytesRead += range.length;
        shard.copy(target, range.targetOffset, range.offset, range.offset + range.length);
      }
    },
  };
  const dataset = {
    path: '/memory',
    id,
    size: lengths.length,
    entries: async (indices: readonly number[]) => indices.map((i) => entries[i]),
    keys: async (of: readonly IndexEntry[]) => of.map((e) => `k${offsets.indexOf(e.offset)}`),
    shard: async () => handle,
    close: async () => {},
  } as unknown as Dataset;
  return { dataset, sample, stats };
}
