// Suite `scale` (bench/scale.ts): its pure parts, and the whole suite with tiny sizes on a real
// cluster — every row produced with sane figures (the namespace sizes it was asked for, RSS of
// every process in MiB that a Node process can have, the long read's bytes), and the SVG's curves.
// No timing assertions: figures are only checked to exist and be positive.
import { describe, expect, it } from 'vitest';
import { BenchContext, MiB } from './context.js';
import { parseBenchArgs } from './options.js';
import { ProgressLine } from './progress.js';
import { svgChart } from './render.js';
import { parseResident, peakRss, residentOf } from './rss.js';
import { signedMiB } from './scale-read.js';
import { scaleDirName, scaleFilePath } from './scale-tasks.js';
import { type ScalePlan, scalePlan } from './scale-plan.js';
import { growthNote, runScaleSuite, scaleCurves } from './scale.js';

describe('bench scale: pure parts', () => {
  it('plans 5k/100k/1M files (5k/20k quick), 1–8 clients, depths 1–128, 10 GiB long read', () => {
    const full = scalePlan(false);
    expect(full.files).toEqual([5000, 100_000, 1_000_000]);
    expect(full.readFileBytes * full.longReadPasses).toBe(10 * 2 ** 30);
    expect(full.clients).toEqual([1, 2, 4, 8]);
    expect(full.iopsDepths).toEqual([1, 4, 16, 32, 64, 128]);
    expect(scalePlan(true).files).toEqual([5000, 20_000]);
    expect(scalePlan(true).readFileBytes).toBe(256 * MiB);
    expect(scalePlan(true, [100, 50_000]).files).toEqual([100, 50_000]);
    expect(parseBenchArgs(['scale', '--files', '100000,5000']).files).toEqual([5000, 100_000]);
    expect(() => parseBenchArgs(['scale', '--files', '0'])).toThrow(/--files/);
    // `all` leaves scale out (its full run populates 1 M files); it runs by name.
    expect(parseBenchArgs(['all']).suites).not.toContain('scale');
    expect(parseBenchArgs(['scale']).suites).toEqual(['scale']);
  });

  it('names files 10,000 a directory', () => {
    expect(scaleFilePath(0)).toBe('d0000/f0000000');
    expect(scaleFilePath(999_999)).toBe('d0099/f0999999');
    expect(scaleDirName(10_000)).toBe('d0001');
  });

  it('notes growth, with the target only at 1 M files', () => {
    expect(growthNote(0.9, 5000, 100_000)).toBe('0.90× the same at 5,000 files');
    expect(growthNote(0.75, 5000, 1_000_000)).toMatch(/target ≥ 0.8×: missed/);
    expect(growthNote(0.85, 5000, 1_000_000)).toMatch(/target ≥ 0.8×: met/);
    expect(signedMiB(-MiB / 2)).toBe('-0.5 MiB');
  });

  it('reads VmRSS and RssAnon (this process has them) and picks peaks by bytes moved', () => {
    expect(parseResident('Name:\tnode\nVmRSS:\t  123456 kB\nRssAnon:\t 1000 kB\nVmSwap:\t0 kB\n')).toEqual({
      rss: 123456 * 1024,
      anon: 1000 * 1024,
    });
    expect(parseResident('Name:\tkthread\n')).toBeUndefined();
    const own = residentOf(process.pid)!;
    expect(own.rss).toBeGreaterThan(10 * MiB);
    expect(own.anon).toBeLessThanOrEqual(own.rss);
    const at = (movedBytes: number, rss: number) => ({
      movedBytes,
      rss: new Map([['meta', rss]]),
      anon: new Map([['meta', rss / 2]]),
    });
    const samples = [at(0, 5), at(10, 7), at(20, 6), at(90, 9), at(100, 8)];
    expect(peakRss(samples, 'meta', { from: 1, to: 25 })).toBe(7);
    expect(peakRss(samples, 'meta', { from: 1, to: 25 }, 'anon')).toBe(3.5);
    expect(peakRss(samples, 'meta', { from: 80, to: 100 })).toBe(9);
    expect(peakRss(samples, 'meta', { from: 40, to: 60 })).toBe(6); // none inside: the nearest
    expect(peakRss(samples, 'storage-1', { from: 0, to: 100 })).toBeUndefined();
  });
});

/** Two tiny namespaces, 16 MiB read, 2 passes of the long read. */
const TINY: ScalePlan = {
  files: [300, 900],
  meta: [
    { depth: 1, stats: 50, creates: 30 },
    { depth: 16, stats: 200, creates: 100 },
  ],
  readFileBytes: 16 * MiB,
  clients: [1, 2],
  iopsDepths: [1, 8],
  iopsSeconds: 0.3,
  longReadPasses: 2,
};

describe('bench scale: the suite', () => {
  it('runs with tiny sizes and produces its rows and curves', { timeout: 300_000 }, async () => {
    const ctx = new BenchContext('scale', parseBenchArgs(['scale', '--quick', '--silent']), new ProgressLine(false));
    try {
      await runScaleSuite(ctx, TINY);
    } finally {
      await ctx.close();
    }
    const row = (name: string) => {
      const found = ctx.rows.find((r) => r.case === name);
      expect(found, name).toBeDefined();
      return found!;
    };
    for (const files of TINY.files)
      for (const { depth, stats, creates } of TINY.meta) {
        expect(row(`stat.qd${depth}.f${files}`)).toMatchObject({ unit: 'ops/s', ops: stats, config: { files } });
        expect(row(`create.qd${depth}.f${files}`)).toMatchObject({ unit: 'ops/s', ops: creates, config: { files } });
      }
    // The smallest namespace is compared with the local file system, larger ones with the smallest.
    expect(row('stat.qd1.f300').limitName).toBe('fs.stat');
    expect(row('create.qd16.f900').limitName).toBe('scale.create.qd16.f300');
    expect(row('create.qd16.f900').notes).toMatch(/× the same at 300 files/);
    const processes = ['client', 'meta', 'storage-1', 'storage-2', 'storage-3'];
    for (const p of processes) {
      for (const name of [`rss.${p}.f300`, `rss.${p}.f900`, `rss.${p}.read`]) {
        const r = row(name);
        expect(r.unit).toBe('MiB');
        expect(r.throughput, name).toBeGreaterThan(10);
        expect(r.throughput, name).toBeLessThan(4096);
      }
      expect(row(`rss.${p}.f900`).limitName).toBe(`scale.rss.${p}.f300`);
      expect(row(`rss.${p}.f900`).config.anonMiB).toBeGreaterThan(1);
      expect(row(`rss.${p}.read`).config.anonMiB).toMatch(/^\d+→\d+$/);
      expect(row(`rss.${p}.read`).notes).toMatch(/^(flat|GROWS): [+-][\d.]+ MiB from the first pass/);
      expect(row(`rss.${p}.read`).config).toMatchObject({ process: p, passGiB: 0.016, movedGiB: 0.031 });
    }
    expect(row('read.long')).toMatchObject({ bytes: 2 * 16 * MiB, limitName: 'tcp.loopback' });
    for (const clients of TINY.clients) expect(row(`read.c${clients}`).bytes).toBe(16 * MiB);
    for (const depth of TINY.iopsDepths) expect(row(`read.4k.qd${depth}`).limitName).toBe('fs.pread.4k');
    for (const r of ctx.rows) {
      expect(r.throughput, r.case).toBeGreaterThan(0);
      if (r.limitName !== null) expect(r.ratio, r.case).toBeGreaterThan(0);
    }
    const curves = scaleCurves(ctx.rows);
    expect(curves.map((c) => c.series.length)).toEqual([4, 1, 1, 5, 5]);
    const statQd1 = curves[0]!.series.find((s) => s.name === 'stat qd1')!.points;
    expect(statQd1.map((p) => p.x)).toEqual([300, 900]);
    expect(statQd1[0]!.y).toBe(1); // drawn relative to the smallest namespace
    expect(statQd1[1]!.y).toBeCloseTo(row('stat.qd1.f900').ratio!, 2);
    const svg = svgChart(ctx.rows, { curves });
    expect(svg.match(/<polyline /g)).toHaveLength(16);
    expect(svg).toContain('RSS vs GiB read');
  });
});
