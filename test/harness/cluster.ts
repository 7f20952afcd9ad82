// The cluster harness: real meta + storage processes on loopback for cross-module tests, started
// by the same launcher as `spindle up` (cluster/).
//
// Guarantees: every process it starts is stopped and every temp dir it made is removed — by
// `stop()`, by `useCluster`'s afterAll even when a test failed, and as a last resort by a process
// 'exit' hook (SIGKILL + rmSync) if the test worker goes away without running its hooks.
// Set SPINDLE_TEST_KEEP=1 to keep data dirs (logs are in <dataDir>/logs) for a post-mortem.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { LocalCluster, type ServiceEntries, type StorageNodeInfo } from '../../cluster/index.js';
import type { ChannelOptions } from '@grpc/grpc-js';
import { SpindleClient, type ConnectOptions } from '../../client/index.js';
import { channelOptionsWithToken } from '../../common/auth/client-auth.js';
import type { DataTransport } from '../../common/bulk/transport.js';
import type { Preset } from '../../common/config.js';

export interface ClusterOptions {
  storageNodes?: number;
  replicas?: number;
  targetsPerNode?: number;
  preset?: Preset;
  /** Use this dir (kept after stop) instead of a fresh temp dir (removed after stop). */
  dataDir?: string;
  /** Server entries; tests of the launcher point them at fakes. */
  entries?: ServiceEntries;
  /** Extra environment for every server process. */
  env?: Record<string, string>;
  /** Listen host of every process (default 127.0.0.1). */
  host?: string;
  /** Per storage index (1-based): another host, a command prefix (a network namespace), a config file. */
  storageOverrides?: Record<number, { host?: string; commandPrefix?: string[]; config?: string }>;
  /**
   * How chunk bytes travel, for the servers and every client() (default: $SPINDLE_TEST_DATA_TRANSPORT,
   * else 'bulk'): `SPINDLE_TEST_DATA_TRANSPORT=grpc npx vitest run test/integration` runs the
   * integration suite on the gRPC-only data path.
   */
  dataTransport?: DataTransport;
  /** Metadata store (default lmdb); with etcd the launcher starts an etcd-server and metaCount metas. */
  kv?: 'lmdb' | 'etcd';
  metaCount?: number;
  /** An etcd cluster the test started (client URLs), instead of one the launcher starts. */
  etcdEndpoints?: string[];
  /** Bearer tokens on every call (default 'on'); 'off' runs the servers without the checks. */
  auth?: 'on' | 'off';
}

// Test clusters store their admin and client tokens here (not in ~/.spindle), and the CLI, mount
// and agent processes tests start inherit the variable, so they find the tokens without flags.
// Under vitest the global setup (test/setup/credentials-file.ts) has set a file of this run and
// removes it afterwards; the fallback is for the harness used outside vitest.
process.env.SPINDLE_CREDENTIALS ??= join(tmpdir(), 'spindle-test-credentials.json');

/** The data transport test clusters use unless a test asks for one. */
function testDataTransport(): DataTransport {
  const fromEnv = process.env.SPINDLE_TEST_DATA_TRANSPORT;
  if (fromEnv === undefined || fromEnv === '') return 'bulk';
  if (fromEnv !== 'bulk' && fromEnv !== 'grpc')
    throw new Error(`SPINDLE_TEST_DATA_TRANSPORT must be bulk or grpc, got ${JSON.stringify(fromEnv)}`);
  return fromEnv;
}

export interface TestCluster {
  readonly metaAddress: string;
  readonly dataDir: string;
  /** Live storage nodes, in start order. */
  readonly nodes: StorageNodeInfo[];
  /** The launcher's view (process handles, log files). */
  readonly local: LocalCluster;
  /** Token of role admin (undefined when the cluster runs with auth 'off'). */
  readonly adminToken: string | undefined;
  /** Token of role client for the user running the tests. */
  readonly clientToken: string | undefined;
  /** Channel options of a raw gRPC client of this cluster: CHANNEL_OPTIONS plus the token of `role`. */
  channelOptions(role?: 'admin' | 'client'): ChannelOptions;
  /** A connected client (preset of the cluster unless given); closed by stop(). */
  client(options?: Partial<ConnectOptions>): Promise<SpindleClient>;
  /** Signals a storage node's process (default SIGKILL: a crash) and waits for it to exit. */
  killNode(id: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped storage node again on its old data dir; resolves with its new info. */
  restartNode(id: number): Promise<StorageNodeInfo>;
  /** Signals the meta process (default SIGKILL) and waits for it to exit. */
  killMeta(signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed meta again on its old data dir and port (same metaAddress). */
  restartMeta(): Promise<void>;
  /** Every pid the cluster started (running or not). */
  pids(): number[];
  /** Stops clients and processes, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const openClusters = new Set<{ local?: LocalCluster; tempDir?: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    // Processes are SIGKILLed by the launcher's own exit hook; remove what is left on disk.
    for (const entry of openClusters) {
      if (entry.tempDir !== undefined && process.env.SPINDLE_TEST_KEEP !== '1')
        rmSync(entry.tempDir, { recursive: true, force: true });
    }
  });
  // A worker terminated by a signal skips 'exit' hooks: kill the servers first, then die as asked.
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const entry of openClusters) {
        for (const pid of entry.local?.pids() ?? []) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      process.kill(process.pid, signal);
    });
  }
}

/**
 * The admin token of the running test cluster that has a node or meta at `address` (the latest
 * cluster started when none does): for helpers that talk to one server without a cluster at hand.
 */
export function adminTokenFor(address?: string): string | undefined {
  let latest: LocalCluster | undefined;
  for (const { local } of openClusters) {
    if (local === undefined) continue;
    latest = local;
    const addresses = [...local.nodes().map((n) => n.addr), ...local.metas.map((m) => m.ready.addr)];
    if (address !== undefined && addresses.includes(address)) return local.adminToken;
  }
  return latest?.adminToken;
}

/** Channel options of a raw gRPC client of a test cluster's server at `address`: with the cluster's admin token. */
export function testChannelOptions(address?: string): ChannelOptions {
  return channelOptionsWithToken(adminTokenFor(address));
}

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  installExitHook();
  const tempDir = options.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'spindle-test-')) : undefined;
  const dataDir = options.dataDir ?? tempDir!;
  const entry: { local?: LocalCluster; tempDir?: string } = { tempDir };
  openClusters.add(entry);
  const removeTemp = () => {
    if (tempDir !== undefined && process.env.SPINDLE_TEST_KEEP !== '1')
      rmSync(tempDir, { recursive: true, force: true });
    openClusters.delete(entry);
  };
  const dataTransport = options.dataTransport ?? testDataTransport();
  let local: LocalCluster;
  try {
    local = await LocalCluster.start({
      dataDir,
      storageNodes: options.storageNodes ?? 3,
      replicas: options.replicas ?? 3,
      targetsPerNode: options.targetsPerNode ?? 3,
      preset: options.preset ?? 'test',
      port: 0,
      metricsPort: 0,
      entries: options.entries,
      env: options.env,
      host: options.host,
      storageOverrides: options.storageOverrides,
      dataTransport,
      kv: options.kv,
      metaCount: options.metaCount,
      etcdEndpoints: options.etcdEndpoints,
      auth: options.auth,
      // In the test runner's process group: a Ctrl-C of vitest reaches the servers too.
      detached: false,
    });
  } catch (err) {
    removeTemp();
    throw err;
  }
  entry.local = local;
  const clients = new Set<SpindleClient>();
  let stopping: Promise<void> | undefined;

  const cluster: TestCluster = {
    metaAddress: local.metaAddresses,
    dataDir: local.dataDir,
    local,
    adminToken: local.adminToken,
    clientToken: local.clientToken,
    channelOptions: (role = 'admin') =>
      channelOptionsWithToken(role === 'admin' ? local.adminToken : local.clientToken),
    get nodes() {
      return local.nodes().filter((n) => local.storage.get(local.indexOfNode(n.id))?.running);
    },
    async client(clientOptions = {}) {
      if (stopping !== undefined) throw new Error('cluster is stopped');
      const client = await SpindleClient.connect({
        meta: local.metaAddresses,
        token: local.clientToken,
        preset: options.preset ?? 'test',
        ...clientOptions,
        config: { dataTransport, ...clientOptions.config },
      });
      clients.add(client);
      return client;
    },
    async killNode(id, signal = 'SIGKILL') {
      const service = local.storage.get(local.indexOfNode(id));
      if (service === undefined || !service.running) return;
      service.kill(signal);
      await service.exited();
    },
    async restartNode(id) {
      const index = local.indexOfNode(id);
      const service = await local.startStorageNode(index);
      const info = local.nodes().find((n) => n.id === service.ready.id)!;
      return info;
    },
    async killMeta(signal = 'SIGKILL') {
      if (!local.meta.running) return;
      local.meta.kill(signal);
      await local.meta.exited();
    },
    async restartMeta() {
      await local.restartMeta();
    },
    pids() {
      return local.pids();
    },
    stop() {
      if (stopping === undefined) {
        stopping = (async () => {
          await Promise.allSettled([...clients].map((c) => c.close()));
          clients.clear();
          await local.stop();
          removeTemp();
        })();
      }
      return stopping;
    },
  };
  return cluster;
}

/**
 * Starts a cluster in beforeAll and stops it in afterAll (which vitest runs even when tests or
 * beforeAll fail). Returns a getter for the running cluster.
 */
export function useCluster(options: ClusterOptions = {}): () => TestCluster {
  let cluster: TestCluster | undefined;
  beforeAll(async () => {
    cluster = await startCluster(options);
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);
  return () => {
    if (cluster === undefined) throw new Error('cluster not started (did beforeAll fail?)');
    return cluster;
  };
}

/** True while a process with this pid exists (the launcher's check, under the name tests use). */
export { processAlive as pidAlive } from '../../cluster/index.js';
