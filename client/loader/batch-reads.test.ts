import { describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode } from '../../common/errors.js';
import { MERGE_GAP_BYTES, MERGE_RANGE_MAX_BYTES, planRangeReads, readBatch, type ShardReader } from './batch-reads.js';
import type { IndexEntry } from './dataset/format.js';

function entry(shard: number, offset: number, length: number, crc = 0): IndexEntry {
  return { shard, offset, length, crc32c: crc, keyOffset: 0, keyLength: 0 };
}

/** Shards as buffers; `corruptReads` flips a byte in that many reads covering `corruptAt`. */
function shardReader(shards: Buffer[], corrupt?: { shard: number; at: number; reads: number }): ShardReader {
  const readShard = async (shard: number, position: number, target: Buffer) => {
    const source = shards[shard];
    const got = source.copy(target, 0, position, Math.min(source.length, position + target.length));
    if (corrupt && corrupt.shard === shard && corrupt.reads > 0) {
      const inside = corrupt.at - position;
      if (inside >= 0 && inside < got) {
        target[inside] ^= 0xff;
        corrupt.reads--;
      }
    }
    return got;
  };
  return {
    readShard,
    async readShardRanges(shard, ranges, target) {
      for (const r of ranges) {
        await readShard(shard, r.offset, target.subarray(r.targetOffset, r.targetOffset + r.length));
      }
    },
  };
}

describe('planRangeReads', () => {
  it('merges samples of one shard within MERGE_GAP_BYTES, keeps shards and farther samples apart', () => {
    const entries = [
      entry(0, 100, 10),
      entry(1, 0, 10),
      entry(0, 0, 100),
      entry(0, 3 * MERGE_GAP_BYTES, 5),
      entry(0, 110 + MERGE_GAP_BYTES - 10, 5),
    ];
    const ranges = planRangeReads(entries);
    expect(ranges).toEqual([
      { shard: 0, offset: 0, length: 110 + MERGE_GAP_BYTES - 5, members: [2, 0, 4] },
      { shard: 0, offset: 3 * MERGE_GAP_BYTES, length: 5, members: [3] },
      { shard: 1, offset: 0, length: 10, members: [1] },
    ]);
  });

  it('stops a range at MERGE_RANGE_MAX_BYTES and handles a sample twice in one batch', () => {
    const half = MERGE_RANGE_MAX_BYTES / 2;
    const ranges = planRangeReads([entry(0, 0, half), entry(0, half, half), entry(0, 2 * half, 1), entry(0, 0, half)]);
    expect(ranges.map((r) => [r.offset, r.length, r.members])).toEqual([
      [0, 2 * half, [0, 3, 1]],
      [2 * half, 1, [2]],
    ]);
  });
});

describe('readBatch', () => {
  const shard = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7) % 251));
  const slice = (offset: number, length: number) => shard.subarray(offset, offset + length);
  const entries = [entry(0, 5000, 300), entry(0, 0, 100), entry(0, 100, 50)].map((e) => ({
    ...e,
    crc32c: crc32c(slice(e.offset, e.length)),
  }));

  it("returns each sample's bytes in the entries' order", async () => {
    const data = await readBatch(shardReader([shard]), entries, planRangeReads(entries));
    expect(data.map((d) => d.equals(slice(entries[data.indexOf(d)].offset, d.length)))).toEqual([true, true, true]);
    expect(data.map((d) => d.length)).toEqual([300, 100, 50]);
    expect(data[0].equals(slice(5000, 300))).toBe(true);
  });

  it('reads a sample whose CRC fails once more, and fails with DATA_CORRUPTED when it fails again', async () => {
    const once = await readBatch(
      shardReader([shard], { shard: 0, at: 120, reads: 1 }),
      entries,
      planRangeReads(entries),
    );
    expect(once[2].equals(slice(100, 50))).toBe(true);
    await expect(
      readBatch(shardReader([shard], { shard: 0, at: 120, reads: 2 }), entries, planRangeReads(entries)),
    ).rejects.toMatchObject({ errorCode: ErrorCode.DATA_CORRUPTED, message: expect.stringMatching(/shard 0/) });
  });
});
