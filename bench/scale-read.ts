// The read half of suite `scale` (bench/scale.ts): sequential read GB/s with 1…8 clients, 4 KiB
// random-read IOPS at depths 1…128, and a long read (the file over and over, 10 GiB moved in the
// full run) during which the RSS of every process is sampled: the peak in its first pass against
// the peak in its last says whether memory grows with bytes moved. Every read is checked against
// the pattern the file was written with (bench/read-check.ts): a wrong byte fails the suite.
import { type BenchContext, GiB, type Limit, MiB } from './context.js';
import { RssSampler, peakRss } from './rss.js';
import type { ScalePlan } from './scale-plan.js';
import { BLOCK_BYTES, DEPTH } from './seq-write.js';
import { gbPerSecond } from './stats.js';
import { spawnWorker } from './workers.js';

/** RSS growth from the long read's first pass to its last that is flagged (beyond allocator noise). */
const RSS_GROWTH_FLAG_BYTES = 32 * MiB;
const RSS_GROWTH_FLAG_RATIO = 1.1;

export async function measureReads(ctx: BenchContext, meta: string, replicas: number, plan: ScalePlan): Promise<void> {
  const fileBytes = plan.readFileBytes;
  const tcp = await ctx.tcpLimit(Math.min(fileBytes, 2 * GiB));
  ctx.add({
    case: 'limit.tcp.loopback',
    config: { conns: 1, write: '1MiB' },
    throughput: tcp.gbps,
    unit: 'GB/s',
    bytes: 0,
    ops: 0,
    seconds: tcp.seconds,
  });
  const tcpLimit: Limit = { name: 'tcp.loopback', value: tcp.gbps, unit: 'GB/s' };
  const path = ctx.created(`/bench-scale-read-${Date.now()}`);
  await ctx.together('scale: writing the file to read', [
    ctx.worker(
      { kind: 'seq-write', meta, path, offset: 0, bytes: fileBytes, blockBytes: BLOCK_BYTES, depth: DEPTH },
      'writing the file to read',
      fileBytes,
    ),
  ]);
  const warm = await ctx.warmStorageCaches();
  const cacheNote = warm ? undefined : 'server page cache not warmed (--meta cluster)';
  await seqReadCurve(ctx, { meta, path, fileBytes, replicas, plan, tcpLimit, cacheNote });
  await iopsCurve(ctx, { meta, path, fileBytes, replicas, plan });
  await longRead(ctx, { meta, path, fileBytes, plan, tcpLimit });
}

interface ReadFile {
  meta: string;
  path: string;
  fileBytes: number;
}

async function seqReadCurve(
  ctx: BenchContext,
  o: ReadFile & { replicas: number; plan: ScalePlan; tcpLimit: Limit; cacheNote: string | undefined },
): Promise<void> {
  for (const clients of o.plan.clients) {
    const per = Math.floor(o.fileBytes / clients / BLOCK_BYTES) * BLOCK_BYTES;
    const workers = Array.from({ length: clients }, (_, i) =>
      ctx.worker(
        {
          kind: 'seq-read',
          meta: o.meta,
          path: o.path,
          offset: i * per,
          bytes: per,
          blockBytes: BLOCK_BYTES,
          depth: DEPTH,
          patternBytes: BLOCK_BYTES,
        },
        `seq read, ${clients} client(s)`,
        per,
      ),
    );
    const { results, seconds } = await ctx.together(`scale seq-read x${clients}`, workers);
    const ops = results.flatMap((r) => r.ops);
    const bytes = ops.reduce((s, op) => s + op.bytes, 0);
    ctx.add({
      case: `read.c${clients}`,
      config: { clients, replicas: o.replicas, block: '4MiB', depth: DEPTH, file: o.fileBytes },
      throughput: gbPerSecond(bytes, seconds),
      unit: 'GB/s',
      p50Ms: Math.max(...ops.map((op) => op.p50Ms ?? 0)),
      p99Ms: Math.max(...ops.map((op) => op.p99Ms ?? 0)),
      bytes,
      ops: ops.reduce((s, op) => s + op.ops, 0),
      seconds,
      limit: o.tcpLimit,
      notes: [clients > 1 ? 'p50/p99: worst client' : '', o.cacheNote ?? ''].filter(Boolean).join('; ') || undefined,
    });
  }
}

async function iopsCurve(ctx: BenchContext, o: ReadFile & { replicas: number; plan: ScalePlan }): Promise<void> {
  const local = ctx.worker(
    {
      kind: 'fs-read',
      dir: ctx.scratch,
      fileBytes: Math.min(o.fileBytes, 256 * MiB),
      blockBytes: MiB,
      passes: 1,
      randomSizes: [4096],
      randomSeconds: o.plan.iopsSeconds / 2,
    },
    'local 4 KiB pread limit',
  );
  const pread = (await ctx.together('local page-cache 4 KiB pread', [local])).results[0]!.ops.find(
    (op) => op.name === 'rand.4096',
  )!;
  const limit: Limit = { name: 'fs.pread.4k', value: pread.ops / pread.seconds, unit: 'IOPS' };
  ctx.add({
    case: 'limit.fs.pread.4k',
    config: { read: '4k', call: 'fs.readSync', depth: 1 },
    throughput: limit.value,
    unit: 'IOPS',
    p50Ms: pread.p50Ms,
    p99Ms: pread.p99Ms,
    bytes: pread.bytes,
    ops: pread.ops,
    seconds: pread.seconds,
  });
  for (const depth of o.plan.iopsDepths) {
    const w = ctx.worker(
      {
        kind: 'rand-read',
        meta: o.meta,
        path: o.path,
        fileBytes: o.fileBytes,
        blockBytes: 4096,
        depth,
        seconds: o.plan.iopsSeconds,
        patternBytes: BLOCK_BYTES,
      },
      `4 KiB random reads, depth ${depth}`,
    );
    const r = (await ctx.together(`scale rand-read 4k qd${depth}`, [w])).results[0]!.ops[0]!;
    ctx.add({
      case: `read.4k.qd${depth}`,
      config: { block: '4k', depth, replicas: o.replicas, file: o.fileBytes, clients: 1 },
      throughput: r.ops / r.seconds,
      unit: 'IOPS',
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      bytes: r.bytes,
      ops: r.ops,
      seconds: r.seconds,
      limit,
    });
  }
}

/**
 * One client reads the file `passes` times over while the RSS of it and of every server is sampled;
 * a row per process compares its peak in the last pass with its peak in the first.
 */
async function longRead(ctx: BenchContext, o: ReadFile & { plan: ScalePlan; tcpLimit: Limit }): Promise<void> {
  const passes = o.plan.longReadPasses;
  const total = o.fileBytes * passes;
  let moved = 0;
  const worker = spawnWorker(
    {
      kind: 'seq-read',
      meta: o.meta,
      path: o.path,
      offset: 0,
      bytes: o.fileBytes,
      blockBytes: BLOCK_BYTES,
      depth: DEPTH,
      patternBytes: BLOCK_BYTES,
      passes,
      client: { dataTransport: ctx.options.transport },
    },
    {
      cpuProf: ctx.options.cpuProf,
      onProgress: (done) => {
        moved = done;
        ctx.progress.update(
          `[scale] long read: ${(done / GiB).toFixed(1)}/${(total / GiB).toFixed(1)} GiB, RSS sampled`,
        );
      },
    },
  );
  await worker.ready;
  const pids = ctx.serverPids();
  pids.set('client', worker.pid);
  const sampler = new RssSampler(pids, () => moved);
  let result: Awaited<ReturnType<BenchContext['together']>>;
  try {
    result = await ctx.together(`scale long read, ${passes} passes`, [worker]);
  } finally {
    sampler.stop();
  }
  const op = result.results[0]!.ops[0]!;
  ctx.add({
    case: 'read.long',
    config: { clients: 1, passes, file: o.fileBytes, moved: op.bytes },
    throughput: gbPerSecond(op.bytes, result.seconds),
    unit: 'GB/s',
    p50Ms: op.p50Ms,
    p99Ms: op.p99Ms,
    bytes: op.bytes,
    ops: op.ops,
    seconds: result.seconds,
    limit: o.tcpLimit,
  });
  const before = sampler.samples[0]!;
  for (const [name] of pids) {
    const beforeBytes = before.rss.get(name);
    const firstPass = { from: 1, to: o.fileBytes };
    const lastPass = { from: total - o.fileBytes, to: total };
    const first = peakRss(sampler.samples, name, firstPass);
    const last = peakRss(sampler.samples, name, lastPass);
    if (beforeBytes === undefined || first === undefined || last === undefined) continue;
    const grows = last - first > RSS_GROWTH_FLAG_BYTES && last > first * RSS_GROWTH_FLAG_RATIO;
    const anonMiB = (window: { from: number; to: number }) => {
      const bytes = peakRss(sampler.samples, name, window, 'anon');
      return bytes === undefined ? '?' : String(Math.round(bytes / MiB));
    };
    ctx.add({
      case: `rss.${name}.read`,
      config: {
        process: name,
        beforeMiB: Math.round(beforeBytes / MiB),
        firstPassMiB: Math.round(first / MiB),
        passGiB: Number((o.fileBytes / GiB).toFixed(3)),
        movedGiB: Number((total / GiB).toFixed(3)),
        // The heap alone (RSS also counts mapped file pages): first pass → last.
        anonMiB: `${anonMiB(firstPass)}→${anonMiB(lastPass)}`,
      },
      throughput: last / MiB,
      unit: 'MiB',
      bytes: 0,
      ops: 0,
      seconds: result.seconds,
      limit: { name: `rss.${name}.first-pass`, value: first / MiB, unit: 'MiB' },
      notes:
        `${grows ? 'GROWS' : 'flat'}: ${signedMiB(last - first)} from the first pass to the last, ` +
        `${signedMiB(last - beforeBytes)} from before the read`,
    });
  }
}

/** `+12.3 MiB`, `-0.5 MiB`. */
export function signedMiB(bytes: number): string {
  return `${bytes >= 0 ? '+' : '-'}${(Math.abs(bytes) / MiB).toFixed(1)} MiB`;
}
