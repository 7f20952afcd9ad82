// Suite `kvcache`: the KV-cache store (client/kvcache/, docs/kvcache.md) against a Redis server in
// the same run, on a 3-node cluster with 3 replicas (every Spindle put is on three disks, fsync'd;
// Redis keeps one copy in memory and persists nothing). The bench starts its own redis-server
// (bench/redis-server.ts) on a free loopback port and stops it at the end.
//
// Cases: pages of 256 KiB and 2 MiB, batches (one prompt's chain each) of 1, 16 and 64 pages, 1 and
// 4 client processes (each one Spindle KvCache and one Redis connection, one batch in flight): put,
// then get of what was put; GB/s and per-batch p50/p99 of both, Spindle's row divided by Redis's.
// Then matchPrefix of 1,000-key chains (Redis: one pipelined EXISTS per key, leading hits counted),
// and a trace (bench/kvcache-trace.ts) replayed against each store holding half its working set:
// hit rate and bytes read.
//
// Back of the envelope (2 cores shared by 3 storage nodes, meta, Redis and the clients;
// docs/performance.md): a Redis get is one memcpy out of its memory into one socket, the client's
// parse one copy into the caller's buffer — loopback TCP speed for one connection, ≈ 1–2 GB/s at
// 2 MiB, and Redis serves one connection at a time, so 4 clients add little. A Spindle get sends
// each found page as a bulk frame straight into the caller's buffer (CRC-checked there), a batch
// spread over the chain's replicas, each page an O_DIRECT read on its node: like seq-read's
// ≈ 1 GB/s for large batches, less for single pages (a call's fixed cost, ≈ 2–10 ms): ≈ 0.5–1×
// Redis batched, ≈ 0.1–0.3× single. A Spindle put writes every page three times to one disk with
// fsync through the chain, one page after the other: ≈ 0.02–0.06 GB/s against Redis's
// ≈ 0.5–1 GB/s. matchPrefix: one call, ≤ 10 header reads on one node: ≈ 1–3 ms; Redis's 1,000
// EXISTS in one round trip: ≈ 1–2 ms.
// Target (issue 12): 2 MiB batched gets ≥ 1.0× Redis's GB/s in the same run.
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { BenchContext, Limit } from './context.js';
import { MiB } from './context.js';
import {
  KIB,
  type KvStep,
  type KvStepReport,
  type KvSystem,
  type KvcacheTask,
  type TracePlan,
} from './kvcache-tasks.js';
import { targetNote } from './loader.js';
import { RedisServer } from './redis-server.js';
import { formatFigure, gbPerSecond, summarize } from './stats.js';
import type { Suite } from './suite.js';
import type { BenchRow } from './types.js';
import type { BenchWorker } from './workers.js';

export interface KvcachePlan {
  pageSizes: number[];
  batches: number[];
  clients: number[];
  /** Each put or get step stops after this long (per client), or earlier at its byte budget. */
  phaseSeconds: number;
  /** Bytes a put step writes at most, over all its clients. */
  caseBytes: number;
  /** Batches a get step makes at least (cycling over what was put), time permitting. */
  minGetBatches: number;
  matchChains: number;
  matchChainKeys: number;
  matchQueries: number;
  matchLeaseMs: number;
  trace: TracePlan;
}

const TARGET_GET_RATIO = 1.0;

/** The full run (a few minutes) or --quick (well under a minute: 2 MiB pages in batches of 1 and 16 only). Pure. */
export function kvcachePlan(quick: boolean): KvcachePlan {
  return {
    pageSizes: [256 * KIB, 2 * MiB],
    batches: quick ? [1, 16] : [1, 16, 64],
    clients: [1, 4],
    phaseSeconds: quick ? 0.6 : 3,
    caseBytes: quick ? 64 * MiB : 512 * MiB,
    minGetBatches: quick ? 4 : 20,
    matchChains: quick ? 2 : 4,
    matchChainKeys: 1000,
    matchQueries: quick ? 40 : 300,
    matchLeaseMs: 5_000,
    trace: {
      seed: 12,
      systemPrompts: quick ? 4 : 16,
      systemPages: quick ? 4 : 8,
      conversations: quick ? 16 : 120,
      turns: quick ? 3 : 4,
      pagesPerTurn: 2,
      activeConversations: quick ? 4 : 16,
      zipfExponent: 1,
      pageBytes: 256 * KIB,
      leaseMs: 1_000,
    },
  };
}

function sizeName(bytes: number): string {
  return bytes % MiB === 0 ? `${bytes / MiB}MiB` : `${bytes / KIB}KiB`;
}

/** The step reports of one worker, by step index (a worker that exits fails every step still awaited). */
function stepReports(worker: BenchWorker): (index: number) => Promise<KvStepReport> {
  const waiting = new Map<number, { resolve: (r: KvStepReport) => void; reject: (e: Error) => void }>();
  const arrived = new Map<number, KvStepReport>();
  let failure: Error | undefined;
  createInterface({ input: worker.child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{"type":"kv-step"')) return;
    const report = JSON.parse(line) as KvStepReport;
    const waiter = waiting.get(report.index);
    if (waiter === undefined) arrived.set(report.index, report);
    else {
      waiting.delete(report.index);
      waiter.resolve(report);
    }
  });
  worker.result.then(
    () => undefined,
    (err: Error) => {
      failure = err;
      for (const w of waiting.values()) w.reject(err);
      waiting.clear();
    },
  );
  return (index) => {
    const report = arrived.get(index);
    if (report !== undefined) return Promise.resolve(report);
    if (failure !== undefined) return Promise.reject(failure);
    return new Promise((resolve, reject) => waiting.set(index, { resolve, reject }));
  };
}

/** Pooled figures of the clients that took part in a step. */
function pooled(reports: readonly KvStepReport[]) {
  const active = reports.filter((r) => r.ops > 0);
  const seconds =
    active.length === 0
      ? 0
      : (Math.max(...active.map((r) => r.endedAtMs)) - Math.min(...active.map((r) => r.startedAtMs))) / 1000;
  const latency = summarize(active.flatMap((r) => r.latenciesMs));
  return {
    seconds,
    ops: active.reduce((a, r) => a + r.ops, 0),
    pages: active.reduce((a, r) => a + r.pages, 0),
    bytes: active.reduce((a, r) => a + r.bytes, 0),
    p50Ms: latency.count > 0 ? latency.p50 : null,
    p99Ms: latency.count > 0 ? latency.p99 : null,
    figures: active[0]?.figures ?? {},
  };
}

/** The steps of the run, in order: every case's put and get on both stores, matches, the trace. */
export function kvcacheSteps(plan: KvcachePlan): KvStep[] {
  const steps: KvStep[] = [];
  const both: KvSystem[] = ['spindle', 'redis'];
  for (const pageBytes of plan.pageSizes) {
    for (const batch of plan.batches) {
      for (const clients of plan.clients) {
        const name = `${sizeName(pageBytes)}.b${batch}.c${clients}`;
        const maxBatches = Math.max(1, Math.ceil(plan.caseBytes / clients / (batch * pageBytes)));
        const common = { name, pageBytes, batch, clients, maxBatches, seconds: plan.phaseSeconds };
        for (const op of ['put', 'get'] as const)
          for (const system of both)
            steps.push({
              kind: 'throughput',
              system,
              op,
              ...common,
              minBatches: op === 'get' ? plan.minGetBatches : 1,
            });
      }
    }
  }
  for (const system of both) {
    steps.push({
      kind: 'match-setup',
      system,
      chains: plan.matchChains,
      chainKeys: plan.matchChainKeys,
      pageBytes: 16 * KIB,
    });
    const match = { kind: 'match', system, chainKeys: plan.matchChainKeys, queries: plan.matchQueries } as const;
    steps.push(match);
    if (system === 'spindle') steps.push({ ...match, leaseMs: plan.matchLeaseMs });
  }
  for (const system of both) steps.push({ kind: 'trace', system, plan: plan.trace });
  return steps;
}

/** Runs the suite; resolves with the pid the bench's redis-server had (stopped by then). */
export async function runKvcacheSuite(ctx: BenchContext, plan: KvcachePlan): Promise<{ redisPid: number }> {
  const meta = await ctx.cluster(3);
  ctx.progress.update(`[${ctx.suite}] starting redis-server on a free loopback port`, true);
  const redis = await RedisServer.start();
  const workers: BenchWorker[] = [];
  try {
    const steps = kvcacheSteps(plan);
    const runId = `r${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    const clientCount = Math.max(...plan.clients);
    for (let client = 0; client < clientCount; client++) {
      const task: KvcacheTask = {
        kind: 'kvcache',
        meta,
        redisPort: redis.port,
        clientIndex: client,
        runId,
        steps,
        removeLeftovers: ctx.options.meta !== undefined,
      };
      workers.push(ctx.worker(task, `client ${client}`));
    }
    const reportsOf = workers.map(stepReports);
    await Promise.all(workers.map((w) => w.ready));
    const results = new Map<string, ReturnType<typeof pooled>>();
    for (let index = 0; index < steps.length; index++) {
      const step = steps[index]!;
      ctx.progress.update(`[${ctx.suite}] ${stepLabel(step)}`, true);
      for (const w of workers) w.go();
      const figures = pooled(await Promise.all(reportsOf.map((next) => next(index))));
      recordStep(ctx, step, figures, results);
    }
    await Promise.all(workers.map((w) => w.result));
  } finally {
    for (const w of workers) w.stop(10_000);
    await redis.stop();
  }
  return { redisPid: redis.pid };
}

function stepLabel(step: KvStep): string {
  switch (step.kind) {
    case 'throughput':
      return `${step.system} ${step.op} ${step.name}`;
    case 'match-setup':
      return `${step.system}: storing ${step.chains} chains of ${step.chainKeys} keys`;
    case 'match':
      return `${step.system} matchPrefix${step.leaseMs === undefined ? '' : ' with a lease'}`;
    case 'trace':
      return `${step.system} trace`;
  }
}

function rowName(step: KvStep): string {
  switch (step.kind) {
    case 'throughput':
      return `${step.op}.${step.name}`;
    case 'match':
      return `match-prefix.${step.chainKeys}${step.leaseMs === undefined ? '' : '.lease'}`;
    default:
      return step.kind;
  }
}

/** Adds the row of a step: Redis's rows are the limits its Spindle row is divided by. */
function recordStep(
  ctx: BenchContext,
  step: KvStep,
  figures: ReturnType<typeof pooled>,
  results: Map<string, ReturnType<typeof pooled>>,
): void {
  if (step.kind === 'match-setup') return;
  const name = rowName(step);
  results.set(`${step.system}/${name}`, figures);
  // Spindle runs first: its row waits for Redis's, so both appear with the ratio.
  if (step.system === 'spindle') return;
  const redis = figures;
  const spindleRows = [...results.entries()].filter(
    ([k]) => k === `spindle/${name}` || k.startsWith(`spindle/${name}.`),
  );
  const redisRow = addRow(ctx, step, name, 'redis', redis);
  const limit: Limit = { name: `redis ${name}`, value: redisRow.throughput, unit: redisRow.unit };
  for (const [key, spindle] of spindleRows) {
    const caseName = key.slice('spindle/'.length);
    addRow(ctx, step, caseName, 'spindle', spindle, limit, redis);
    results.delete(key);
  }
}

function addRow(
  ctx: BenchContext,
  step: KvStep,
  name: string,
  system: KvSystem,
  figures: ReturnType<typeof pooled>,
  limit?: Limit,
  redis?: ReturnType<typeof pooled>,
): BenchRow {
  const common = { case: `${name}.${system}`, p50Ms: figures.p50Ms, p99Ms: figures.p99Ms, seconds: figures.seconds };
  const withLimit = limit === undefined ? {} : { limit };
  if (step.kind === 'throughput') {
    const rate = gbPerSecond(figures.bytes, figures.seconds);
    const batched = step.batch > 1 && step.pageBytes === 2 * MiB && step.op === 'get';
    const notes =
      `${figures.ops} batches of ${step.batch} × ${sizeName(step.pageBytes)} (${figures.pages} pages); ` +
      'p50/p99: one batch, all clients pooled' +
      (limit !== undefined && batched
        ? `; ${targetNote('Spindle ÷ Redis', rate / limit.value, TARGET_GET_RATIO)}`
        : '');
    return ctx.add({
      ...common,
      ...withLimit,
      config: {
        store: system,
        op: step.op,
        page: sizeName(step.pageBytes),
        batch: step.batch,
        clients: step.clients,
        ...(system === 'spindle' ? { replicas: 3 } : {}),
      },
      throughput: rate,
      unit: 'GB/s',
      bytes: figures.bytes,
      ops: figures.ops,
      notes,
    });
  }
  if (step.kind === 'match') {
    const where = step.leaseMs === undefined ? ' to any replica' : ` leasing ${step.leaseMs} ms at the head`;
    const how =
      system === 'redis'
        ? 'one pipelined EXISTS per key in one round trip, leading hits counted by the client'
        : `KvCache.matchPrefix, one call${where}`;
    return ctx.add({
      ...common,
      ...withLimit,
      config: { store: system, chainKeys: step.chainKeys, stored: 'all or a tenth, alternating', lookup: how },
      throughput: figures.seconds > 0 ? figures.ops / figures.seconds : 0,
      unit: 'ops/s',
      bytes: 0,
      ops: figures.ops,
      notes: `p50/p99: one lookup of a ${step.chainKeys}-key chain`,
    });
  }
  if (step.kind !== 'trace') throw new Error(`no row for step ${step.kind}`);
  const f = figures.figures;
  const hitRate = f.promptPages! > 0 ? f.hitPages! / f.promptPages! : 0;
  const plan = step.plan;
  const redisNote =
    system === 'redis'
      ? `; maxmemory ${formatFigure(f.capacityBytes! / MiB)} MiB over the empty server's ` +
        `${formatFigure(f.redisEmptyBytes! / MiB)} MiB, allkeys-lru: it ended holding ${f.redisPagesHeld} ` +
        `pages in ${formatFigure(f.redisUsedMemoryBytes! / MiB)} MiB of used memory`
      : `; capacity ${formatFigure(f.capacityPerTargetBytes! / MiB)} MiB on each of ${f.chains} chains' targets`;
  const against =
    redis === undefined
      ? ''
      : `; hit rate ÷ Redis's: ${formatFigure(hitRate / (redis.figures.hitPages! / redis.figures.promptPages!))}×`;
  return ctx.add({
    ...common,
    ...withLimit,
    config: {
      store: system,
      hitRate: Number(hitRate.toFixed(3)),
      bytesRead: figures.bytes,
      bytesWritten: f.bytesWritten!,
      prompts: f.prompts!,
      page: sizeName(plan.pageBytes),
      workingSet: `${formatFigure(f.workingSetBytes! / MiB)}MiB`,
      capacity: `${formatFigure(f.capacityBytes! / MiB)}MiB`,
    },
    throughput: figures.seconds > 0 ? figures.ops / figures.seconds : 0,
    unit: 'ops/s',
    bytes: figures.bytes,
    ops: figures.ops,
    notes:
      `ops/s: prompts (lookup, load of the hit pages, put of the rest); p50/p99: one prompt; ` +
      `${plan.conversations} conversations × ${plan.turns} turns under ${plan.systemPrompts} system prompts ` +
      `(Zipf s=${plan.zipfExponent}); hit rate = pages loaded ÷ prompt pages (ideal with unbounded capacity: ` +
      `${formatFigure(1 - f.workingSetBytes! / plan.pageBytes / f.promptPages!)}); ` +
      `${f.vanished} matched pages gone before their load, ${f.refused} pages refused by a put${redisNote}${against}`,
  });
}

/** Spindle and Redis side by side, one line per case (for the report after the generic table). Pure. */
export function kvcacheSideBySide(rows: readonly BenchRow[]): string {
  const lines = [
    '| case | Spindle | Redis | Spindle ÷ Redis | Spindle p50 / p99 ms | Redis p50 / p99 ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  const ms = (r: BenchRow) => `${formatFigure(r.p50Ms)} / ${formatFigure(r.p99Ms)}`;
  for (const spindle of rows.filter((r) => r.suite === 'kvcache' && r.config.store === 'spindle')) {
    const name = spindle.case.replace(/\.spindle$/, '');
    const redis = rows.find((r) => r.suite === 'kvcache' && r.case === `${spindle.limitName?.slice(6)}.redis`);
    if (redis === undefined) continue;
    const figure = (r: BenchRow) => {
      const hitRate = r.config.hitRate === undefined ? '' : `, hit rate ${r.config.hitRate}`;
      return `${formatFigure(r.throughput)} ${r.unit}${hitRate}`;
    };
    const ratio = `${formatFigure(spindle.ratio)}×`;
    lines.push(`| ${name} | ${figure(spindle)} | ${figure(redis)} | ${ratio} | ${ms(spindle)} | ${ms(redis)} |`);
  }
  return `${lines.join('\n')}\n`;
}

export const kvcacheSuite: Suite = {
  name: 'kvcache',
  estimate:
    'batched gets ≈ 0.5–1× Redis, single gets ≈ 0.1–0.3×, puts ≈ 0.05–0.1× (3 fsync’d replicas), ' +
    'matchPrefix of 1,000 keys ≈ 1–3 ms',
  run: async (ctx) => {
    await runKvcacheSuite(ctx, kvcachePlan(ctx.quick));
  },
  summary: kvcacheSideBySide,
};
