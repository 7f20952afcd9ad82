// Suite `loader`: one epoch with global shuffle through the training-data loader (openLoader, one
// client process, rank 0 of 1) over packed datasets of 4 KiB, 32 KiB and 256 KiB samples (1 GiB
// each; 64 MiB with --quick), reporting samples/s, GB/s and the p99 of the time each next() waited.
// The limit, in the same run: the same samples in the same shuffled order (Permutation, same seed
// and epoch) read with fs.readSync, one per sample, one thread, from one local packed file whose
// pages were read once first (as the storage nodes' page cache is warmed here). At 4 KiB also what
// users do today: PyTorch's DataLoader(shuffle=True) over one file per sample through
// `spindle mount` (bench/loader-torch.ts), best of several num_workers values.
//
// Back of the envelope (2 cores shared by client, 3 storage nodes and meta; docs/performance.md):
// the local limit is a page-cache pread per sample: ≈ 1.2 µs at 4 KiB (≈ 700k samples/s), ≈ 4 µs
// at 32 KiB (≈ 250k/s, 8 GB/s), ≈ 20 µs at 256 KiB (≈ 50k/s, 13 GB/s). The loader issues a batch's
// samples as range reads at once and many batches ahead (64 MiB), so depth is never short: it is
// bound by CPU per sample — the client's range read, chunk read and CRC32C of the sample, a storage
// node's segment read and CRC — like rand-read at depth 32 (≈ 20k 4 KiB reads/s, ≈ 50 µs of CPU per
// read over both sides), with more reads per call: ≈ 20–40k samples/s at 4 KiB (≈ 0.03–0.05×),
// ≈ 15–25k at 32 KiB (0.5–0.8 GB/s, ≈ 0.05–0.1×), 256 KiB bandwidth-bound like seq-read
// (≈ 1 GB/s, 4k samples/s, ≈ 0.1×). PyTorch through the mount pays, per sample, a FUSE lookup,
// open (a meta call), read (a storage call) and release through the mount's event loop: ≈ 0.5–1 ms,
// ≈ 1–3k samples/s with workers. Targets (the training-data-loader issue): ≥ 0.5× the local limit
// at 32 KiB and ≥ 3× PyTorch-through-mount samples/s at 4 KiB.
import { performance } from 'node:perf_hooks';
import { PREFETCH_BYTES_DEFAULT } from '../client/loader/index.js';
import { GiB, MiB, type BenchContext, type Limit } from './context.js';
import { startCpuMeter } from './loader-cpu.js';
import { type TorchEpoch, bestEpoch, probeTorch, runTorchBaseline } from './loader-torch.js';
import { formatFigure, gbPerSecond } from './stats.js';
import type { Suite } from './suite.js';
import type { BenchRow } from './types.js';
import type { OpResult } from './worker-tasks.js';

/** One dataset of the suite: its sample size, its size and the global batch size it is read with. */
interface LoaderCase {
  sampleBytes: number;
  datasetBytes: number;
  batchSize: number;
}

export interface LoaderPlan {
  cases: LoaderCase[];
  /** Pack every sample with its key (the file name a directory pack records), as `spindle dataset pack` does. */
  keys: boolean;
  prefetchBytes: number;
  seed: number;
  epoch: number;
  /** The PyTorch baseline: files of the first case's sample size, batches of its batch size (none: no row). */
  torch?: { files: number; workers: number[] };
}

/** Issue target: the loader at 32 KiB reaches at least this share of the local limit. */
const TARGET_LOCAL_RATIO_32K = 0.5;
/** Issue target: the loader at 4 KiB reaches at least this multiple of PyTorch through the mount. */
const TARGET_TORCH_MULTIPLE_4K = 3;
const SHARD_BYTES = 256 * MiB;
/** The local limit repeats its epoch until this long has passed (one epoch of 256 KiB reads takes ≈ 0.1 s). */
const LOCAL_MIN_SECONDS = 2;
const LOCAL_MIN_SECONDS_QUICK = 0.5;

/** The sizes of a run: 1 GiB datasets (64 MiB with --quick); 20,000 files for PyTorch (3,000). Pure. */
export function loaderPlan(quick: boolean): LoaderPlan {
  const datasetBytes = quick ? 64 * MiB : 1 * GiB;
  return {
    cases: [
      { sampleBytes: 4096, datasetBytes, batchSize: 256 },
      { sampleBytes: 32 * 1024, datasetBytes, batchSize: 64 },
      { sampleBytes: 256 * 1024, datasetBytes, batchSize: 16 },
    ],
    keys: true,
    prefetchBytes: PREFETCH_BYTES_DEFAULT,
    seed: 1,
    epoch: 0,
    torch: { files: quick ? 3000 : 20_000, workers: quick ? [0, 2] : [0, 2, 4] },
  };
}

/** `4k`, `32k`, `256k`, `1m`. Pure. */
export function sizeName(bytes: number): string {
  return bytes >= MiB && bytes % MiB === 0 ? `${bytes / MiB}m` : `${bytes / 1024}k`;
}

/** What a measured ratio says about a target of at least `target`× (a note for the row). Pure. */
export function targetNote(what: string, value: number | null, target: number): string {
  if (value === null || !Number.isFinite(value)) return `${what}: no figure (target ≥ ${target}×)`;
  const verdict = value >= target ? 'met' : `missed, ${formatFigure(target / value)}× short`;
  return `${what}: ${formatFigure(value)}× (target ≥ ${target}×: ${verdict})`;
}

function cpuNote(o: OpResult): string {
  if (o.cpuSeconds === undefined || !(o.seconds > 0)) return '';
  const share = Math.round((100 * o.cpuSeconds) / o.seconds);
  return `; process CPU ${formatFigure(o.cpuSeconds)} s in ${formatFigure(o.seconds)} s (${share} % of a core)`;
}

/** CPU per sample by process, in µs (a process not measured is left out). Pure. */
export function perSampleNote(samples: number, cpu: Partial<Record<string, number>>): string {
  const parts = Object.entries(cpu)
    .filter((e): e is [string, number] => e[1] !== undefined && e[1] > 0)
    .map(([who, seconds]) => `${who} ${formatFigure((seconds / samples) * 1e6)} µs`);
  return parts.length === 0 ? 'CPU per sample: not measured' : `CPU per sample: ${parts.join(', ')}`;
}

export async function runLoaderSuite(ctx: BenchContext, plan: LoaderPlan): Promise<void> {
  const replicas = Math.max(...(await ctx.replicaCounts()));
  const meta = await ctx.cluster(replicas);
  const stamp = Date.now();
  const transport = ctx.options.transport;
  const minSeconds = ctx.quick ? LOCAL_MIN_SECONDS_QUICK : LOCAL_MIN_SECONDS;
  let torchRun: { limit: Limit; loader: BenchRow } | undefined;
  for (const c of plan.cases) {
    const name = sizeName(c.sampleBytes);
    const samples = Math.floor(c.datasetBytes / c.sampleBytes);
    const datasetBytes = samples * c.sampleBytes;
    const path = ctx.created(`/bench-loader-${stamp}-${name}`);
    const packed = (
      await ctx.together(`loader ${name}: packing ${samples} samples`, [
        ctx.worker(
          { kind: 'loader-pack', meta, path, samples, sampleBytes: c.sampleBytes, keys: plan.keys },
          `packing ${name}`,
          datasetBytes,
        ),
      ])
    ).results[0]!.ops[0]!;
    ctx.progress.log(
      `[${ctx.suite}] packed ${samples} samples of ${name} in ${packed.seconds.toFixed(1)} s ` +
        `(${formatFigure(gbPerSecond(packed.bytes, packed.seconds))} GB/s)`,
    );
    // The limit reads a page-cached file: the storage nodes' page cache holds the dataset too.
    const warmed = await ctx.warmStorageCaches();
    const order = { seed: plan.seed, epoch: plan.epoch, batchSize: c.batchSize };
    const local = (
      await ctx.together(`loader ${name}: local limit`, [
        ctx.worker(
          { kind: 'loader-local', dir: ctx.scratch, samples, sampleBytes: c.sampleBytes, ...order, minSeconds },
          `local ${name} in shuffled order`,
          datasetBytes,
        ),
      ])
    ).results[0]!.ops[0]!;
    const localGbps = gbPerSecond(local.bytes, local.seconds);
    const passes = Math.round(local.ops / (Math.floor(samples / c.batchSize) * c.batchSize));
    const limit: Limit = { name: `local.${name}`, value: local.ops / local.seconds, unit: 'samples/s' };
    const common = { sample: name, samples, dataset: datasetBytes, batch: c.batchSize, order: 'Permutation' };
    ctx.add({
      case: `limit.local.${name}`,
      config: { ...common, call: 'fs.readSync', file: 'one local file', pageCache: 'warm', threads: 1, passes },
      throughput: limit.value,
      unit: 'samples/s',
      p50Ms: local.p50Ms,
      p99Ms: local.p99Ms,
      bytes: local.bytes,
      ops: local.ops,
      seconds: local.seconds,
      notes: `${formatFigure(localGbps)} GB/s; p50/p99: one batch's reads${cpuNote(local)}`,
    });
    const reader = ctx.worker(
      {
        kind: 'loader-read',
        meta,
        path,
        samples,
        sampleBytes: c.sampleBytes,
        ...order,
        prefetchBytes: plan.prefetchBytes,
        keys: plan.keys,
      },
      `loader ${name}`,
      datasetBytes,
    );
    await reader.ready;
    const meter = startCpuMeter(ctx.scratch);
    const [epoch, firstNext] = (await ctx.together(`loader ${name}: one epoch through openLoader`, [reader]))
      .results[0]!.ops as [OpResult, OpResult];
    const servers = meter();
    const rate = epoch.ops / epoch.seconds;
    const notes = [
      `${formatFigure(gbPerSecond(epoch.bytes, epoch.seconds))} GB/s (limit ${formatFigure(localGbps)} GB/s); ` +
        `p50/p99: each next() wait, the first ${formatFigure(firstNext.seconds * 1000)} ms${cpuNote(epoch)}`,
      perSampleNote(epoch.ops, { client: epoch.cpuSeconds, ...servers }),
    ];
    if (c.sampleBytes === 32 * 1024)
      notes.push(targetNote('to the local limit', rate / limit.value, TARGET_LOCAL_RATIO_32K));
    const row = ctx.add({
      case: `loader.${name}`,
      config: {
        ...common,
        worldSize: 1,
        prefetch: sizeName(plan.prefetchBytes),
        lastBatch: 'drop',
        shards: Math.ceil(datasetBytes / SHARD_BYTES),
        keys: plan.keys,
        replicas,
        storageCache: warmed ? 'warm' : 'as found',
        transport,
      },
      throughput: rate,
      unit: 'samples/s',
      p50Ms: epoch.p50Ms,
      p99Ms: epoch.p99Ms,
      bytes: epoch.bytes,
      ops: epoch.ops,
      seconds: epoch.seconds,
      limit,
      notes: notes.join('; '),
    });
    if (torchRun === undefined) torchRun = { limit, loader: row };
  }
  if (torchRun !== undefined && plan.torch !== undefined) await torchBaseline(ctx, plan.torch, plan, meta, torchRun);
}

/** The PyTorch-through-mount row at the first case's sample size, and the loader's multiple of it. */
async function torchBaseline(
  ctx: BenchContext,
  torch: NonNullable<LoaderPlan['torch']>,
  plan: LoaderPlan,
  meta: string,
  at: { limit: Limit; loader: BenchRow },
): Promise<void> {
  const c = plan.cases[0]!;
  const name = sizeName(c.sampleBytes);
  const probe = await probeTorch();
  const config = {
    sample: name,
    files: torch.files,
    batch: c.batchSize,
    shuffle: true,
    via: 'spindle mount',
    dataset: 'map-style, open+read per sample',
  };
  if ('skip' in probe) {
    ctx.add({
      case: `torch.mount.${name}`,
      config,
      throughput: Number.NaN,
      unit: 'samples/s',
      bytes: 0,
      ops: 0,
      seconds: 0,
      limit: at.limit,
      notes: `skipped: ${probe.skip}`,
    });
    return;
  }
  const t0 = performance.now();
  const { epochs, treeSeconds, cpu } = await runTorchBaseline(ctx, {
    meta,
    files: torch.files,
    sampleBytes: c.sampleBytes,
    batchSize: c.batchSize,
    workers: torch.workers,
    seed: plan.seed,
  });
  const best = bestEpoch(epochs);
  const allSamples = epochs.reduce((sum, e) => sum + e.samples, 0);
  const rate = best.samples / best.seconds;
  const multiple = at.loader.throughput / rate;
  const each = epochs.map((e: TorchEpoch) => `${e.workers}: ${formatFigure(e.samples / e.seconds)}/s`).join(', ');
  ctx.add({
    case: `torch.mount.${name}`,
    config: { ...config, workers: best.workers, tried: torch.workers.join(','), torch: probe.torch },
    throughput: rate,
    unit: 'samples/s',
    p50Ms: best.p50Ms,
    p99Ms: best.p99Ms,
    bytes: best.bytes,
    ops: best.samples,
    seconds: best.seconds,
    limit: at.limit,
    notes:
      `${formatFigure(gbPerSecond(best.bytes, best.seconds))} GB/s; samples/s by num_workers: ${each}; ` +
      `${perSampleNote(allSamples, { mount: cpu.other, storage: cpu.storage, meta: cpu.meta })} over every epoch; ` +
      `a subset of ${torch.files} files (written in ${treeSeconds.toFixed(1)} s; ` +
      `the baseline's whole run ${((performance.now() - t0) / 1000).toFixed(0)} s); ` +
      targetNote(`loader.${name} ÷ this`, multiple, TARGET_TORCH_MULTIPLE_4K),
  });
  at.loader.config.vsTorch = Number(multiple.toPrecision(3));
  at.loader.notes = `${at.loader.notes}; ${targetNote(`÷ torch.mount.${name}`, multiple, TARGET_TORCH_MULTIPLE_4K)}`;
}

export const loaderSuite: Suite = {
  name: 'loader',
  estimate:
    'openLoader ≈ 20–40k samples/s at 4 KiB, ≈ 0.5–1 GB/s at 32–256 KiB (≈ 0.03–0.1× local pread); ' +
    'PyTorch through the mount ≈ 1–3k samples/s',
  run: (ctx) => runLoaderSuite(ctx, loaderPlan(ctx.quick)),
};
