// A storage node, in-process: opens its targets, serves Storage over gRPC, registers with the
// cluster manager, heartbeats, follows routing, and exposes /metrics. storage/main.ts wraps it in
// a process; tests start several in one process.
//
// Lifecycle: startStorageNode resolves once the node is registered (its id persisted) and
// serving. close() is idempotent: it stops accepting calls, lets in-flight calls finish for a
// grace period, stops heartbeats, and closes peers, lmdb envs and data files.
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { systemClock, systemRng, type Clock, type Rng } from '../common/clock.js';
import { storageConfig, type Preset, type StorageConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { createRegistry, startMetricsServer, type MetricsServer, type Registry } from '../common/metrics.js';
import { serviceImplementation, startGrpcServer } from '../common/rpc.js';
import { withStandardServices } from '../common/standard-services.js';
import { StorageServiceFast } from '../common/storage-codec.js';
import { KvStoreService, PublicTargetState, type TargetInfo } from '../proto/index.js';
import { BulkSessionPool } from '../common/bulk/session-pool.js';
import { TcpBulkTransport } from '../common/bulk/tcp-transport.js';
import type { BulkTransport } from '../common/bulk/transport.js';
import { StorageBulk } from './bulk-data.js';
import { ChainReplicator } from './chain-replicator.js';
import { ChainResolver } from './chain-resolver.js';
import { KeyedLocks } from './chunk-locks.js';
import { HeartbeatSender } from './heartbeat-sender.js';
import { StorageMetrics } from './metrics.js';
import { MgmtAgent } from './mgmt-agent.js';
import { readNodeFile, targetDirectories, writeNodeFile } from './node-store.js';
import { PeerClients } from './peer-clients.js';
import { ChunkRepairer } from './chunk-repair.js';
import { Scrubber, scrubStatusOf } from './scrubber.js';
import { ReadOperator } from './read-operator.js';
import { LocalTargetStates } from './local-states.js';
import { ResyncReceiver } from './resync-receiver.js';
import { ResyncWorker } from './resync-worker.js';
import { RoutingView } from './routing-view.js';
import { KvStore } from './kvcache/kv-store.js';
import { kvBulkCallHandler } from './service/kv-bulk-calls.js';
import { kvNodeCounters, kvStoreServiceHandlers } from './service/kv-store-service.js';
import { InFlightCalls } from './service/measured-call.js';
import { storageServiceHandlers } from './service/storage-service.js';
import { StorageTarget, targetIdOf } from './target.js';
import {
  bulkAuthenticator,
  nodeIdToRegister,
  setUpStorageAuth,
  type StorageAuth,
  type StorageAuthOptions,
} from './auth-setup.js';
import { metricsAccess } from '../common/auth/metrics-access.js';

export interface StorageNodeOptions {
  /** Node id in DATADIR/node.json, targets in DATADIR/targets/<i>/. */
  dataDir: string;
  /** host:port of the cluster manager (the meta process). */
  metaAddress: string;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** gRPC port (default 0: pick one). */
  port?: number;
  /** /metrics HTTP port (default 0: pick one); null: no metrics server. */
  metricsPort?: number | null;
  /** Targets to create on first start (default: config.targetsPerNode). */
  targets?: number;
  /** Full config; default storageConfig(preset). */
  config?: StorageConfig;
  /** Preset used when `config` is absent (default 'production'). */
  preset?: Preset;
  logger?: Logger;
  /** Registry for the node's metrics (default: a fresh one). */
  registry?: Registry;
  clock?: Clock;
  rng?: Rng;
  /** Aborts startup (e.g. while waiting for the manager). */
  signal?: AbortSignal;
  /** Grace period for in-flight calls at close (default 2 s). */
  closeGraceMs?: number;
  /**
   * The bulk transport (default: raw TCP) used when config.dataTransport is 'bulk': the node
   * listens for sessions on config.bulkPort and forwards large updates as frames.
   */
  bulkTransport?: BulkTransport;
  /** Bearer tokens (docs/security.md): this node's own and the cluster's public key; absent: off. */
  auth?: StorageAuthOptions;
}

export interface StorageNodeHandle {
  readonly nodeId: number;
  /** host:port of the Storage service. */
  readonly address: string;
  /** host:port of /metrics, or undefined when disabled. */
  readonly metricsAddress: string | undefined;
  /** host:port of the bulk listener, or undefined when chunk bytes travel over gRPC only. */
  readonly bulkAddress: string | undefined;
  /** Absolute data directory. */
  readonly dataDir: string;
  /** Target ids, by local index. */
  readonly targetIds: number[];
  readonly registry: Registry;
  /** The node's current view of routing (tests inspect it). */
  readonly routing: RoutingView;
  /** The node's open targets (tests inspect their chunk engines). */
  readonly targets: readonly StorageTarget[];
  /** The per-chunk locks of the node's targets (a test holds one to stand for an update in flight). */
  readonly locks: KeyedLocks;
  /** The single JSON ready line of docs/architecture.md, as an object. */
  readyLine(): StorageReadyLine;
  /** Fetches routing from the manager now. */
  refreshRouting(): Promise<void>;
  /** Sends one heartbeat now. */
  heartbeat(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface StorageReadyLine {
  service: 'storage';
  id: number;
  addr: string;
  /** Bulk listener (null: gRPC-only data). */
  bulk: string | null;
  metrics: string | null;
  pid: number;
  dataDir: string;
  targets: number[];
}

export async function startStorageNode(options: StorageNodeOptions): Promise<StorageNodeHandle> {
  const config = options.config ?? storageConfig(options.preset ?? 'production');
  const clock = options.clock ?? systemClock;
  const rng = options.rng ?? systemRng();
  const baseLogger = options.logger ?? silentLogger();
  const registry = options.registry ?? createRegistry();
  const dataDir = resolve(options.dataDir);
  const host = options.host ?? '127.0.0.1';

  const auth = options.auth === undefined ? undefined : setUpStorageAuth(options.auth, clock, baseLogger);
  const nodeFile = await readNodeFile(dataDir);
  let nodeId = nodeIdToRegister(nodeFile?.nodeId, auth, dataDir);
  const dirs = await targetDirectories(dataDir, options.targets ?? config.targetsPerNode);

  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    cleanups.length = 0;
  };

  try {
    const targets: StorageTarget[] = [];
    for (const [index, dir] of dirs.entries()) {
      const target = await StorageTarget.open(index, dir, {
        fsync: config.fsync,
        space: { fullRatio: config.fullPercent / 100, reservedBytes: config.reservedBytes },
        nodeId,
        logger: baseLogger.child({ component: 'storage.block-io' }),
      });
      targets.push(target);
      cleanups.push(() => target.close());
    }

    const routing = new RoutingView();
    let metrics: StorageMetrics | undefined;
    const logger = baseLogger.child({ component: 'storage' });
    const agent = new MgmtAgent({
      metaAddress: options.metaAddress,
      routing,
      clock,
      rng,
      logger: logger.child({ component: 'storage.mgmt' }),
      nodeLeaseMs: config.nodeLeaseMs,
      token: auth?.token,
      get metrics() {
        return metrics;
      },
    });
    cleanups.push(() => agent.close());
    const byTargetId = () => new Map(targets.map((t) => [t.targetId, t]));
    let targetIndex = byTargetId();
    metrics = new StorageMetrics(registry, () =>
      targets.map((t) => ({
        targetId: t.targetId,
        chainId: routing.chainOfTarget(t.targetId),
        usedBytes: t.engine.usedBytes(),
        allocatedBytes: t.engine.allocatedBytes(),
        chunks: t.engine.chunkCount(),
        blockIo: t.engine.blockIo.kind,
        publicState: routing.target(t.targetId)?.publicState ?? PublicTargetState.PUBLIC_TARGET_STATE_INVALID,
      })),
    );

    const refreshRouting = (reason: string) => agent.refreshRouting(reason);
    const resolver = new ChainResolver({
      routing,
      target: (targetId) => targetIndex.get(targetId),
      refreshRouting,
      mayServe: () => agent.mayServe(),
    });
    const peers = new PeerClients(auth?.token);
    cleanups.push(() => peers.close());
    const locks = new KeyedLocks();
    // Set once heartbeats start; a completed resync heartbeats at once (faster promotion).
    let beatNow: () => void = () => undefined;
    const localStates = new LocalTargetStates(routing, () => beatNow());
    const resyncReceiver = new ResyncReceiver({ resolver, locks, states: localStates, logger });
    const closing = new AbortController();
    // Every call in flight listens on it; the default limit of 10 listeners would warn under load.
    setMaxListeners(0, closing.signal);
    cleanups.push(() => closing.abort());
    const bulk = await startBulk(options, config, host, logger, metrics, auth);
    cleanups.push(() => bulk.close());
    const replicator = new ChainReplicator({
      resolver,
      locks,
      peers,
      bulk,
      refreshRouting,
      config,
      clock,
      rng,
      logger: logger.child({ component: 'storage.chain' }),
      metrics,
      localStates,
    });
    const repairer = new ChunkRepairer({
      routing,
      peers,
      locks,
      clock,
      logger: logger.child({ component: 'storage.repair' }),
      registry,
    });
    cleanups.push(() => repairer.drain());
    const reader = new ReadOperator({ resolver, metrics, repairer });
    const scrubber = new Scrubber({
      targets,
      routing,
      repairer,
      bytesPerSec: config.scrubBytesPerSec,
      passIntervalMs: config.scrubPassIntervalMs,
      clock,
      logger: logger.child({ component: 'storage.scrub' }),
      registry,
    });
    scrubber.start();
    cleanups.push(() => scrubber.close());
    const inFlight = new InFlightCalls();

    const handlers = storageServiceHandlers({
      scrubStatus: () => scrubStatusOf(scrubber, repairer, config.scrubBytesPerSec),
      replicator,
      reader,
      bulk,
      resync: resyncReceiver,
      config,
      logger: logger.child({ component: 'storage.service' }),
      metrics,
      closing: closing.signal,
      inFlight,
    });
    // The KV-cache object store: pages as chunks of the reserved KV space, through the same chains.
    const kvLogger = logger.child({ component: 'storage.kvcache' });
    const kvStore = new KvStore({
      resolver,
      replicator,
      clock,
      logger: kvLogger,
      hotPagesBytes: config.kvHotPagesBytes,
    });
    const kvDeps = { store: kvStore, logger: kvLogger, metrics, closing: closing.signal, inFlight };
    const kvCounters = kvNodeCounters(kvDeps);
    const kvHandlers = kvStoreServiceHandlers(kvDeps, kvCounters);
    bulk.serveCalls({ batchRead: handlers.batchRead, kv: kvBulkCallHandler(kvDeps, kvHandlers, kvCounters) });
    // Health: spindle.Storage is SERVING only while the lease with the manager lets the node serve.
    const standard = withStandardServices([
      {
        definition: StorageServiceFast,
        implementation: serviceImplementation(handlers),
        servingWhen: () => agent.mayServe(),
      },
      {
        definition: KvStoreService,
        implementation: serviceImplementation(kvHandlers),
        servingWhen: () => agent.mayServe(),
      },
    ]);
    const grpc = await startGrpcServer(standard.services, host, options.port ?? 0, { logger, auth: auth?.server });
    const server: Server = grpc.server;
    cleanups.push(async () => {
      // Refuse new calls, let the ones in flight finish (up to the grace period), then cut.
      await standard.stopServing();
      server.tryShutdown(() => undefined);
      const graceMs = options.closeGraceMs ?? 2_000;
      await Promise.race([inFlight.idle(), clock.sleep(graceMs).catch(() => undefined)]);
      server.forceShutdown();
    });

    const registration = await agent.register(
      { nodeId, address: grpc.address, hostname: hostname(), targetPaths: dirs, bulkAddress: bulk.address },
      options.signal,
    );
    if (nodeId !== 0 && registration.nodeId !== nodeId) {
      logger.warn({ persisted: nodeId, assigned: registration.nodeId }, 'cluster manager assigned a different node id');
    }
    if (registration.nodeId !== nodeId) {
      nodeId = registration.nodeId;
      await writeNodeFile(dataDir, { nodeId });
    }
    for (const target of targets) target.targetId = targetIdOf(nodeId, target.localIndex);
    targetIndex = byTargetId();
    routing.setLocalTargets(targets.map((t) => t.targetId));
    const nodeLogger = baseLogger.child({ component: 'storage', nodeId });

    const targetReports = async (): Promise<TargetInfo[]> =>
      Promise.all(
        targets.map(async (t) => ({
          targetId: t.targetId,
          nodeId,
          chainId: routing.chainOfTarget(t.targetId),
          publicState: PublicTargetState.PUBLIC_TARGET_STATE_INVALID,
          localState: localStates.of(t.targetId),
          path: t.path,
          usedBytes: t.engine.usedBytes(),
          capacityBytes: t.cachedCapacityBytes(),
        })),
      );
    const resync = new ResyncWorker({
      routing,
      resolver,
      target: (targetId) => targetIndex.get(targetId),
      locks,
      peers,
      clock,
      logger: nodeLogger.child({ component: 'storage.resync' }),
      registry,
      intervalMs: config.heartbeatIntervalMs,
      concurrency: config.resyncConcurrency,
      callTimeoutMs: config.forwardTimeoutMs,
      mayServe: () => agent.mayServe(),
    });
    const heartbeats = new HeartbeatSender({
      agent,
      routing,
      nodeId: () => nodeId,
      targetReports,
      resyncProgress: () => resync.progress(),
      intervalMs: config.heartbeatIntervalMs,
      leaseMs: config.nodeLeaseMs,
      clock,
      logger: nodeLogger.child({ component: 'storage.heartbeat' }),
      metrics,
    });
    heartbeats.start();
    cleanups.push(() => heartbeats.close());
    beatNow = () => void heartbeats.beat();
    resync.start();
    cleanups.push(() => resync.close());

    let metricsServer: MetricsServer | undefined;
    if (options.metricsPort !== null) {
      metricsServer = await startMetricsServer(registry, host, options.metricsPort ?? 0, metricsAccess(auth?.verifier));
      const started = metricsServer;
      cleanups.push(() => started.close());
    }

    // Close order (cleanups run in reverse): metrics, heartbeats, gRPC drain, abort waits, peers,
    // manager link, targets.
    let closingPromise: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closingPromise ??= (async () => {
        nodeLogger.info('storage node stopping');
        void standard.stopServing();
        await cleanup();
      })();
      return closingPromise;
    };
    nodeLogger.info(
      { address: grpc.address, bulkAddress: bulk.address, targets: targets.map((t) => t.targetId), dataDir },
      'storage node ready',
    );
    const targetIds = targets.map((t) => t.targetId);
    standard.serving();
    return {
      nodeId,
      address: grpc.address,
      metricsAddress: metricsServer?.address,
      bulkAddress: bulk.address,
      dataDir,
      targetIds,
      registry,
      routing,
      targets,
      locks,
      readyLine: () => ({
        service: 'storage',
        id: nodeId,
        addr: grpc.address,
        bulk: bulk.address ?? null,
        metrics: metricsServer?.address ?? null,
        pid: process.pid,
        dataDir,
        targets: targetIds,
      }),
      refreshRouting: () => agent.refreshRouting('requested'),
      heartbeat: () => heartbeats.beat(),
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (err) {
    await cleanup();
    if (options.signal?.aborted)
      throw new SpindleError(ErrorCode.CANCELLED, 'storage node start was cancelled', { cause: err });
    throw err;
  }
}

/** The node's bulk data path: a listener and sessions to successors, or neither (gRPC only). */
async function startBulk(
  options: StorageNodeOptions,
  config: StorageConfig,
  host: string,
  logger: Logger,
  metrics: StorageMetrics,
  auth: StorageAuth | undefined,
): Promise<StorageBulk> {
  const bulkLogger = logger.child({ component: 'storage.bulk' });
  if (config.dataTransport !== 'bulk') {
    return new StorageBulk({
      listener: undefined,
      peers: undefined,
      frameTimeoutMs: config.forwardTimeoutMs,
      logger: bulkLogger,
      metrics,
    });
  }
  const transport =
    options.bulkTransport ??
    new TcpBulkTransport({
      logger: bulkLogger,
      credential: auth?.token,
      authenticate: bulkAuthenticator(auth),
      sessionsMax: config.bulkSessionsMax,
      sessionsPerPeerMax: config.bulkSessionsPerPeerMax,
      helloTimeoutMs: config.bulkHelloTimeoutMs,
      idleTimeoutMs: config.bulkIdleTimeoutMs,
      progressTimeoutMs: config.bulkProgressTimeoutMs,
      unclaimedMaxBytes: config.bulkUnclaimedMaxBytes,
      nodeHeldMaxBytes: config.bulkNodeHeldMaxBytes,
    });
  const listener = await transport.listen(host, config.bulkPort);
  const peers = new BulkSessionPool(transport, { connectTimeoutMs: config.forwardTimeoutMs });
  return new StorageBulk({ listener, peers, frameTimeoutMs: config.forwardTimeoutMs, logger: bulkLogger, metrics });
}
