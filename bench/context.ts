// What every suite gets: clusters on demand (started through the launcher with the tuned malloc
// env, one per replica count, stopped at the end of the suite — or the --meta cluster), workers,
// the progress line, raw-limit probes shared by several suites, and a row builder.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CPU_PROFILE_DIR_ENV } from '../common/cpu-profile.js';
import { LocalCluster, mallocSettings, withMallocEnv, fetchRouting, type StorageNodeInfo } from '../cluster/index.js';
import { SpindleClient } from '../client/index.js';
import { allocatorSettings, machineInfo } from './machine.js';
import type { ProgressLine } from './progress.js';
import { gbPerSecond, ratioTo, formatFigure } from './stats.js';
import type { BenchOptions, BenchRow, MachineInfo, SuiteName, Unit } from './types.js';
import { runTogether, spawnWorker, type BenchWorker } from './workers.js';
import type { WorkerResult, WorkerTask } from './worker-tasks.js';

export const MiB = 2 ** 20;

/** Reads only the data extents of each file named in argv (SEEK_DATA/SEEK_HOLE), into the page cache. */
const WARM_SCRIPT = `
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    end, at = os.fstat(fd).st_size, 0
    while at < end:
        try:
            at = os.lseek(fd, at, os.SEEK_DATA)
        except OSError:
            break
        hole = os.lseek(fd, at, os.SEEK_HOLE)
        while at < hole:
            got = len(os.pread(fd, min(8 << 20, hole - at), at))
            at = at + got if got else hole
    os.close(fd)
`;

/** Block files (`*.dat`) under a cluster's data directory. */
function blockFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.dat')) out.push(path);
    }
  };
  walk(dir);
  return out;
}
/** Suites whose Spindle rows move chunk bytes (their rows record the data transport). */
const DATA_SUITES: ReadonlySet<SuiteName> = new Set(['seq-read', 'seq-write', 'rand-read', 'mount']);
export const GiB = 2 ** 30;
/** Storage nodes of every cluster a suite starts. */
const STORAGE_NODES = 3;

export interface Limit {
  name: string;
  value: number;
  unit: Unit;
}

/** Storage settings a suite's cluster runs with instead of the preset's (a "storage" config section). */
export interface StorageVariant {
  /** Part of the cluster's key and data directory name. */
  name: string;
  storage: Record<string, number | string>;
}

export class BenchContext {
  readonly machine: MachineInfo = machineInfo();
  readonly allocator = allocatorSettings();
  readonly rows: BenchRow[] = [];
  /** Scratch space on the same file system as the clusters' data. */
  readonly scratch: string;
  /** Clusters this run started, by `${kv}-${replicas}`. */
  private readonly clusters = new Map<string, LocalCluster>();
  private readonly paths: string[] = [];

  constructor(
    readonly suite: SuiteName,
    readonly options: BenchOptions,
    readonly progress: ProgressLine,
  ) {
    this.scratch = mkdtempSync(join(tmpdir(), `spindle-bench-${suite}-`));
  }

  get quick(): boolean {
    return this.options.quick;
  }

  /** rand-read's queue depths and read sizes when the command line narrows them. */
  get randReadChoice(): { depths?: number[]; blocks?: number[] } {
    return { depths: this.options.depths, blocks: this.options.blocks };
  }

  /** Replica counts this suite runs with: the options', or the --meta cluster's chain length. */
  async replicaCounts(): Promise<number[]> {
    if (this.options.meta === undefined) return this.options.replicas;
    const routing = await fetchRouting(this.options.meta);
    const chain = routing?.chains[0];
    return [chain?.targetIds.length ?? 1];
  }

  /**
   * Meta address(es) of a cluster with `replicas` replicas (started on first use); with kv 'etcd'
   * the cluster keeps its metadata in a local etcd-server and has two meta processes.
   */
  async cluster(
    replicas: number,
    kv: 'lmdb' | 'etcd' = 'lmdb',
    auth: 'on' | 'off' = 'on',
    variant?: StorageVariant,
  ): Promise<string> {
    if (this.options.meta !== undefined) return this.options.meta;
    const variantKey = variant === undefined ? '' : `-${variant.name}`;
    const key = `${kv}-${replicas}${auth === 'off' ? '-auth-off' : ''}${variantKey}`;
    let cluster = this.clusters.get(key);
    if (cluster === undefined) {
      this.progress.update(
        `[${this.suite}] starting a cluster: ${STORAGE_NODES} storage nodes, replicas ${replicas}, ${kv}`,
        true,
      );
      const env: Record<string, string> = { ...mallocSettings() };
      let storageOverrides: Record<number, { config: string }> | undefined;
      if (variant !== undefined) {
        const config = join(this.scratch, `storage-${variant.name}.json`);
        writeFileSync(config, JSON.stringify({ storage: variant.storage }));
        storageOverrides = Object.fromEntries(Array.from({ length: STORAGE_NODES }, (_, i) => [i + 1, { config }]));
      }
      // Servers profile themselves when this is set (common/cpu-profile.ts).
      if (this.options.cpuProf !== undefined) env[CPU_PROFILE_DIR_ENV] = resolve(this.options.cpuProf);
      cluster = await LocalCluster.start({
        dataDir: join(
          this.scratch,
          kv === 'lmdb' && auth === 'on' && variant === undefined ? `cluster-r${replicas}` : `cluster-${key}`,
        ),
        kv,
        storageNodes: STORAGE_NODES,
        replicas,
        targetsPerNode: 3,
        port: 0,
        env,
        dataTransport: this.options.transport,
        auth,
        storageOverrides,
      });
      this.clusters.set(key, cluster);
    }
    return cluster.metaAddresses;
  }

  /** The storage nodes (pid, metrics address …) of the cluster this suite started at `meta`. */
  storageNodesOf(meta: string): StorageNodeInfo[] {
    const cluster = [...this.clusters.values()].find((c) => c.metaAddresses === meta);
    return cluster === undefined ? [] : cluster.nodes();
  }

  /**
   * Client Write RPCs the storage nodes of the cluster this suite started at `meta` have answered
   * (from `spindle_storage_requests_total`: chain heads count each client write once); undefined
   * for a cluster not ours (--meta).
   */
  async storageWriteCalls(meta: string): Promise<number | undefined> {
    const nodes = this.storageNodesOf(meta);
    if (nodes.length === 0) return undefined;
    let total = 0;
    for (const node of nodes) {
      const text = await (await fetch(`http://${node.metrics}/metrics`)).text();
      const ok = text
        .split('\n')
        .find((l) => l.startsWith('spindle_storage_requests_total{method="Write",result="ok"}'));
      if (ok !== undefined) total += Number(ok.split(' ')[1]);
    }
    return total;
  }

  /** Client URLs of the etcd a started etcd cluster uses (for its raw limit), or undefined. */
  etcdEndpoints(replicas: number): string[] | undefined {
    return this.clusters.get(`etcd-${replicas}`)?.etcdEndpoints;
  }

  /**
   * Pids of the servers of the clusters this suite started, by name (`meta`, `storage-1`, …; with
   * several clusters the names carry `<kv>-<replicas>/`). Empty with --meta (a cluster not ours).
   */
  serverPids(): Map<string, number> {
    const pids = new Map<string, number>();
    for (const [key, cluster] of this.clusters) {
      const prefix = this.clusters.size > 1 ? `${key}/` : '';
      cluster.metas.forEach((m, i) => pids.set(`${prefix}meta${cluster.metas.length > 1 ? `-${i + 1}` : ''}`, m.pid));
      for (const [index, node] of cluster.storage) pids.set(`${prefix}storage-${index}`, node.pid);
    }
    return pids;
  }

  /**
   * Brings the storage nodes' chunk data into the page cache, as a server that has served a
   * dataset before would have it (storage writes with O_DIRECT, which leaves nothing cached).
   * Reads the data extents of every block file of the clusters this suite started (holes of the
   * sparse files are skipped with SEEK_DATA). Returns false with --meta (a cluster not ours).
   */
  async warmStorageCaches(): Promise<boolean> {
    if (this.options.meta !== undefined || this.clusters.size === 0) return false;
    const files: string[] = [];
    for (const cluster of this.clusters.values()) files.push(...blockFilesUnder(cluster.dataDir));
    this.progress.update(`[${this.suite}] warming the storage nodes' page cache (${files.length} block files)`, true);
    await new Promise<void>((resolvePromise, reject) => {
      execFile('python3', ['-c', WARM_SCRIPT, ...files], { maxBuffer: 1 << 20 }, (err, _out, stderr) =>
        err ? reject(new Error(`warming the page cache failed: ${stderr || err.message}`)) : resolvePromise(),
      );
    });
    return true;
  }

  /** Spawns a worker whose progress feeds the progress line under `label`. */
  worker(task: WorkerTask, label: string, total?: number, unit = 'MiB'): BenchWorker {
    const t0 = performance.now();
    // Workers that open files talk to storage over the run's data transport.
    const job = 'meta' in task ? { ...task, client: { dataTransport: this.options.transport } } : task;
    return spawnWorker(job, {
      cpuProf: this.options.cpuProf,
      onProgress: (done) => {
        const secs = (performance.now() - t0) / 1000;
        const shown =
          unit === 'MiB'
            ? `${(done / MiB).toFixed(0)}${total ? `/${(total / MiB).toFixed(0)}` : ''} MiB`
            : `${done}${total ? `/${total}` : ''} ${unit}`;
        this.progress.update(`[${this.suite}] ${label}: ${shown}, ${secs.toFixed(1)} s`);
      },
    });
  }

  /** Runs workers started together; the progress line shows `label`. */
  async together(label: string, workers: BenchWorker[]): Promise<{ results: WorkerResult[]; seconds: number }> {
    this.progress.update(`[${this.suite}] ${label}`, true);
    return runTogether(workers);
  }

  /** Adds a row; `limit` undefined makes the row a limit itself. */
  add(partial: {
    case: string;
    config: BenchRow['config'];
    throughput: number;
    unit: Unit;
    p50Ms?: number | null;
    p99Ms?: number | null;
    bytes: number;
    ops: number;
    seconds: number;
    limit?: Limit;
    notes?: string;
  }): BenchRow {
    const row: BenchRow = {
      suite: this.suite,
      case: partial.case,
      // Rows measured through storage say which data transport carried the bytes.
      config:
        partial.limit !== undefined && DATA_SUITES.has(this.suite)
          ? { ...partial.config, transport: this.options.transport }
          : partial.config,
      throughput: partial.throughput,
      unit: partial.unit,
      p50Ms: partial.p50Ms ?? null,
      p99Ms: partial.p99Ms ?? null,
      bytes: partial.bytes,
      ops: partial.ops,
      seconds: partial.seconds,
      ratio: partial.limit === undefined ? null : ratioTo(partial.throughput, partial.limit.value),
      limitName: partial.limit?.name ?? null,
      limitValue: partial.limit?.value ?? null,
      allocator: this.allocator,
      machine: this.machine,
      at: new Date().toISOString(),
      load1: Number(loadavg()[0]!.toFixed(2)),
      ...(partial.notes === undefined ? {} : { notes: partial.notes }),
    };
    this.rows.push(row);
    const ratio =
      row.ratio === null
        ? row.limitName === null
          ? ' (limit)'
          : ''
        : ` = ${formatFigure(row.ratio)}× ${row.limitName}`;
    this.progress.log(
      `[${this.suite}] ${row.case}: ${formatFigure(row.throughput)} ${row.unit}${ratio}` +
        `${row.p50Ms === null ? '' : `, p50 ${formatFigure(row.p50Ms)} ms, p99 ${formatFigure(row.p99Ms)} ms`}`,
    );
    return row;
  }

  /** Remembers a Spindle path this suite created, removed by close() when the cluster is not ours (--meta). */
  created(path: string): string {
    this.paths.push(path);
    return path;
  }

  /** Stops every cluster this suite started and removes the scratch space (and, on --meta, its files). */
  async close(): Promise<void> {
    if (this.options.meta !== undefined && this.paths.length > 0) {
      const paths = this.paths.splice(0);
      try {
        const client = await SpindleClient.connect({ meta: this.options.meta, readyTimeoutMs: 10_000 });
        try {
          for (const path of paths) await client.rm(path, { recursive: true, force: true });
        } finally {
          await client.close();
        }
      } catch (err) {
        this.progress.log(
          `[${this.suite}] could not remove ${paths.join(', ')} from ${this.options.meta}: ` +
            `${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    const clusters = [...this.clusters.values()];
    this.clusters.clear();
    await Promise.all(clusters.map((c) => c.stop()));
    rmSync(this.scratch, { recursive: true, force: true });
  }

  // ---- raw limits shared by suites ----------------------------------------------------------

  /** Raw Node TCP over loopback: one connection, 1 MiB writes, sink and source in two processes. */
  async tcpLimit(bytes: number): Promise<{ gbps: number; seconds: number }> {
    const sink = this.worker({ kind: 'tcp-sink' }, 'raw TCP loopback', bytes);
    const { port } = (await sink.ready) as { port: number };
    const source = spawnWorker({ kind: 'tcp-source', port, bytes, writeBytes: MiB }, { cpuProf: this.options.cpuProf });
    const { results } = await this.together('raw TCP loopback, 1 MiB writes', [sink, source]);
    const r = results[0]!.ops[0]!;
    return { gbps: gbPerSecond(r.bytes, r.seconds), seconds: r.seconds };
  }

  /** Node http2 (h2c) stream with a 16 MiB window, 1 MiB writes, server and client processes. */
  async h2Limit(bytes: number): Promise<{ gbps: number; seconds: number }> {
    const server = spawnWorker({ kind: 'h2-server', writeBytes: MiB }, { cpuProf: this.options.cpuProf });
    try {
      const { port } = (await server.ready) as { port: number };
      const client = this.worker({ kind: 'h2-client', port, bytes }, 'raw http2 loopback', bytes);
      const { results } = await this.together('raw http2 stream, 16 MiB window', [client]);
      const r = results[0]!.ops[0]!;
      return { gbps: gbPerSecond(r.bytes, r.seconds), seconds: r.seconds };
    } finally {
      server.stop();
    }
  }

  /** O_DIRECT sequential write or read with dd, 4 MiB blocks (dd's own figure is not parsed: we time it). */
  async ddDirect(mode: 'write' | 'read', bytes: number): Promise<{ gbps: number; seconds: number }> {
    const file = join(this.scratch, 'dd-direct');
    const count = Math.max(1, Math.round(bytes / (4 * MiB)));
    const run = (args: string[]) =>
      new Promise<number>((resolve, reject) => {
        const t0 = performance.now();
        execFile('dd', args, { env: withMallocEnv(process.env) }, (err, _out, stderr) => {
          if (err) reject(new Error(`dd ${args.join(' ')} failed: ${stderr || err.message}`));
          else resolve((performance.now() - t0) / 1000);
        });
      });
    this.progress.update(`[${this.suite}] dd O_DIRECT ${mode}, ${count * 4} MiB`, true);
    if (mode === 'write') {
      const seconds = await run([
        'if=/dev/zero',
        `of=${file}`,
        'bs=4M',
        `count=${count}`,
        'oflag=direct',
        'conv=fsync',
      ]);
      return { gbps: gbPerSecond(count * 4 * MiB, seconds), seconds };
    }
    await run(['if=/dev/zero', `of=${file}`, 'bs=4M', `count=${count}`, 'oflag=direct', 'conv=fsync']);
    const seconds = await run([`if=${file}`, 'of=/dev/null', 'bs=4M', `count=${count}`, 'iflag=direct']);
    rmSync(file, { force: true });
    return { gbps: gbPerSecond(count * 4 * MiB, seconds), seconds };
  }
}
