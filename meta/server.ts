// The meta process, composed: the KvEngine (lmdb under DIR/meta, or etcd shared by several meta
// processes, one of which holds the cluster-manager role), the cluster manager (Mgmt) and the
// namespace (Meta) on one gRPC server, the GC worker, the idempotency sweep, and /metrics over
// HTTP, plus the standard gRPC health and reflection services (common/standard-services.ts).
// `startMetaServer` resolves once everything serves; `close()` undoes it in reverse.
//
// Guarantees:
// - Configuration is validated before anything opens: a bad key, preset or flag fails the start
//   with CONFIG_INVALID listing every problem. Flags (replicas, storage nodes) override the config
//   file, which overrides the preset.
// - A start that fails half-way closes what it opened (ports, lmdb) before rejecting.
// - Health reports SERVING for "", spindle.Meta and spindle.Mgmt from the moment the start
//   resolves until close() begins, NOT_SERVING before and after.
// - close(): stop accepting and drain in-flight calls (then cut stragglers after a grace period),
//   stop the background loops, then close the store. Idempotent.
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, systemRng, type Clock, type Rng } from '../common/clock.js';
import { clientConfig, metaConfig, type MetaConfig, type Preset } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { checkIntegerFlag, PORT_RANGE } from '../common/flags.js';
import { silentLogger } from '../common/logger.js';
import { createRegistry, startMetricsServer, type MetricsServer, type Registry } from '../common/metrics.js';
import { PeriodicLoop } from '../common/periodic-loop.js';
import { serviceImplementation, startGrpcServer, stopGrpcServer } from '../common/rpc.js';
import { metricsAccess } from '../common/auth/metrics-access.js';
import { withStandardServices } from '../common/standard-services.js';
import { MetaService, MgmtService } from '../proto/index.js';
import { GC_DELAY_PRODUCTION_MS, GC_DELAY_TEST_MS, GcWorker } from './gc-worker.js';
import type { KvEngine } from './kv/engine.js';
import { createEtcdEngine, EtcdEngine } from './kv/etcd-engine.js';
import { createLmdbEngine } from './kv/lmdb-engine.js';
import { ClusterManager } from './mgmt/cluster-manager.js';
import { MANAGER_ROLE_POLL_INTERVAL_MS, MANAGER_ROLE_TTL_SECONDS } from './mgmt/constants.js';
import { EtcdManagerRole } from './mgmt/etcd-manager-role.js';
import { createMgmtServiceImplementation } from './mgmt/mgmt-service.js';
import { ChangeFeed } from './changes/change-feed.js';
import { Namespace } from './namespace/index.js';
import { createMetaServiceImplementation } from './service/meta-service.js';
import { MetaStorageAdapter } from './storage-adapter.js';
import { OrphanSweeper } from './orphan-sweeper.js';
import { type MetaAuthOptions, setUpMetaAuth } from './auth-setup.js';
import { createTokenHandler } from './token-service.js';

/** In-flight calls get this long to finish on close before they are cut. */
export const META_DRAIN_GRACE_MS = 5_000;
/** Subdirectory of --data-dir holding the lmdb environment. */
const META_KV_DIRECTORY = 'meta';

/** Where the metadata lives: a local lmdb directory (one meta process) or an etcd cluster (many). */
export type MetaKvKind = 'lmdb' | 'etcd';

export interface MetaEtcdOptions {
  /** Client URLs (or host:port) of the etcd members. */
  endpoints: string[];
  /** Key prefix of this cluster in etcd (default 'spindle/'): several clusters may share one etcd. */
  prefix?: string;
  /** The etcd server's --max-txn-ops (default etcd's 128). */
  txnOpsMax?: number;
  /** The etcd server's --max-request-bytes (default etcd's 1.5 MiB). */
  requestBytesMax?: number;
  /** Lease of the cluster-manager role (default MANAGER_ROLE_TTL_SECONDS). */
  managerLeaseSeconds?: number;
}

export interface MetaServerOptions {
  /** Data directory; the lmdb environment lives in DIR/meta (created if missing). Unused with etcd. */
  dataDir: string;
  /** The KvEngine (default lmdb). */
  kv?: MetaKvKind;
  /** Required with kv 'etcd'. */
  etcd?: MetaEtcdOptions;
  host?: string;
  /** gRPC port; 0 picks one. */
  port?: number;
  /** HTTP /metrics port; 0 picks one. */
  metricsPort?: number;
  preset?: Preset;
  /** Overrides of the meta config (a config file's `meta` section), validated. */
  config?: Record<string, unknown>;
  /** Overrides of the client config used for meta's own storage calls (a config file's `client` section). */
  clientConfig?: Record<string, unknown>;
  /** Chain length of the automatic chain table (overrides config). */
  replicas?: number;
  /** Build chain table 1 once this many storage nodes registered; 0 = never (overrides config). */
  storageNodesExpected?: number;
  /** Minimum age of a deleted file before its chunks are removed (default by preset). */
  gcDelayMs?: number;
  /**
   * Bearer-token checks on every call (docs/security.md). The process entry (meta/main.ts) turns
   * them on by default; an in-process server (tests) has them only when asked.
   */
  auth?: MetaAuthOptions;
  logger?: Logger;
  clock?: Clock;
  rng?: Rng;
}

export interface MetaServer {
  /** host:port of the Meta + Mgmt gRPC services. */
  readonly address: string;
  /** host:port of the /metrics HTTP server. */
  readonly metricsAddress: string;
  /** Absolute data directory. */
  readonly dataDir: string;
  readonly config: MetaConfig;
  readonly manager: ClusterManager;
  readonly namespace: Namespace;
  readonly registry: Registry;
  /** Id of the cluster key (undefined: authentication is off). */
  readonly authKeyId: string | undefined;
  /** Graceful stop (see the file comment). Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Deletes expired idempotency records in the background (a PeriodicLoop: unref'd timers). */
function startIdempotencySweeper(
  sweep: () => Promise<number>,
  ttlMs: number,
  clock: Clock,
  logger: Logger,
): PeriodicLoop<void> {
  const loop = new PeriodicLoop<void>({
    // Records live ttlMs; sweeping every half ttl keeps at most 1.5 ttl of them.
    intervalMs: Math.max(1, Math.floor(ttlMs / 2)),
    pass: async () => {
      const removed = await sweep();
      if (removed > 0) logger.debug({ removed }, 'expired idempotency records removed');
    },
    clock,
    logger,
    failureMessage: 'idempotency sweep failed; retrying next round',
  });
  loop.start();
  return loop;
}

function validateOptions(options: MetaServerOptions): void {
  const problems: string[] = [];
  const kind = options.kv ?? 'lmdb';
  if (kind !== 'lmdb' && kind !== 'etcd') problems.push(`kv: must be lmdb or etcd, got ${JSON.stringify(kind)}`);
  if (kind === 'lmdb' && (typeof options.dataDir !== 'string' || options.dataDir === ''))
    problems.push('dataDir: a data directory is required (--data-dir)');
  if (kind === 'etcd' && (options.etcd === undefined || options.etcd.endpoints.length === 0))
    problems.push('etcd: the etcd engine needs the etcd endpoints (--etcd http://host:2379,…)');
  const port = (name: string, value: number | undefined) => {
    if (value === undefined) return;
    try {
      checkIntegerFlag(name, value, PORT_RANGE);
    } catch (err) {
      problems.push((err as SpindleError).message);
    }
  };
  port('port', options.port);
  port('metricsPort', options.metricsPort);
  if (options.gcDelayMs !== undefined && !(Number.isFinite(options.gcDelayMs) && options.gcDelayMs >= 0)) {
    problems.push(`gcDelayMs: must be a non-negative number of milliseconds, got ${options.gcDelayMs}`);
  }
  if (problems.length > 0)
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `meta server options are invalid:\n  ${problems.join('\n  ')}`);
}

/** Starts the meta process's services (see the file comment). */
export async function startMetaServer(options: MetaServerOptions): Promise<MetaServer> {
  validateOptions(options);
  const preset = options.preset ?? 'production';
  const overrides: Record<string, unknown> = { ...(options.config ?? {}) };
  if (options.replicas !== undefined) overrides['replicas'] = options.replicas;
  if (options.storageNodesExpected !== undefined) overrides['storageNodesExpected'] = options.storageNodesExpected;
  const config = metaConfig(preset, overrides);
  const storageClientConfig = clientConfig(preset, {
    rpcTimeoutMs: config.storageRpcTimeoutMs,
    ...(options.clientConfig ?? {}),
  });
  const host = options.host ?? '127.0.0.1';
  const dataDir = options.dataDir ? resolve(options.dataDir) : '';
  const clock = options.clock ?? systemClock;
  const rng = options.rng ?? systemRng();
  const logger = options.logger ?? silentLogger();
  const log = logger.child({ component: 'meta.server' });
  const registry = createRegistry({ defaultMetrics: true });

  // Everything opened so far, closed in reverse on failure or close().
  const cleanups: Array<{ what: string; run: () => Promise<void> | void }> = [];
  const unwind = async () => {
    for (const { what, run } of cleanups.splice(0).reverse()) {
      try {
        await run();
      } catch (err) {
        log.error({ err, what }, 'error while closing');
      }
    }
  };

  try {
    const auth = await setUpMetaAuth(options.auth ?? { enabled: false }, dataDir, clock, log);
    const etcd = options.kv === 'etcd' ? options.etcd! : undefined;
    const kv: KvEngine =
      etcd === undefined
        ? await createLmdbEngine({
            path: join(dataDir, META_KV_DIRECTORY),
            txnRetriesMax: config.txnRetriesMax,
            logger,
          })
        : await createEtcdEngine({
            endpoints: etcd.endpoints,
            prefix: etcd.prefix,
            txnOpsMax: etcd.txnOpsMax,
            requestBytesMax: etcd.requestBytesMax,
            txnRetriesMax: config.txnRetriesMax,
            logger,
          });
    cleanups.push({ what: 'kv', run: () => kv.close() });
    // With etcd, several meta processes share the store: the manager role is taken through a lease
    // (advertising this process's address once it listens) and fences every change.
    let advertise!: (address: string) => void;
    const advertised = new Promise<string>((resolveAddress) => (advertise = resolveAddress));
    const role =
      kv instanceof EtcdEngine
        ? new EtcdManagerRole({
            engine: kv,
            address: advertised,
            ttlSeconds: etcd?.managerLeaseSeconds ?? MANAGER_ROLE_TTL_SECONDS,
            pollIntervalMs: MANAGER_ROLE_POLL_INTERVAL_MS,
            clock,
            logger,
          })
        : undefined;

    const manager = await ClusterManager.open({
      kv,
      replicas: config.replicas,
      storageNodesExpected: config.storageNodesExpected,
      nodeLeaseMs: config.nodeLeaseMs,
      nodeFailureTimeoutMs: config.nodeFailureTimeoutMs,
      failureCheckIntervalMs: config.heartbeatIntervalMs,
      clock,
      logger,
      registry,
      role,
    });
    cleanups.push({ what: 'cluster manager', run: () => manager.close() });

    const storage = new MetaStorageAdapter({
      manager,
      config: storageClientConfig,
      clientId: `meta-${randomUUID()}`,
      token: auth?.ownToken,
      clock,
      rng,
      logger,
    });
    cleanups.push({ what: 'storage adapter', run: () => storage.close() });

    const changes = new ChangeFeed();
    const namespace = new Namespace({ kv, clock, rng, cluster: manager, storage, config, logger, changes });
    await namespace.init();

    const standard = withStandardServices([
      { definition: MetaService, implementation: createMetaServiceImplementation(namespace, logger) },
      {
        definition: MgmtService,
        implementation: {
          ...createMgmtServiceImplementation(manager, logger),
          ...serviceImplementation({ createToken: createTokenHandler(auth?.key, clock) }),
        },
      },
    ]);
    const { server, address } = await startGrpcServer(standard.services, host, options.port ?? 0, {
      logger,
      auth: auth?.server,
    });
    cleanups.push({ what: 'grpc server', run: () => stopGrpcServer(server, META_DRAIN_GRACE_MS) });
    advertise(address);
    // Before the drain (also when a start fails later): open health Watch streams end at once.
    cleanups.push({ what: 'health', run: () => standard.stopServing() });

    const gc = new GcWorker({
      kv,
      storage,
      intervalMs: config.gcIntervalMs,
      batchSize: config.gcBatchSize,
      delayMs: options.gcDelayMs ?? (preset === 'test' ? GC_DELAY_TEST_MS : GC_DELAY_PRODUCTION_MS),
      clock,
      logger,
      registry,
    });
    gc.start();
    cleanups.push({ what: 'gc worker', run: () => gc.close() });
    // Chunks no file owns, swept at a fifth of the GC's cadence (each pass bounded: meta/orphan-sweeper.ts).
    const orphans = new OrphanSweeper({
      kv,
      storage,
      routing: () => storage.routing.current(),
      intervalMs: config.gcIntervalMs * 5,
      clock,
      logger,
      registry,
    });
    orphans.start();
    cleanups.push({ what: 'orphan sweeper', run: () => orphans.close() });

    const sweeper = startIdempotencySweeper(() => namespace.sweepIdempotency(), config.idempotencyTtlMs, clock, log);
    cleanups.push({ what: 'idempotency sweeper', run: () => sweeper.stop() });

    const metrics: MetricsServer = await startMetricsServer(
      registry,
      host,
      options.metricsPort ?? 0,
      metricsAccess(auth?.verifier),
    );
    cleanups.push({ what: 'metrics server', run: () => metrics.close() });

    log.info(
      {
        address,
        metrics: metrics.address,
        dataDir,
        preset,
        replicas: config.replicas,
        storageNodesExpected: config.storageNodesExpected,
      },
      'meta server started',
    );

    standard.serving();
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        log.info('meta server stopping');
        // Probes see the drain coming before the port goes away.
        void standard.stopServing();
        // Reverse order of start: metrics, loops, then the gRPC server drains (the store is still
        // open for in-flight calls), then the storage adapter, manager and store close.
        await unwind();
        log.info('meta server stopped');
      })();
      return closing;
    };
    return {
      address,
      metricsAddress: metrics.address,
      dataDir,
      config,
      manager,
      namespace,
      registry,
      authKeyId: auth?.key.keyId,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
