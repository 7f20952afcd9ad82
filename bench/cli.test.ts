// Suite `cli` (bench/cli.ts): the whole suite with a small file on a real cluster — every row
// produced, each command run as its own `spindle` process and its copy checked byte for byte by
// the suite (it throws on a mismatch). No timing assertions: figures are only checked to exist.
import { describe, expect, it } from 'vitest';
import { cliPlan, runCliSuite } from './cli.js';
import { BenchContext, GiB, MiB } from './context.js';
import { parseBenchArgs } from './options.js';
import { ProgressLine } from './progress.js';

describe('bench cli', () => {
  it('plans 1 GiB (512 MiB quick)', () => {
    expect(cliPlan(false).fileBytes).toBe(GiB);
    expect(cliPlan(true).fileBytes).toBe(512 * MiB);
  });

  it('times put, get and cp against the library in the same run', { timeout: 300_000 }, async () => {
    const args = parseBenchArgs(['cli', '--quick', '--silent', '--replicas', '3']);
    const ctx = new BenchContext('cli', args, new ProgressLine(false));
    try {
      await runCliSuite(ctx, { fileBytes: 30 * MiB }); // rounded up to 8 chunks of 4 MiB
    } finally {
      await ctx.close();
    }
    expect(ctx.rows.map((r) => r.case)).toEqual([
      'library.write.r3',
      'put.r3',
      'library.read.r3',
      'limit.local.write',
      'get.r3',
      'cp.r3',
    ]);
    for (const row of ctx.rows) {
      expect(row.bytes).toBe(32 * MiB);
      expect(row.throughput).toBeGreaterThan(0);
    }
    const byCase = new Map(ctx.rows.map((r) => [r.case, r]));
    expect(byCase.get('put.r3')).toMatchObject({ limitName: 'library.seq-write', ops: 1 });
    expect(byCase.get('get.r3')).toMatchObject({ limitName: 'library.seq-read', ops: 1 });
    expect(byCase.get('cp.r3')).toMatchObject({ limitName: 'library.seq-write', ops: 1 });
    expect(byCase.get('get.r3')!.limitValue).toBe(byCase.get('library.read.r3')!.throughput);
    expect(byCase.get('get.r3')!.notes).toMatch(/bytes checked .*× the lower of library.seq-read and local.write/);
    expect(byCase.get('limit.local.write')).toMatchObject({ ratio: null, limitName: null, unit: 'GB/s' });
  });
});
