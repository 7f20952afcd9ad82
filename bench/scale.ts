// Suite `scale`: how cost grows — metadata ops/s as the namespace grows (5 k, 100 k, 1 M files),
// sequential read GB/s as clients are added (1, 2, 4, 8), 4 KiB random-read IOPS as depth grows
// (1 … 128), and the resident memory of every process at each namespace size and across a long
// read (10 GiB moved: RSS must not grow with bytes moved). The SVG draws each as a curve.
//
// Back of the envelope: meta keeps the namespace in lmdb (a B+tree): a stat is ~3 lookups of
// O(log n) pages and a create a few puts in one transaction, so 5 k → 1 M files (200×) adds one or
// two tree levels, all in the page cache: stat and create at 1 M should stay ≥ 0.8× of 5 k (issue
// 14's target); meta's RSS grows with the pages it touched (lmdb maps its file, and RSS counts the
// mapped pages read), the storage nodes' and the client's should not. Sequential reads from N
// clients share 2 cores with 3 storage nodes: the sum should stay near the 1-client figure, not
// grow. 4 KiB IOPS rise with depth until one client's CPU is the bound (≈ depth 32–64).
// Limits, same run: the local file system's stat/create for the smallest namespace, then each
// larger namespace against the smallest (ratio = what growth costs); raw TCP loopback for reads;
// a page-cache 4 KiB pread for IOPS; each process's own RSS in the first pass of the long read.
import { type BenchContext, type Limit, MiB } from './context.js';
import type { CurvePanel } from './render-curves.js';
import { type ScalePlan, scalePlan } from './scale-plan.js';
import { RssSampler, peakRss } from './rss.js';
import { localFsLimits } from './meta.js';
import { measureReads } from './scale-read.js';
import type { BenchRow } from './types.js';
import type { Suite } from './suite.js';
import type { BenchWorker } from './workers.js';

/** Issue 14: stat and create at 1 M files ≥ 0.8× the same at 5 k. */
const GROWTH_TARGET = 0.8;
/** Opens in flight while populating: the client sends them as BatchOpens of up to 256. */
const POPULATE_DEPTH = 256;

export const scaleSuite: Suite = {
  name: 'scale',
  estimate: 'stat/create at 1 M files ≥ 0.8× at 5 k; reads flat with clients; RSS flat over 10 GiB read',
  run: (ctx) => runScaleSuite(ctx, scalePlan(ctx.quick, ctx.options.files)),
  curves: scaleCurves,
};

export async function runScaleSuite(ctx: BenchContext, plan: ScalePlan): Promise<void> {
  const replicas = Math.max(...(await ctx.replicaCounts()));
  const meta = await ctx.cluster(replicas);
  await measureMetadata(ctx, meta, plan);
  await measureReads(ctx, meta, replicas, plan);
}

/** Runs workers together while sampling the RSS of the servers and of each worker (as `client`). */
async function sampled(ctx: BenchContext, label: string, workers: BenchWorker[], sampler: RssSampler[]) {
  await Promise.all(workers.map((w) => w.ready));
  const pids = ctx.serverPids();
  workers.forEach((w, i) => pids.set(workers.length > 1 ? `client-${i + 1}` : 'client', w.pid));
  const rss = new RssSampler(pids, () => 0);
  sampler.push(rss);
  try {
    return await ctx.together(label, workers);
  } finally {
    rss.stop();
  }
}

async function measureMetadata(ctx: BenchContext, meta: string, plan: ScalePlan): Promise<void> {
  const fsLimit = await localFsLimits(ctx, ctx.quick ? 1000 : 5000, 1, ['stat', 'create']);
  const root = ctx.created(`/bench-scale-${Date.now()}`);
  const smallest = plan.files[0]!;
  const baseline = new Map<string, Limit>();
  const rssBaseline = new Map<string, Limit>();
  let populated = 0;
  for (const files of plan.files) {
    const samplers: RssSampler[] = [];
    const adding = files - populated;
    const populate = ctx.worker(
      { kind: 'scale-populate', meta, root, from: populated, to: files, depth: POPULATE_DEPTH },
      `populating ${files.toLocaleString('en-US')} files`,
      adding,
      'files',
    );
    const fill = (await sampled(ctx, `populating to ${files} files`, [populate], samplers)).results[0]!.ops[0]!;
    populated = files;
    ctx.progress.log(
      `[scale] populated ${adding.toLocaleString('en-US')} files in ${fill.seconds.toFixed(1)} s ` +
        `(${Math.round(fill.ops / fill.seconds).toLocaleString('en-US')} creates/s, ${POPULATE_DEPTH} in flight)`,
    );
    for (const { depth, stats, creates } of plan.meta) {
      const w = ctx.worker(
        { kind: 'scale-meta', meta, root, files, statCount: stats, createCount: creates, depth, tag: `q${depth}` },
        `stat/create in ${files.toLocaleString('en-US')} files, ${depth} in flight`,
        stats + creates,
        'ops',
      );
      const ops = (await sampled(ctx, `meta at ${files} files qd${depth}`, [w], samplers)).results[0]!.ops;
      for (const o of ops) {
        const key = `${o.name}.qd${depth}`;
        const rate = o.ops / o.seconds;
        const limit = files === smallest ? fsLimit.get(o.name)! : baseline.get(key)!;
        const row = ctx.add({
          case: `${key}.f${files}`,
          config: { op: o.name, depth, files },
          throughput: rate,
          unit: 'ops/s',
          p50Ms: o.p50Ms,
          p99Ms: o.p99Ms,
          bytes: 0,
          ops: o.ops,
          seconds: o.seconds,
          limit,
          notes: files === smallest ? undefined : growthNote(rate / limit.value, smallest, files),
        });
        if (files === smallest) baseline.set(key, { name: `scale.${row.case}`, value: rate, unit: 'ops/s' });
      }
    }
    addRssRows(ctx, samplers, { files, smallest, baseline: rssBaseline });
  }
}

/** The target is stated for 1 M files; smaller namespaces say their ratio only. */
export function growthNote(ratio: number, smallest: number, files: number): string {
  const base = `${ratio.toFixed(2)}× the same at ${smallest.toLocaleString('en-US')} files`;
  if (files < 1_000_000) return base;
  return `${base} (issue 14's target ≥ ${GROWTH_TARGET}×: ${ratio >= GROWTH_TARGET ? 'met' : 'missed'})`;
}

/** One RSS row per process: its peak while populating to `files` and measuring there. */
function addRssRows(
  ctx: BenchContext,
  samplers: RssSampler[],
  at: { files: number; smallest: number; baseline: Map<string, Limit> },
): void {
  const { files, smallest, baseline } = at;
  const samples = samplers.flatMap((s) => s.samples);
  const names = [...new Set(samples.flatMap((s) => [...s.rss.keys()]))].sort();
  for (const name of names) {
    const all = { from: 0, to: Number.POSITIVE_INFINITY };
    const mib = peakRss(samples, name, all)! / MiB;
    const row = ctx.add({
      case: `rss.${name}.f${files}`,
      config: { process: name, files, anonMiB: Math.round(peakRss(samples, name, all, 'anon')! / MiB) },
      throughput: mib,
      unit: 'MiB',
      bytes: 0,
      ops: 0,
      seconds: 0,
      limit: files === smallest ? undefined : baseline.get(name),
      notes: name === 'client' ? 'client: the peak of the populating and the measuring worker processes' : undefined,
    });
    if (files === smallest) baseline.set(name, { name: `scale.${row.case}`, value: mib, unit: 'MiB' });
  }
}

/** Each series divided by its point at the smallest x (growth as a ratio, 1 at the start). */
function relative(series: CurvePanel['series']): CurvePanel['series'] {
  return series.map(({ name, points }) => {
    const first = points.reduce((a, b) => (b.x < a.x ? b : a), points[0]!);
    return { name, points: points.map((p) => ({ x: p.x, y: p.y / first.y })) };
  });
}

/** The SVG's curves: each figure against what grows. */
export function scaleCurves(rows: readonly BenchRow[]): CurvePanel[] {
  const measured = rows.filter((r) => r.limitName !== null || r.case.startsWith('rss.'));
  const series = (pick: (r: BenchRow) => boolean, name: (r: BenchRow) => string, x: (r: BenchRow) => number) => {
    const out = new Map<string, Array<{ x: number; y: number }>>();
    for (const r of measured.filter(pick)) {
      const key = name(r);
      out.set(key, [...(out.get(key) ?? []), { x: x(r), y: r.throughput }]);
    }
    return [...out].map(([n, points]) => ({ name: n, points }));
  };
  const num = (r: BenchRow, key: string) => Number(r.config[key]);
  return [
    {
      // ops/s at depth 1 and 64 differ 20×: each curve is drawn ÷ its own figure at the smallest size.
      title: 'Metadata ops/s ÷ the same at the smallest namespace',
      xLabel: 'files',
      yUnit: '× smallest',
      logX: true,
      series: relative(
        series(
          (r) => /^(stat|create)\.qd\d+\.f\d+$/.test(r.case),
          (r) => `${r.config['op']} qd${r.config['depth']}`,
          (r) => num(r, 'files'),
        ),
      ),
    },
    {
      title: 'Sequential read GB/s vs clients',
      xLabel: 'clients',
      yUnit: 'GB/s',
      logX: false,
      series: series(
        (r) => /^read\.c\d+$/.test(r.case),
        () => 'seq read, sum of clients',
        (r) => num(r, 'clients'),
      ),
    },
    {
      title: '4 KiB random read IOPS vs depth',
      xLabel: 'reads in flight',
      yUnit: 'IOPS',
      logX: true,
      series: series(
        (r) => /^read\.4k\.qd\d+$/.test(r.case),
        () => '4 KiB, 1 client',
        (r) => num(r, 'depth'),
      ),
    },
    {
      title: 'RSS vs files in the namespace',
      xLabel: 'files',
      yUnit: 'MiB',
      logX: true,
      series: series(
        (r) => /^rss\..+\.f\d+$/.test(r.case),
        (r) => String(r.config['process']),
        (r) => num(r, 'files'),
      ),
    },
    {
      title: 'RSS vs GiB read (the long read)',
      xLabel: 'GiB moved',
      yUnit: 'MiB',
      logX: false,
      series: measured
        .filter((r) => /^rss\..+\.read$/.test(r.case))
        .map((r) => ({
          name: String(r.config['process']),
          points: [
            { x: 0, y: num(r, 'beforeMiB') },
            { x: num(r, 'passGiB'), y: num(r, 'firstPassMiB') },
            { x: num(r, 'movedGiB'), y: r.throughput },
          ],
        })),
    },
  ];
}
