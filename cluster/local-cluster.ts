// A local cluster: one meta process and N storage node processes on this machine — what
// `spindle up`, the bench and the test harness (test/harness/cluster.ts) run.
//
// Guarantees:
// - everything lives under one data dir: meta's data in it, storage node i in storage-<i>/,
//   logs in logs/; a start on a used dir restarts the same cluster (same node ids, same data);
// - options are checked before any process starts (SpindleError INVALID_ARGUMENT / CONFIG_INVALID);
// - `start` resolves once a client can write (chain table 1 complete), and on any failure stops
//   what it started before it rejects; `stop()` is idempotent: storage nodes first, then meta.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataTransport } from '../common/bulk/transport.js';
import { parsePreset, type Preset } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { checkIntegerFlag, PORT_RANGE } from '../common/flags.js';
import { waitForChainTable } from './chain-table.js';
import { DEFAULT_ENTRIES, type ServiceEntries } from './entries.js';
import { LOCAL_CLUSTER_RANGES } from './ranges.js';
import { type MetaReady, startMeta } from './meta-service.js';
import { type ServiceProcess, STOP_TIMEOUT_MS } from './service-process.js';
import { type StorageReady, startStorage } from './storage-service.js';

/** Bulk listener port of storage node i when the cluster runs on fixed ports: port + 100 + i. */
const BULK_PORT_OFFSET = 100;

export interface LocalClusterOptions {
  /** Everything lives here: meta/, storage-<i>/, logs/. */
  dataDir: string;
  storageNodes?: number;
  replicas?: number;
  targetsPerNode?: number;
  /** Meta gRPC port; storage node i gets port + i. 0 picks free ports for everything. */
  port?: number;
  /** Meta metrics port; storage node i gets metricsPort + i. 0 picks free ports. */
  metricsPort?: number;
  host?: string;
  preset?: Preset;
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  /** Server entries (default meta/main.ts and storage/main.ts). */
  entries?: ServiceEntries;
  /** Extra environment for every server process. */
  env?: Record<string, string>;
  /** Children in their own process group (default true; see SpawnServiceOptions.detached). */
  detached?: boolean;
  /** Per storage index: another listen host and/or a command prefix (tests: a network namespace). */
  storageOverrides?: Record<number, { host?: string; commandPrefix?: string[] }>;
  /** Where chunk bytes travel between clients and storage nodes (default 'bulk'). */
  dataTransport?: DataTransport;
}

/** A running storage node as `up` reports it: its ready line without the service name. */
export type StorageNodeInfo = Omit<StorageReady, 'service'>;

/** The line `spindle up` prints when ready. */
export interface ClusterSummary {
  meta: string;
  metrics: string;
  metaPid: number;
  storage: Array<{ id: number; addr: string; metrics: string; pid: number; dataDir: string }>;
  dataDir: string;
  logs: string;
}

type ResolvedOptions = Required<Omit<LocalClusterOptions, 'signal' | 'readyTimeoutMs'>> & { readyTimeoutMs?: number };

/** The options with their defaults, checked: a SpindleError names the first bad one and its range. */
function resolveOptions(options: LocalClusterOptions): ResolvedOptions {
  const storageNodes = checkIntegerFlag(
    '--storage-nodes',
    options.storageNodes ?? 3,
    LOCAL_CLUSTER_RANGES.storageNodes,
  );
  const replicas = checkIntegerFlag('--replicas', options.replicas ?? 3, LOCAL_CLUSTER_RANGES.replicas);
  if (replicas > storageNodes) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `--replicas ${replicas} needs at least as many storage nodes (got --storage-nodes ${storageNodes}): ` +
        'each replica of a chain lives on a different node; lower --replicas or add storage nodes',
    );
  }
  return {
    dataDir: resolve(options.dataDir),
    storageNodes,
    replicas,
    targetsPerNode: checkIntegerFlag(
      '--targets-per-node',
      options.targetsPerNode ?? 3,
      LOCAL_CLUSTER_RANGES.targetsPerNode,
    ),
    port: checkIntegerFlag('--port', options.port ?? 0, PORT_RANGE),
    metricsPort: checkIntegerFlag('--metrics-port', options.metricsPort ?? 0, PORT_RANGE),
    host: options.host ?? '127.0.0.1',
    preset: parsePreset(options.preset),
    readyTimeoutMs: options.readyTimeoutMs,
    entries: options.entries ?? DEFAULT_ENTRIES,
    env: options.env ?? {},
    detached: options.detached ?? true,
    storageOverrides: options.storageOverrides ?? {},
    dataTransport: options.dataTransport ?? 'bulk',
  };
}

/** Meta + N storage node processes on one machine (what `spindle up` and the test harness run). */
export class LocalCluster {
  readonly dataDir: string;
  readonly options: ResolvedOptions;
  meta!: ServiceProcess<MetaReady>;
  /** Storage processes by local index (1-based, matches D/storage-<i>). */
  readonly storage = new Map<number, ServiceProcess<StorageReady>>();
  private stopped: Promise<void> | undefined;
  /** Called when a child exits that nobody asked to stop. */
  onUnexpectedExit:
    | ((name: string, code: number | null, signal: NodeJS.Signals | null, logFile: string) => void)
    | undefined;

  private constructor(options: ResolvedOptions) {
    this.options = options;
    this.dataDir = options.dataDir;
  }

  get logDir(): string {
    return join(this.dataDir, 'logs');
  }

  storageDataDir(index: number): string {
    return join(this.dataDir, `storage-${index}`);
  }

  /** Starts meta, then every storage node, then waits for the chain table. Cleans up on failure. */
  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const cluster = new LocalCluster(resolveOptions(options));
    const o = cluster.options;
    mkdirSync(cluster.dataDir, { recursive: true });
    try {
      await cluster.startMetaProcess(o.port, options.signal);
      // Node ids are given in registration order: start fresh nodes one by one so that
      // storage-<i> becomes node i; nodes that already have an id (a restart) start together.
      const indexes = Array.from({ length: o.storageNodes }, (_, i) => i + 1);
      const fresh = indexes.filter((i) => !existsSync(join(cluster.storageDataDir(i), 'node.json')));
      const known = indexes.filter((i) => !fresh.includes(i));
      const startKnown = Promise.all(known.map((i) => cluster.startStorageNode(i, options.signal)));
      startKnown.catch(() => undefined);
      for (const i of fresh) await cluster.startStorageNode(i, options.signal);
      await startKnown;
      await waitForChainTable(cluster.meta.ready.addr, o.replicas, { signal: options.signal });
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private watch(name: string, service: ServiceProcess<{ pid: number }>): void {
    service.onUnexpectedExit = (code, signal) => this.onUnexpectedExit?.(name, code, signal, service.logFile);
  }

  /**
   * Starts meta on `port` (0: a free one). After a crash (`meta.kill()`), `restartMeta()` starts it
   * again on its old data dir and its old port, so storage nodes and clients find it again.
   */
  private async startMetaProcess(port: number, signal?: AbortSignal): Promise<ServiceProcess<MetaReady>> {
    const o = this.options;
    this.meta = await startMeta({
      dataDir: this.dataDir,
      host: o.host,
      port,
      metricsPort: o.metricsPort,
      replicas: o.replicas,
      storageNodes: o.storageNodes,
      preset: o.preset,
      logFile: join(this.logDir, 'meta.log'),
      readyTimeoutMs: o.readyTimeoutMs,
      signal,
      entry: o.entries.meta,
      env: o.env,
      detached: o.detached,
    });
    this.watch('meta', this.meta);
    return this.meta;
  }

  /** Restarts a stopped (killed) meta process on its old data dir and port. */
  async restartMeta(): Promise<ServiceProcess<MetaReady>> {
    if (this.meta.running) {
      throw new SpindleError(
        ErrorCode.BUSY,
        `meta is still running (pid ${this.meta.pid}): kill or stop it before restarting it`,
      );
    }
    const port = Number(this.meta.ready.addr.slice(this.meta.ready.addr.lastIndexOf(':') + 1));
    return this.startMetaProcess(port);
  }

  /** Starts (or restarts, on its old data) storage node `index`. */
  async startStorageNode(index: number, signal?: AbortSignal): Promise<ServiceProcess<StorageReady>> {
    const existing = this.storage.get(index);
    if (existing?.running) {
      throw new SpindleError(
        ErrorCode.BUSY,
        `storage-${index} is already running (pid ${existing.pid}): kill or stop it before starting it again`,
      );
    }
    const o = this.options;
    const override = o.storageOverrides[index] ?? {};
    const service = await startStorage({
      name: `storage-${index}`,
      dataDir: this.storageDataDir(index),
      meta: this.meta.ready.addr,
      host: override.host ?? o.host,
      commandPrefix: override.commandPrefix,
      port: o.port === 0 ? 0 : o.port + index,
      metricsPort: o.metricsPort === 0 ? 0 : o.metricsPort + index,
      // With fixed ports, storage node i's bulk listener is on port + 100 + i.
      bulkPort: o.port === 0 ? 0 : o.port + BULK_PORT_OFFSET + index,
      dataTransport: o.dataTransport,
      targets: o.targetsPerNode,
      preset: o.preset,
      logFile: join(this.logDir, `storage-${index}.log`),
      readyTimeoutMs: o.readyTimeoutMs,
      signal,
      entry: o.entries.storage,
      env: o.env,
      detached: o.detached,
    });
    this.storage.set(index, service);
    this.watch(`storage-${index}`, service);
    return service;
  }

  /** Local index of the storage process whose node id is `nodeId`. */
  indexOfNode(nodeId: number): number {
    for (const [index, service] of this.storage) if (service.ready.id === nodeId) return index;
    const known = [...this.storage.values()].map((s) => s.ready.id).join(', ');
    throw new SpindleError(
      ErrorCode.NODE_NOT_FOUND,
      `no storage node with id ${nodeId} in this cluster (its nodes: ${known || 'none'})`,
    );
  }

  nodes(): StorageNodeInfo[] {
    return [...this.storage.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, s]) => ({
        id: s.ready.id,
        addr: s.ready.addr,
        metrics: s.ready.metrics,
        pid: s.pid,
        dataDir: s.ready.dataDir,
        targets: s.ready.targets,
      }));
  }

  summary(): ClusterSummary {
    return {
      meta: this.meta.ready.addr,
      metrics: this.meta.ready.metrics,
      metaPid: this.meta.pid,
      storage: this.nodes().map(({ id, addr, metrics, pid, dataDir }) => ({ id, addr, metrics, pid, dataDir })),
      dataDir: this.dataDir,
      logs: this.logDir,
    };
  }

  /** Every pid this cluster started that may still run. */
  pids(): number[] {
    const all: Array<ServiceProcess<{ pid: number }> | undefined> = [this.meta, ...this.storage.values()];
    return all
      .filter((s): s is ServiceProcess<{ pid: number }> => s !== undefined && s.child.pid !== undefined)
      .map((s) => s.pid);
  }

  /** Stops storage nodes first (they heartbeat to meta), then meta. Idempotent. */
  stop(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    if (this.stopped === undefined) {
      this.stopped = (async () => {
        await Promise.all([...this.storage.values()].map((s) => s.stop(timeoutMs)));
        if (this.meta !== undefined) await this.meta.stop(timeoutMs);
      })();
    }
    return this.stopped;
  }
}
