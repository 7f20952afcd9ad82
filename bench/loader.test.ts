// Suite `loader` (bench/loader.ts): its pure parts, and the whole suite in --quick mode with tiny
// sizes on a real cluster — every row produced, each loader epoch checked by its worker (every sample
// once, its own bytes). The PyTorch row runs where the venv has torch and /dev/fuse exists, and says
// why it was skipped otherwise. No timing assertions: figures are only checked to exist.
import { describe, expect, it } from 'vitest';
import { BenchContext, MiB } from './context.js';
import { filePath, sampleKey } from './loader-tasks.js';
import { statCpuSeconds } from './loader-cpu.js';
import { bestEpoch, parseTorchEpochs, probeTorch } from './loader-torch.js';
import { type LoaderPlan, loaderPlan, perSampleNote, runLoaderSuite, sizeName, targetNote } from './loader.js';
import { parseBenchArgs } from './options.js';
import { ProgressLine } from './progress.js';

describe('bench loader: pure parts', () => {
  it('plans 1 GiB datasets (64 MiB quick) of 4, 32 and 256 KiB samples with their batch sizes', () => {
    for (const quick of [false, true]) {
      const plan = loaderPlan(quick);
      expect(plan.cases.map((c) => [c.sampleBytes, c.batchSize])).toEqual([
        [4096, 256],
        [32768, 64],
        [262144, 16],
      ]);
      for (const c of plan.cases) expect(c.datasetBytes).toBe(quick ? 64 * MiB : 1024 * MiB);
      expect(plan.prefetchBytes).toBe(64 * MiB);
    }
    expect(loaderPlan(false).torch).toEqual({ files: 20_000, workers: [0, 2, 4] });
    expect(loaderPlan(true).torch?.files).toBeLessThan(20_000);
  });

  it('names sizes, files and keys', () => {
    expect([4096, 32768, 262144, MiB].map(sizeName)).toEqual(['4k', '32k', '256k', '1m']);
    expect(filePath(3141)).toBe('d0003/s0003141.bin');
    expect(filePath(0)).toBe('d0000/s0000000.bin');
    expect(sampleKey(999)).toBe('d0000/s0000999.bin');
  });

  it('target notes say met, or by how much a target was missed', () => {
    expect(targetNote('to the local limit', 0.05, 0.5)).toBe(
      'to the local limit: 0.05× (target ≥ 0.5×: missed, 10× short)',
    );
    expect(targetNote('÷ torch', 12.5, 3)).toBe('÷ torch: 12.5× (target ≥ 3×: met)');
    expect(targetNote('x', null, 3)).toBe('x: no figure (target ≥ 3×)');
  });

  it('CPU seconds from /proc/<pid>/stat (a command name with spaces and parentheses) and per sample', () => {
    const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 11 0 123';
    expect(statCpuSeconds(stat)).toBe(3.25);
    expect(statCpuSeconds('garbage')).toBeNaN();
    expect(perSampleNote(1000, { client: 0.05, storage: 0.2, meta: 0, mount: undefined })).toBe(
      'CPU per sample: client 50 µs, storage 200 µs',
    );
    expect(perSampleNote(10, {})).toBe('CPU per sample: not measured');
  });

  it("parses the PyTorch script's epochs and picks the fastest", () => {
    const line = (workers: number, seconds: number) =>
      JSON.stringify({ workers, samples: 1000, bytes: 4096000, seconds, batches: 4, p50Ms: 1, p99Ms: 2 });
    const epochs = parseTorchEpochs(`warning: something\n${line(0, 2)}\n${line(2, 1)}\n${line(4, 1.5)}\n`);
    expect(epochs.map((e) => e.workers)).toEqual([0, 2, 4]);
    expect(bestEpoch(epochs).workers).toBe(2);
    expect(() => parseTorchEpochs('{"workers":0}')).toThrow(/without samples/);
    expect(() => bestEpoch([])).toThrow(/no epoch/);
  });
});

/** Tiny datasets: 4 MiB each (4, 2 and 1 global batches), 600 files for PyTorch. */
const TINY: LoaderPlan = {
  ...loaderPlan(true),
  cases: loaderPlan(true).cases.map((c) => ({ ...c, datasetBytes: 4 * MiB })),
  torch: { files: 600, workers: [0, 2] },
};

describe('bench loader: the suite', () => {
  it('runs in --quick mode with tiny sizes and produces its rows', { timeout: 300_000 }, async () => {
    const ctx = new BenchContext('loader', parseBenchArgs(['loader', '--quick', '--silent']), new ProgressLine(false));
    try {
      await runLoaderSuite(ctx, TINY);
    } finally {
      await ctx.close();
    }
    expect(ctx.rows.map((r) => r.case)).toEqual([
      'limit.local.4k',
      'loader.4k',
      'limit.local.32k',
      'loader.32k',
      'limit.local.256k',
      'loader.256k',
      'torch.mount.4k',
    ]);
    for (const [at, c] of TINY.cases.entries()) {
      const samples = c.datasetBytes / c.sampleBytes;
      const limit = ctx.rows[2 * at]!;
      const loader = ctx.rows[2 * at + 1]!;
      expect(limit).toMatchObject({ unit: 'samples/s', ratio: null, limitName: null });
      expect(limit.ops).toBe(samples * Number(limit.config.passes)); // whole epochs, repeated
      expect(loader).toMatchObject({ unit: 'samples/s', limitName: `local.${sizeName(c.sampleBytes)}`, ops: samples });
      expect(loader.bytes).toBe(c.datasetBytes);
      expect(loader.ratio).toBeGreaterThan(0);
      expect(loader.p99Ms).toBeGreaterThan(0);
      expect(loader.config).toMatchObject({ batch: c.batchSize, prefetch: '64m', worldSize: 1, replicas: 3 });
    }
    expect(ctx.rows[3]!.notes).toMatch(/to the local limit: .*target ≥ 0.5×/);
    // Client and storage CPU per sample (the servers are found under the suite's scratch directory;
    // meta may spend less than one 10 ms clock tick on a tiny epoch and is then left out).
    expect(ctx.rows[1]!.notes).toMatch(/CPU per sample: client [\d.]+ µs, .*storage [\d.]+ µs/);
    const torch = ctx.rows[6]!;
    const probe = await probeTorch();
    if ('skip' in probe) {
      expect(torch.notes).toBe(`skipped: ${probe.skip}`);
      expect(torch.ratio).toBeNull();
    } else {
      expect(torch.ops).toBe(512); // 600 files, batches of 256, last one dropped
      expect([0, 2]).toContain(torch.config.workers);
      expect(torch.notes).toMatch(/loader.4k ÷ this: .*target ≥ 3×/);
      expect(ctx.rows[1]!.config.vsTorch).toBeGreaterThan(0);
    }
  });
});
