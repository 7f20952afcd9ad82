// The kvcache suite's work inside one bench worker process (bench/worker.ts hands the task here):
// one client of the run, holding a Spindle KvCache and a Redis connection, running every step of
// the run as the coordinator starts it ("go"), reporting each step when done.
//
// Guarantees: connecting, building keys' buffers and the match setup happen outside the clock; a
// get checks every page it measured is its own (length, key stamp, tail) and fails the worker
// otherwise; a throughput put fails the worker unless every page is stored. After a get step
// (outside its clock) the pages of its put step are removed, so the disk and Redis hold one case
// at a time.
import { performance } from 'node:perf_hooks';
import { type KvCache, SpindleClient } from '../client/index.js';
import type { DataTransport } from '../common/bulk/transport.js';
import { type KvBackend, redisBackend, spindleBackend } from './kvcache-backends.js';
import {
  type KvStep,
  type KvStepReport,
  type KvSystem,
  type KvcacheTask,
  type TracePlan,
  KIB,
  batchName,
  isPage,
  keyChain,
  pageBuffers,
  stampPage,
} from './kvcache-tasks.js';
import { TraceKeys, traceRequests, workingSetPages } from './kvcache-trace.js';
import type { WorkerIo } from './loader-worker.js';
import { RespClient } from './resp-client.js';
import type { WorkerResult } from './worker-tasks.js';

/** A worker's io plus the report of each step. */
export type KvWorkerIo = WorkerIo & { step(report: KvStepReport): void };

/** The namespace of the throughput and match steps: far larger than any case (each is removed after it). */
const BENCH_CAPACITY_BYTES = 256 * 1024 * 1024 * KIB;

function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

function namespaceFields(name: string, capacityBytes: number) {
  return {
    name,
    modelId: 'spindle-bench/kv',
    kvDtype: 'bfloat16',
    layout: 'bench',
    pageTokens: 16,
    tpRank: 0,
    tpSize: 1,
    replicas: 3,
    capacityBytes,
  };
}

/** used_memory of an INFO memory reply. */
function usedMemory(info: string): number {
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

type Measured = Omit<KvStepReport, 'index'>;

function idle(): Measured {
  const now = wallMs();
  return { startedAtMs: now, endedAtMs: now, ops: 0, pages: 0, bytes: 0, latenciesMs: [], figures: {} };
}

class KvWorker {
  private readonly caches: KvCache[] = [];
  private readonly backends = new Map<string, KvBackend>();
  /** Batches put by each throughput put step of this client, by step name. */
  private readonly putBatches = new Map<string, number>();
  private readonly pools = new Map<string, Buffer[]>();
  private matchChains: Array<{ keys: Buffer[]; stored: number }> = [];
  /** Spindle roots this client left stored (match chains, trace prompts), and their last lease's end. */
  private readonly leftRoots: Array<{ backend: KvBackend; root: Buffer }> = [];
  private leasedUntilMs = 0;

  constructor(
    private readonly task: KvcacheTask,
    private readonly spindle: SpindleClient,
    private readonly redis: RespClient,
  ) {}

  close(): void {
    for (const cache of this.caches) cache.close();
    this.redis.close();
  }

  /** One backend per store and namespace for the whole run (its gRPC channels stay open). */
  private backend(system: KvSystem, namespace = 'bench-kv', capacityBytes = BENCH_CAPACITY_BYTES): KvBackend {
    const name = `${system}/${namespace}`;
    let backend = this.backends.get(name);
    if (backend === undefined) {
      if (system === 'redis') backend = redisBackend(this.redis);
      else {
        // The public entry point: the client's routing and its bulk sessions to the storage nodes.
        const kv = this.spindle.kvcache(namespaceFields(namespace, capacityBytes));
        this.caches.push(kv);
        backend = spindleBackend(kv);
      }
      this.backends.set(name, backend);
    }
    return backend;
  }

  /** Notes a lease taken now: leftovers are removed only after the last one ends. */
  private leaseUntil(leaseMs: number): void {
    this.leasedUntilMs = Math.max(this.leasedUntilMs, performance.now() + leaseMs);
  }

  /**
   * Removes what the run left in Spindle (each root takes its chain), once the last lease is over:
   * on a cluster given with --meta, which outlives the bench. Namespaces stay (there is no call to
   * drop one), empty.
   */
  async removeLeftovers(): Promise<void> {
    const wait = this.leasedUntilMs - performance.now();
    if (this.leftRoots.length > 0 && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 100));
    for (const { backend, root } of this.leftRoots.splice(0)) await backend.remove(root, [root]);
  }

  /** Opens the channels to every storage node before the first clock (a miss lookup per chain). */
  async warmUp(): Promise<void> {
    const backend = this.backend('spindle');
    for (let i = 0; i < 16; i++) await backend.get(keyChain(`warm-up/${i}`, 1)[0]!, keyChain(`warm-up/${i}`, 1));
    await this.redis.call('PING');
  }

  /**
   * Reused page buffers (a put awaits its reply before the next batch reuses them); `into`: the
   * buffers gets read into, allocated and touched once, as an engine's KV blocks are.
   */
  private pool(count: number, pageBytes: number, use: 'put' | 'into' = 'put'): Buffer[] {
    const name = `${use}/${count}x${pageBytes}`;
    let pool = this.pools.get(name);
    if (pool === undefined) {
      pool =
        use === 'put' ? pageBuffers(count, pageBytes) : Array.from({ length: count }, () => Buffer.alloc(pageBytes));
      this.pools.set(name, pool);
    }
    return pool;
  }

  async run(step: KvStep, io: KvWorkerIo): Promise<Measured> {
    switch (step.kind) {
      case 'throughput':
        return this.task.clientIndex >= step.clients ? idle() : this.throughput(step, io);
      case 'match-setup':
        return this.task.clientIndex === 0 ? this.matchSetup(step) : idle();
      case 'match':
        return this.task.clientIndex === 0 ? this.match(step) : idle();
      case 'trace':
        return this.task.clientIndex === 0 ? this.trace(step.system, step.plan, io) : idle();
    }
  }

  private async throughput(step: KvStep & { kind: 'throughput' }, io: KvWorkerIo): Promise<Measured> {
    const backend = this.backend(step.system);
    const pages = this.pool(step.batch, step.pageBytes);
    const into = this.pool(step.batch, step.pageBytes, 'into');
    const keysOf = (b: number) => keyChain(batchName(this.task.runId, step.name, this.task.clientIndex, b), step.batch);
    const latenciesMs: number[] = [];
    const startedAtMs = wallMs();
    const deadline = performance.now() + step.seconds * 1000;
    let batches = 0;
    if (step.op === 'put') {
      while (batches < step.maxBatches && performance.now() < deadline) {
        const keys = keysOf(batches);
        keys.forEach((key, i) => stampPage(pages[i]!, key));
        const t0 = performance.now();
        const outcome = await backend.put(keys[0]!, keys, pages);
        latenciesMs.push(performance.now() - t0);
        if (outcome.stored !== keys.length)
          throw new Error(
            `${step.system} put stored ${outcome.stored} of ${keys.length} pages: ${JSON.stringify(outcome)}`,
          );
        batches++;
        io.progress(batches * step.batch * step.pageBytes);
      }
      this.putBatches.set(`${step.system}/${step.name}`, batches);
    } else {
      const stored = this.putBatches.get(`${step.system}/${step.name}`) ?? 0;
      if (stored === 0) throw new Error(`get step ${step.name}: its put step stored nothing`);
      while ((batches < stored || batches < step.minBatches) && performance.now() < deadline) {
        const keys = keysOf(batches % stored);
        const t0 = performance.now();
        const values = await backend.get(keys[0]!, keys, into);
        latenciesMs.push(performance.now() - t0);
        values.forEach((value, i) => {
          if (!isPage(value, step.pageBytes, keys[i]!))
            throw new Error(`${step.system} get of page ${i} of batch ${batches % stored} returned other bytes`);
        });
        batches++;
        io.progress(batches * step.batch * step.pageBytes);
      }
    }
    const endedAtMs = wallMs();
    if (step.op === 'get') {
      // Outside the clock: the case's pages go (a root takes its chain with it on Spindle).
      const stored = this.putBatches.get(`${step.system}/${step.name}`) ?? 0;
      for (let b = 0; b < stored; b++) {
        const keys = keysOf(b);
        await backend.remove(keys[0]!, step.system === 'spindle' ? keys.slice(0, 1) : keys);
      }
    }
    const pageCount = batches * step.batch;
    return {
      startedAtMs,
      endedAtMs,
      ops: batches,
      pages: pageCount,
      bytes: pageCount * step.pageBytes,
      latenciesMs,
      figures: {},
    };
  }

  private async matchSetup(step: KvStep & { kind: 'match-setup' }): Promise<Measured> {
    const startedAtMs = wallMs();
    const pages = this.pool(128, step.pageBytes);
    this.matchChains = [];
    const backend = this.backend(step.system);
    for (let c = 0; c < step.chains; c++) {
      const keys = keyChain(`${this.task.runId}/match/${c}`, step.chainKeys);
      // Every other chain is stored only a tenth of the way: a match must find where it stops.
      const stored = c % 2 === 0 ? keys.length : Math.floor(keys.length / 10);
      for (let from = 0; from < stored; from += 128) {
        const part = keys.slice(from, Math.min(stored, from + 128));
        part.forEach((key, i) => stampPage(pages[i]!, key));
        const outcome = await backend.put(keys[0]!, part, pages.slice(0, part.length), keys[from - 1]);
        if (outcome.stored !== part.length) throw new Error(`match setup stored ${JSON.stringify(outcome)}`);
      }
      this.matchChains.push({ keys, stored });
      if (step.system === 'spindle') this.leftRoots.push({ backend, root: keys[0]! });
    }
    return { ...idle(), startedAtMs, endedAtMs: wallMs() };
  }

  private async match(step: KvStep & { kind: 'match' }): Promise<Measured> {
    const backend = this.backend(step.system);
    const latenciesMs: number[] = [];
    const startedAtMs = wallMs();
    for (let q = 0; q < step.queries; q++) {
      const chain = this.matchChains[q % this.matchChains.length]!;
      const t0 = performance.now();
      const matched = await backend.match(chain.keys, step.leaseMs);
      if (step.leaseMs !== undefined) this.leaseUntil(step.leaseMs);
      latenciesMs.push(performance.now() - t0);
      if (matched !== chain.stored)
        throw new Error(`${step.system} matched ${matched} keys of a chain with ${chain.stored} stored`);
    }
    return { startedAtMs, endedAtMs: wallMs(), ops: step.queries, pages: 0, bytes: 0, latenciesMs, figures: {} };
  }

  private async trace(system: KvSystem, plan: TracePlan, io: KvWorkerIo): Promise<Measured> {
    const requests = traceRequests(plan);
    const workingSetBytes = workingSetPages(plan, requests) * plan.pageBytes;
    const capacityBytes = Math.floor(workingSetBytes / 2);
    const figures: Record<string, number> = { workingSetBytes, capacityBytes };
    let backend: KvBackend;
    if (system === 'spindle') {
      // Capacity is per target: half the working set over the chains pages are placed on.
      const chains = this.spindle.routing.latestTable(1)?.chainIds.length ?? 1;
      const perTarget = Math.max(plan.pageBytes, Math.ceil(capacityBytes / chains));
      figures.chains = chains;
      figures.capacityPerTargetBytes = perTarget;
      backend = this.backend('spindle', `bench-trace-${this.task.runId}`, perTarget);
    } else {
      await this.redis.call('FLUSHALL');
      // maxmemory counts the server's own memory too: half the working set on top of an empty server's.
      const emptyBytes = usedMemory(String(await this.redis.call('INFO', 'memory')));
      figures.redisEmptyBytes = emptyBytes;
      await this.redis.call('CONFIG', 'SET', 'maxmemory', String(emptyBytes + capacityBytes));
      await this.redis.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
      backend = this.backend('redis');
    }
    const keysOf = new TraceKeys(plan, this.task.runId);
    const longest = plan.systemPages + plan.turns * plan.pagesPerTurn;
    const pages = this.pool(longest, plan.pageBytes);
    const into = this.pool(longest, plan.pageBytes, 'into');
    const counts = { prompts: 0, promptPages: 0, hitPages: 0, matchedPages: 0, vanished: 0, stored: 0, refused: 0 };
    const latenciesMs: number[] = [];
    const startedAtMs = wallMs();
    for (const request of requests) {
      const keys = keysOf.keys(request);
      const t0 = performance.now();
      const matched = await backend.match(keys, system === 'spindle' ? plan.leaseMs : undefined);
      if (system === 'spindle') this.leaseUntil(plan.leaseMs);
      const values = matched === 0 ? [] : await backend.get(keys[0]!, keys.slice(0, matched), into.slice(0, matched));
      // Usable are the leading pages actually loaded: a page gone after the lookup ends the prefix.
      let hits = 0;
      while (hits < values.length && isPage(values[hits], plan.pageBytes, keys[hits]!)) hits++;
      const missing = keys.slice(hits);
      missing.forEach((key, i) => stampPage(pages[i]!, key));
      const outcome = await backend.put(keys[0]!, missing, pages.slice(0, missing.length), keys[hits - 1]);
      latenciesMs.push(performance.now() - t0);
      counts.prompts++;
      counts.promptPages += keys.length;
      counts.hitPages += hits;
      counts.matchedPages += matched;
      counts.vanished += matched - hits;
      counts.stored += outcome.stored;
      counts.refused += Object.values(outcome.refused).reduce((a, b) => a + b, 0);
      io.progress(counts.prompts);
    }
    const endedAtMs = wallMs();
    if (system === 'spindle') {
      const roots = new Map(requests.map((r) => [r.system, r]));
      for (const request of roots.values()) this.leftRoots.push({ backend, root: keysOf.keys(request)[0]! });
    }
    if (system === 'redis') {
      const info = String(await this.redis.call('INFO', 'memory'));
      figures.redisUsedMemoryBytes = usedMemory(info);
      figures.redisPagesHeld = Number(await this.redis.call('DBSIZE'));
      await this.redis.call('CONFIG', 'SET', 'maxmemory', '0');
      await this.redis.call('FLUSHALL');
    }
    return {
      startedAtMs,
      endedAtMs,
      ops: counts.prompts,
      pages: counts.hitPages,
      bytes: counts.hitPages * plan.pageBytes,
      latenciesMs,
      figures: { ...figures, ...counts, bytesWritten: counts.stored * plan.pageBytes },
    };
  }
}

export async function runKvcacheTask(
  task: KvcacheTask,
  clientConfig: { dataTransport?: DataTransport },
  io: KvWorkerIo,
): Promise<WorkerResult> {
  const spindle = await SpindleClient.connect({ meta: task.meta, readyTimeoutMs: 30_000, config: clientConfig });
  const redis = await RespClient.connect(task.redisPort);
  const worker = new KvWorker(task, spindle, redis);
  try {
    await worker.warmUp();
    io.ready({ clientIndex: task.clientIndex });
    for (let index = 0; index < task.steps.length; index++) {
      await io.go();
      io.step({ index, ...(await worker.run(task.steps[index]!, io)) });
    }
    if (task.removeLeftovers) await worker.removeLeftovers();
    return { ops: [] };
  } finally {
    worker.close();
    await spindle.close();
  }
}
