// Suite `scrub` (bench/scrub-cost.ts) with a small file: both rows, the "on" row measured against
// the "off" row of the same run, the scrubbers of the "on" cluster checking chunks (the suite
// throws when they check nothing) and those of the "off" cluster idle. The reads check every byte.
// No timing assertions: figures are only checked to exist.
import { describe, expect, it } from 'vitest';
import { BenchContext, MiB } from './context.js';
import { parseBenchArgs } from './options.js';
import { ProgressLine } from './progress.js';
import { runScrubCostSuite } from './scrub-cost.js';

describe('bench scrub', () => {
  it('reads the same file size with the scrubber scrubbing continuously and off', { timeout: 300_000 }, async () => {
    const args = parseBenchArgs(['scrub', '--quick', '--silent', '--replicas', '3']);
    const ctx = new BenchContext('scrub', args, new ProgressLine(false));
    try {
      await runScrubCostSuite(ctx, 32 * MiB);
    } finally {
      await ctx.close();
    }
    expect(ctx.rows.map((r) => r.case)).toEqual(['scrub-off.seq-read', 'scrub-on.seq-read']);
    const [off, on] = ctx.rows as [(typeof ctx.rows)[0], (typeof ctx.rows)[0]];
    for (const row of ctx.rows) {
      expect(row.bytes).toBe(32 * MiB);
      expect(row.throughput).toBeGreaterThan(0);
      expect(row.config.replicas).toBe(3);
    }
    expect(off).toMatchObject({ limitName: null, ratio: null, config: { scrubBytesPerSec: 0 } });
    expect(off.notes).toMatch(/scrubbers checked 0\.0 MB\/s/);
    for (const row of ctx.rows) expect(row.notes).toMatch(/storage nodes used \d+\.\d+ CPU s per GB read/);
    expect(on).toMatchObject({
      limitName: 'scrub-off.seq-read',
      limitValue: off.throughput,
      config: { scrubBytesPerSec: 32 * MiB, scrubPassIntervalMs: 0 },
    });
    expect(on.ratio).toBeGreaterThan(0);
  });
});
