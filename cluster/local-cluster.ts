// A local cluster: one meta process and N storage node processes on this machine — what
// `spindle up`, the bench and the test harness (test/harness/cluster.ts) run. With `kv: 'etcd'` it
// also starts an etcd-server (unless given etcd endpoints) and several meta processes sharing it
// (default 2); storage nodes and clients get every meta address.
//
// Guarantees:
// - everything lives under one data dir: meta's data in it, storage node i in storage-<i>/,
//   logs in logs/; a start on a used dir restarts the same cluster (same node ids, same data);
// - options are checked before any process starts (SpindleError INVALID_ARGUMENT / CONFIG_INVALID);
// - `start` resolves once a client can write (chain table 1 complete), and on any failure stops
//   what it started before it rejects; `stop()` is idempotent: storage nodes first, then the metas,
//   then the etcd it started.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataTransport } from '../common/bulk/transport.js';
import { parsePreset, type Preset } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { checkIntegerFlag, PORT_RANGE } from '../common/flags.js';
import { credentialsFilePath } from '../common/auth/credentials-file.js';
import { waitForChainTable } from './chain-table.js';
import { ClusterAuth } from './cluster-auth.js';
import { DEFAULT_ENTRIES, type ServiceEntries } from './entries.js';
import { LOCAL_CLUSTER_RANGES } from './ranges.js';
import { ETCD_REQUEST_BYTES_MAX, ETCD_TXN_OPS_MAX, type EtcdProcess, startEtcd } from './etcd-service.js';
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
  /**
   * Per storage index: another listen host and/or a command prefix (tests: a network namespace),
   * and/or a JSON config file (`--config`, its "storage" section overrides the preset).
   */
  storageOverrides?: Record<number, { host?: string; commandPrefix?: string[]; config?: string }>;
  /** Where chunk bytes travel between clients and storage nodes (default 'bulk'). */
  dataTransport?: DataTransport;
  /** Metadata store (default lmdb: one meta process with its data in dataDir/meta). */
  kv?: 'lmdb' | 'etcd';
  /** Meta processes (default 1 with lmdb, which allows only 1; 2 with etcd). */
  metaCount?: number;
  /** An etcd cluster to use (client URLs) instead of starting one under dataDir/etcd-0. */
  etcdEndpoints?: string[];
  /**
   * Bearer tokens on every call (default 'on': the key in dataDir/auth, tokens minted here;
   * docs/security.md). 'off' runs the cluster without them (a benchmark's baseline).
   */
  auth?: 'on' | 'off';
  /**
   * Where the admin and client tokens are stored for the CLI, mount and agent on this machine
   * (default: the per-user credentials file, $SPINDLE_CREDENTIALS or ~/.spindle/credentials.json);
   * false: nowhere (clients get them from `adminToken` / `clientToken`).
   */
  credentialsFile?: string | false;
}

/** A running storage node as `up` reports it: its ready line without the service name. */
export type StorageNodeInfo = Omit<StorageReady, 'service'>;

/** The line `spindle up` prints when ready. */
export interface ClusterSummary {
  meta: string;
  metrics: string;
  metaPid: number;
  /** Every meta process (the first is `meta`); more than one only with etcd. */
  metas: Array<{ addr: string; metrics: string; pid: number }>;
  kv: 'lmdb' | 'etcd';
  /** etcd members (kv etcd): their client URLs, and pids when this cluster started them. */
  etcd?: Array<{ endpoint: string; pid?: number }>;
  storage: Array<{ id: number; addr: string; metrics: string; pid: number; dataDir: string }>;
  dataDir: string;
  logs: string;
  /** 'off' when the cluster runs without authentication. */
  auth: 'on' | 'off';
  /** The credentials file holding this cluster's admin and client tokens (auth on). */
  credentials?: string;
}

type ResolvedOptions = Required<
  Omit<LocalClusterOptions, 'signal' | 'readyTimeoutMs' | 'etcdEndpoints' | 'credentialsFile'>
> & {
  credentialsFile: string | undefined;
  readyTimeoutMs?: number;
  etcdEndpoints?: string[];
};

/** Most meta processes a local cluster runs (they share one etcd; a handful is plenty). */
const META_COUNT_MAX = 8;
/** With fixed ports, extra meta k (k ≥ 1) listens on port + 200 + k, its metrics on metricsPort + 200 + k. */
const EXTRA_META_PORT_OFFSET = 200;
/** With fixed ports, the local etcd's client URL is on port + 300 and its peer URL on port + 301. */
const ETCD_PORT_OFFSET = 300;

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
  const kv = options.kv ?? 'lmdb';
  if (kv !== 'lmdb' && kv !== 'etcd') {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `--kv must be lmdb or etcd, got ${JSON.stringify(kv)}`);
  }
  const metaCount = checkIntegerFlag('--meta-count', options.metaCount ?? (kv === 'etcd' ? 2 : 1), {
    min: 1,
    max: kv === 'etcd' ? META_COUNT_MAX : 1,
    what: kv === 'etcd' ? `an integer in 1..${META_COUNT_MAX}` : '1 with --kv lmdb (use --kv etcd for several)',
  });
  return {
    kv,
    metaCount,
    etcdEndpoints: options.etcdEndpoints,
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
    auth: resolveAuthMode(options.auth),
    credentialsFile: options.credentialsFile === false ? undefined : (options.credentialsFile ?? credentialsFilePath()),
  };
}

function resolveAuthMode(mode: string | undefined): 'on' | 'off' {
  if (mode === undefined || mode === 'on' || mode === 'off') return mode ?? 'on';
  throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `--auth must be on or off, got ${JSON.stringify(mode)}`);
}

/** Meta + N storage node processes on one machine (what `spindle up` and the test harness run). */
export class LocalCluster {
  readonly dataDir: string;
  readonly options: ResolvedOptions;
  meta!: ServiceProcess<MetaReady>;
  /** Every meta process (index 0 is `meta`). */
  readonly metas: Array<ServiceProcess<MetaReady>> = [];
  /** The etcd member this cluster started (kv etcd without given endpoints). */
  etcd: EtcdProcess[] = [];
  /** Storage processes by local index (1-based, matches D/storage-<i>). */
  readonly storage = new Map<number, ServiceProcess<StorageReady>>();
  private stopped: Promise<void> | undefined;
  /** The cluster's key and tokens; undefined with auth 'off'. */
  private auth: ClusterAuth | undefined;
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
      if (o.auth === 'on') cluster.auth = await ClusterAuth.open(cluster.dataDir, o.credentialsFile);
      if (o.kv === 'etcd' && o.etcdEndpoints === undefined) {
        cluster.etcd = await startEtcd({
          baseDir: cluster.dataDir,
          logDir: cluster.logDir,
          host: o.host,
          clientPort: o.port === 0 ? 0 : o.port + ETCD_PORT_OFFSET,
          peerPort: o.port === 0 ? undefined : o.port + ETCD_PORT_OFFSET + 1,
          detached: o.detached,
        });
      }
      // The first meta alone, then the others: the first takes the manager role.
      await cluster.startMetaProcess(o.port, options.signal);
      await Promise.all(
        Array.from({ length: o.metaCount - 1 }, (_, k) => cluster.startExtraMeta(k + 1, options.signal)),
      );
      // Node ids are given in registration order: start fresh nodes one by one so that
      // storage-<i> becomes node i; nodes that already have an id (a restart) start together.
      const indexes = Array.from({ length: o.storageNodes }, (_, i) => i + 1);
      const fresh = indexes.filter((i) => !existsSync(join(cluster.storageDataDir(i), 'node.json')));
      const known = indexes.filter((i) => !fresh.includes(i));
      const startKnown = Promise.all(known.map((i) => cluster.startStorageNode(i, options.signal)));
      startKnown.catch(() => undefined);
      for (const i of fresh) await cluster.startStorageNode(i, options.signal);
      await startKnown;
      await waitForChainTable(cluster.metaAddresses, o.replicas, {
        signal: options.signal,
        token: cluster.auth?.adminToken,
      });
      await cluster.auth?.store(cluster.metas.map((meta) => meta.ready.addr));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Token of role admin (undefined: auth off): chain tables, offline targets, minting tokens. */
  get adminToken(): string | undefined {
    return this.auth?.adminToken;
  }

  /** Token of role client for the user running the cluster (undefined: auth off). */
  get clientToken(): string | undefined {
    return this.auth?.clientToken;
  }

  /** The cluster's public key file, which every server verifies tokens with (undefined: auth off). */
  get publicKeyFile(): string | undefined {
    return this.auth?.publicKeyFile;
  }

  private watch(name: string, service: ServiceProcess<{ pid: number }>): void {
    service.onUnexpectedExit = (code, signal) => this.onUnexpectedExit?.(name, code, signal, service.logFile);
  }

  /**
   * Starts meta on `port` (0: a free one). After a crash (`meta.kill()`), `restartMeta()` starts it
   * again on its old data dir and its old port, so storage nodes and clients find it again.
   */
  private async startMetaProcess(port: number, signal?: AbortSignal): Promise<ServiceProcess<MetaReady>> {
    this.meta = await this.spawnMeta(0, port, this.options.metricsPort, signal);
    this.metas[0] = this.meta;
    return this.meta;
  }

  /** etcd client URLs the metas use (kv etcd). */
  get etcdEndpoints(): string[] {
    return this.options.etcdEndpoints ?? this.etcd.map((member) => member.ready.endpoint);
  }

  /** Every meta address, comma-separated: what storage nodes and clients are given. */
  get metaAddresses(): string {
    return this.metas.map((meta) => meta.ready.addr).join(',');
  }

  private async startExtraMeta(k: number, signal?: AbortSignal): Promise<ServiceProcess<MetaReady>> {
    const o = this.options;
    const port = o.port === 0 ? 0 : o.port + EXTRA_META_PORT_OFFSET + k;
    const metricsPort = o.metricsPort === 0 ? 0 : o.metricsPort + EXTRA_META_PORT_OFFSET + k;
    const meta = await this.spawnMeta(k, port, metricsPort, signal);
    this.metas[k] = meta;
    return meta;
  }

  /** Restarts meta process k (after a kill) on its old port. */
  async restartMetaAt(k: number): Promise<ServiceProcess<MetaReady>> {
    const old = this.metas[k];
    if (old === undefined || old.running) {
      throw new SpindleError(ErrorCode.BUSY, `meta ${k} does not exist or is still running: kill or stop it first`);
    }
    const port = Number(old.ready.addr.slice(old.ready.addr.lastIndexOf(':') + 1));
    const metricsPort = Number(old.ready.metrics.slice(old.ready.metrics.lastIndexOf(':') + 1));
    const meta = await this.spawnMeta(k, port, metricsPort);
    this.metas[k] = meta;
    if (k === 0) this.meta = meta;
    return meta;
  }

  private async spawnMeta(
    k: number,
    port: number,
    metricsPort: number,
    signal?: AbortSignal,
  ): Promise<ServiceProcess<MetaReady>> {
    const o = this.options;
    const name = k === 0 ? 'meta' : `meta-${k + 1}`;
    const etcd = o.kv === 'etcd';
    const meta = await startMeta({
      name,
      dataDir: etcd ? undefined : this.dataDir,
      kv: etcd ? 'etcd' : undefined,
      etcd: etcd ? this.etcdEndpoints : undefined,
      // The etcd this cluster started has the launcher's limits; a given one is assumed to have etcd's defaults.
      etcdTxnOpsMax: etcd && o.etcdEndpoints === undefined ? ETCD_TXN_OPS_MAX : undefined,
      etcdRequestBytesMax: etcd && o.etcdEndpoints === undefined ? ETCD_REQUEST_BYTES_MAX : undefined,
      host: o.host,
      port,
      metricsPort,
      replicas: o.replicas,
      storageNodes: o.storageNodes,
      preset: o.preset,
      auth: o.auth,
      authKey: this.auth?.keyFile,
      logFile: join(this.logDir, `${name}.log`),
      readyTimeoutMs: o.readyTimeoutMs,
      signal,
      entry: o.entries.meta,
      env: o.env,
      detached: o.detached,
    });
    this.watch(name, meta);
    return meta;
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
      meta: this.metaAddresses,
      host: override.host ?? o.host,
      commandPrefix: override.commandPrefix,
      config: override.config,
      port: o.port === 0 ? 0 : o.port + index,
      metricsPort: o.metricsPort === 0 ? 0 : o.metricsPort + index,
      // With fixed ports, storage node i's bulk listener is on port + 100 + i.
      bulkPort: o.port === 0 ? 0 : o.port + BULK_PORT_OFFSET + index,
      dataTransport: o.dataTransport,
      targets: o.targetsPerNode,
      preset: o.preset,
      auth:
        this.auth === undefined
          ? 'off'
          : {
              tokenFile: await this.auth.nodeTokenFile(index, this.storageDataDir(index)),
              publicKeyFile: this.auth.publicKeyFile,
            },
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
      metas: this.metas.map((meta) => ({ addr: meta.ready.addr, metrics: meta.ready.metrics, pid: meta.pid })),
      kv: this.options.kv,
      ...(this.options.kv === 'etcd'
        ? {
            etcd:
              this.etcd.length > 0
                ? this.etcd.map((member) => ({ endpoint: member.ready.endpoint, pid: member.pid }))
                : this.etcdEndpoints.map((endpoint) => ({ endpoint })),
          }
        : {}),
      storage: this.nodes().map(({ id, addr, metrics, pid, dataDir }) => ({ id, addr, metrics, pid, dataDir })),
      dataDir: this.dataDir,
      logs: this.logDir,
      auth: this.options.auth,
      ...(this.auth !== undefined && this.options.credentialsFile !== undefined
        ? { credentials: this.options.credentialsFile }
        : {}),
    };
  }

  /** Every pid this cluster started that may still run. */
  pids(): number[] {
    const all: Array<ServiceProcess<{ pid: number }> | undefined> = [
      ...this.metas,
      ...this.storage.values(),
      ...this.etcd,
    ];
    return all
      .filter((s): s is ServiceProcess<{ pid: number }> => s !== undefined && s.child.pid !== undefined)
      .map((s) => s.pid);
  }

  /** Stops storage nodes first (they heartbeat to meta), then meta. Idempotent. */
  stop(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    if (this.stopped === undefined) {
      this.stopped = (async () => {
        await Promise.all([...this.storage.values()].map((s) => s.stop(timeoutMs)));
        await Promise.all(this.metas.map((meta) => meta.stop(timeoutMs)));
        if (this.meta !== undefined) await this.meta.stop(timeoutMs);
        await Promise.all(this.etcd.map((member) => member.stop(timeoutMs)));
        await this.auth?.forget();
      })();
    }
    return this.stopped;
  }
}
