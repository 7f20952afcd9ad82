// Suite `checkpoint` (bench/checkpoint.ts): its pure parts, and the whole suite in --quick mode with
// tiny sizes on a real cluster — every row produced, every load checked byte for byte by its worker
// (including the async save's, whose buffer was overwritten once captured). No timing assertions:
// figures are only checked to exist.
import { describe, expect, it } from 'vitest';
import { atMostNote, loadSeconds, saveFigures, sizeText } from './checkpoint-figures.js';
import { firstShardMismatch, type SaveMarks, shardContent } from './checkpoint-tasks.js';
import { type CheckpointPlan, checkpointPlan, runCheckpointSuite } from './checkpoint.js';
import { BenchContext, MiB } from './context.js';
import { parseBenchArgs } from './options.js';
import { ProgressLine } from './progress.js';

describe('bench checkpoint: pure parts', () => {
  it('plans 4 ranks × 512 MiB, three repetitions (64 MiB, one with --quick)', () => {
    expect(checkpointPlan(false)).toMatchObject({ ranks: 4, shardBytes: 512 * MiB, repetitions: 3 });
    expect(checkpointPlan(true)).toMatchObject({ ranks: 4, shardBytes: 64 * MiB, repetitions: 1 });
    expect([512 * MiB, 2048 * MiB, 3 * MiB + 1].map(sizeText)).toEqual(['512MiB', '2GiB', '3145729B']);
  });

  it('shards differ by rank and block, and a reader finds the first wrong byte', () => {
    const bytes = 2 * MiB + 5;
    const rank1 = shardContent(1, bytes);
    expect(firstShardMismatch(rank1, 1, bytes)).toBeUndefined();
    expect(firstShardMismatch(rank1, 2, bytes)).toBe(0); // another rank's stamp
    expect(rank1.subarray(8, MiB).equals(rank1.subarray(MiB + 8, 2 * MiB))).toBe(true);
    expect(rank1.readUInt32LE(MiB + 4)).toBe(1); // block 1's index
    const damaged = Buffer.from(rank1);
    damaged[MiB + 100] ^= 1;
    expect(firstShardMismatch(damaged, 1, bytes)).toBe(MiB + 100);
    expect(firstShardMismatch(rank1.subarray(0, bytes - 1), 1, bytes)).toBe(bytes - 1);
    expect(firstShardMismatch(shardContent(0, 3), 0, 3)).toBeUndefined(); // shorter than a block header
  });

  it("save figures: begin → committed, last byte synced → committed, and each rank's stall", () => {
    const rank = (startedAtMs: number, writtenAtMs: number, finishedAtMs: number, committer: boolean): SaveMarks => ({
      startedAtMs,
      begunAtMs: startedAtMs + 10,
      writtenAtMs,
      finishedAtMs,
      committed: true,
      committer,
    });
    const figures = saveFigures([rank(1000, 5000, 5010, false), rank(1002, 6000, 6040, true)]);
    expect(figures.saveSeconds).toBeCloseTo(5.04, 9);
    expect(figures.commitSeconds).toBeCloseTo(0.04, 9);
    expect(figures.writeSeconds).toBeCloseTo(5, 9);
    expect(figures.beginSeconds).toBeCloseTo(0.01, 9);
    expect(figures.stallSeconds).toEqual([]);
    // save(): only the stall and the commit are seen; what happened in between is NaN.
    const asyncRank = (startedAtMs: number, committer: boolean): SaveMarks => ({
      startedAtMs,
      capturedAtMs: startedAtMs + 50,
      finishedAtMs: startedAtMs + 3000,
      committed: true,
      committer,
    });
    const async = saveFigures([asyncRank(1000, true), asyncRank(1010, false)]);
    expect(async.saveSeconds).toBe(3);
    expect(async.stallSeconds).toEqual([0.05, 0.05]);
    expect(async.commitSeconds).toBeNaN();
    expect(async.beginSeconds).toBeNaN();
    expect(() => saveFigures([rank(0, 1, 2, false)])).toThrow(/one rank to commit/);
    expect(
      loadSeconds([
        { startedAtMs: 10, endedAtMs: 500 },
        { startedAtMs: 0, endedAtMs: 1000 },
      ]),
    ).toBe(1);
    expect(atMostNote('stall ÷ full save', 0.02, 0.1)).toBe('stall ÷ full save: 0.02× (target ≤ 0.1×: met)');
    expect(atMostNote('stall ÷ full save', 0.3, 0.1)).toBe('stall ÷ full save: 0.3× (target ≤ 0.1×: missed, 3× over)');
  });
});

/** Tiny: 2 ranks of 3 MiB + 1 byte (a partial block and a partial 4 MiB capture piece), two repetitions. */
const TINY: CheckpointPlan = {
  ranks: 2,
  shardBytes: 3 * MiB + 1,
  repetitions: 2,
  diskProbeBytes: 8 * MiB,
  tcpProbeBytes: 64 * MiB,
};

describe('bench checkpoint: the suite', () => {
  it('runs in --quick mode with tiny sizes and produces its rows', { timeout: 300_000 }, async () => {
    const options = parseBenchArgs(['checkpoint', '--quick', '--silent']);
    const ctx = new BenchContext('checkpoint', options, new ProgressLine(false));
    try {
      await runCheckpointSuite(ctx, TINY);
    } finally {
      await ctx.close();
    }
    expect(ctx.rows.map((r) => r.case)).toEqual([
      'limit.disk.odirect.write',
      'limit.tcp.loopback',
      'save.writeShard',
      'save.async',
      'load.cold',
      'load.warm',
      'save.async.stall',
    ]);
    const [disk, tcp, save, asyncSave, cold, warm, stall] = ctx.rows;
    for (const limit of [disk!, tcp!]) expect(limit).toMatchObject({ ratio: null, limitName: null });
    const stepBytes = TINY.ranks * TINY.shardBytes;
    for (const row of [save!, asyncSave!]) {
      expect(row).toMatchObject({ limitName: 'disk.odirect.write/3', ops: 2, bytes: 2 * stepBytes });
      expect(row.limitValue).toBeCloseTo(disk!.throughput / 3, 9);
      expect(row.ratio).toBeGreaterThan(0);
      expect(row.notes).toMatch(/to the limit: .*target ≥ 0.6×/);
    }
    expect(save!.p50Ms).toBeGreaterThan(0); // the commit latency
    expect(asyncSave!.config).toMatchObject({ api: 'Checkpoints.save', stagingBytes: '3145729B' });
    expect(cold).toMatchObject({ limitName: 'tcp.loopback', ops: 4, bytes: 4 * stepBytes });
    expect(warm).toMatchObject({ limitName: 'tcp.loopback', ops: 1 });
    expect(warm!.config.storageCache).toBe('warm');
    expect(cold!.notes).toMatch(/to raw TCP: .*target ≥ 0.5×/);
    expect(stall).toMatchObject({ limitName: 'save.async', limitValue: asyncSave!.throughput });
    expect(stall!.p99Ms).toBeGreaterThan(0);
    expect(stall!.notes).toMatch(/stall ÷ full save: .*target ≤ 0.1×/);
  });
});
