// The cluster manager (3FS "mgmtd"): registers storage nodes and their targets, builds chain
// tables, reorders chains, records heartbeats, and publishes the versioned RoutingInfo that every
// client and storage node caches. It is also the namespace's ClusterView.
//
// Guarantees:
// - Every persisted change (registration, chain table, chain update) is one KvEngine transaction
//   that also bumps the routing version; changes run one at a time, and a change that fails
//   validation stores nothing and leaves the in-memory state unchanged.
// - State survives a restart: `open()` loads it from the store.
// - Chain table 1 is built automatically, in the same change as the registration that brings the
//   registered nodes to `storageNodesExpected` (if building fails, e.g. R > N, the registration
//   still succeeds and the reason is logged).
// - Admin requests (CreateChainTable, UpdateChain, OfflineTarget) carrying a tag return their first
//   result when retried with the same tag (kept in memory, bounded; a different request under a
//   used tag is DUPLICATE_REQUEST_MISMATCH).
// - Failures (docs/design.md §4, docs/3fs-notes.md §2.6–2.8): target public states follow the state machine
//   of target-state-machine.ts, run on every heartbeat, on every failure the HeartbeatChecker
//   declares (a node silent for nodeFailureTimeoutMs), and every check interval. A changed chain
//   gets the new order (failed targets at the end) and version +1, in one persisted change.
// - A node that registers again restarted: its targets count as locally OFFLINE until it reports
//   (so a restarted target always goes through waiting → syncing → serving, or stays LASTSRV).
// - An UPTODATE report made with a routing version older than the last change of the target's
//   chain counts as ONLINE: a node cannot promote its target with a stale view.
// - With a ManagerRole (several meta processes on etcd), only the holder changes anything; each
//   stored change is fenced by the role (manager-role.ts), a standby answers Mgmt calls with a
//   retryable RPC_UNAVAILABLE naming the holder, and a takeover starts like a restart (state from
//   the store, every node given a full failure timeout).
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { ANONYMOUS_ADMIN, type Principal } from '../../common/auth/principal.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { ErrorCode, SpindleError, isSpindleError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { PeriodicLoop } from '../../common/periodic-loop.js';
import type {
  ChainInfo,
  CreateChainTableResponse,
  GetRoutingInfoResponse,
  HeartbeatResponse,
  OfflineTargetResponse,
  RegisterNodeResponse,
  RoutingInfo,
  UpdateChainResponse,
} from '../../proto/index.js';
import { LocalTargetState, PublicTargetState } from '../../proto/index.js';
import type { ChainTableSnapshot, ClusterCapacity, ClusterView } from '../cluster-view.js';
import type { KvEngine } from '../kv/engine.js';
import {
  ClusterDraft,
  StateChangedError,
  commitDraft,
  initClusterStore,
  loadClusterState,
  type ChainRecord,
  type ChainTableRecord,
  type ClusterState,
  type TargetRecord,
} from './cluster-store.js';
import { chainsOfNode, planChainStates, writeChainPlans } from './chain-updater.js';
import { HeartbeatChecker, type FailureDetectionHost } from './heartbeat-checker.js';
import {
  DEFAULT_CHAIN_TABLE_ID,
  MGMT_IDEMPOTENCY_ENTRIES_MAX,
  MGMT_STANDBY_REFRESH_INTERVAL_MS,
  STATE_RELOAD_ATTEMPTS_MAX,
} from './constants.js';
import { type ManagerRole, standbyError } from './manager-role.js';
import { nodeCallerOf } from './node-identity.js';
import { HeartbeatTable, applyRegistration, validateHeartbeat, validateRegistration } from './node-registry.js';
import {
  applyChainUpdate,
  buildRoutingInfo,
  planChainTable,
  validateChainUpdate,
  validateReplicas,
} from './routing.js';
import { mgmtMetrics, type MgmtMetrics } from './metrics.js';
import { invalid, readTag, requireInt, requireObject } from './validate.js';

export interface ClusterManagerOptions {
  kv: KvEngine;
  /** Chain length of the chain table built automatically. */
  replicas: number;
  /** Build chain table 1 once this many storage nodes registered (0 = only on CreateChainTable). */
  storageNodesExpected: number;
  /** A node is reported alive while its last heartbeat is younger than this. */
  nodeLeaseMs: number;
  /**
   * Declare a node failed after this long without a heartbeat (≥ nodeLeaseMs, the storage nodes'
   * lease, so a cut-off node stops serving before its chains move on). Absent: no failure detection.
   */
  nodeFailureTimeoutMs?: number;
  /** Period of the failure check (default nodeFailureTimeoutMs / 4). */
  failureCheckIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Where spindle_mgmt_* metrics are registered (none when absent). */
  registry?: Registry;
  /**
   * The cluster-manager role when several meta processes share the store (etcd). Absent: this
   * process is the only manager. Present: the manager is a standby until the role is acquired —
   * Mgmt calls are refused (retryably), the state is re-read from the store every
   * standbyRefreshIntervalMs for the namespace's view — and every stored change is fenced by it.
   */
  role?: ManagerRole;
  /** How often a standby re-reads the cluster state from the store (default 500 ms). */
  standbyRefreshIntervalMs?: number;
}

type ChangeListener = (routing: RoutingInfo) => void;

/** A promise-chain mutex: persisted changes run one at a time. */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class ClusterManager implements ClusterView {
  private state: ClusterState;
  private heartbeats = new HeartbeatTable();
  private readonly queue = new SerialQueue();
  private readonly listeners = new Set<ChangeListener>();
  private readonly idempotency = new Map<string, { fingerprint: string; response: unknown }>();
  private readonly kv: KvEngine;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: MgmtMetrics | undefined;
  /** Routing version at which each chain last changed (in memory; a restart starts from the current version). */
  private readonly chainChangedAt = new Map<number, number>();
  private checker: HeartbeatChecker | undefined;
  private closed = false;
  /** Holds the cluster-manager role (always, without a role). */
  private active: boolean;
  private standbyLoop: PeriodicLoop<void> | undefined;

  private constructor(
    private readonly options: ClusterManagerOptions,
    initial: ClusterState,
  ) {
    this.kv = options.kv;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'meta.mgmt' });
    this.state = initial;
    this.active = options.role === undefined;
    for (const chainId of initial.chains.keys()) this.chainChangedAt.set(chainId, initial.routingVersion);
    this.metrics = options.registry ? mgmtMetrics(options.registry, () => this.gauges()) : undefined;
  }

  /** Loads (or initializes) the persisted state and returns a ready manager. */
  static async open(options: ClusterManagerOptions): Promise<ClusterManager> {
    requireInt(options.replicas, 'replicas', 1);
    requireInt(options.storageNodesExpected, 'storageNodesExpected', 0);
    requireInt(options.nodeLeaseMs, 'nodeLeaseMs', 1);
    await initClusterStore(options.kv);
    const manager = new ClusterManager(options, await loadClusterState(options.kv));
    manager.logger.info(
      {
        routingVersion: manager.state.routingVersion,
        nodes: manager.state.nodes.size,
        chains: manager.state.chains.size,
        chainTables: manager.state.chainTables.size,
      },
      'cluster manager loaded',
    );
    if (options.nodeFailureTimeoutMs !== undefined) requireInt(options.nodeFailureTimeoutMs, 'nodeFailureTimeoutMs', 1);
    if (options.role === undefined) {
      await manager.startManaging();
      return manager;
    }
    manager.startStandby();
    options.role.start({ acquired: () => manager.onRoleAcquired(), lost: (reason) => manager.onRoleLost(reason) });
    return manager;
  }

  /** Whether this process holds the cluster-manager role (always true without a role). */
  get isManager(): boolean {
    return this.active;
  }

  /** Auto-build check and failure detection: what only the manager runs. */
  private async startManaging(): Promise<void> {
    // A restart after the expected nodes registered, but before the table was built (e.g. the
    // build failed and the configuration was fixed), builds it now.
    await this.maybeAutoBuild();
    const timeoutMs = this.options.nodeFailureTimeoutMs;
    if (timeoutMs !== undefined) {
      this.checker = new HeartbeatChecker({
        host: this.failureHost(),
        clock: this.clock,
        timeoutMs,
        intervalMs: this.options.failureCheckIntervalMs ?? Math.max(1, Math.floor(timeoutMs / 4)),
        logger: this.logger,
      });
      this.checker.start();
    }
  }

  /** Took over the role: start from the stored state, as a restarted manager does. */
  private async onRoleAcquired(): Promise<void> {
    if (this.closed) return;
    await this.standbyLoop?.stop();
    this.standbyLoop = undefined;
    await this.queue.run(async () => {
      this.heartbeats = new HeartbeatTable();
      this.replaceState(await loadClusterState(this.kv));
      this.active = true;
    });
    this.logger.info({ routingVersion: this.routingVersion }, 'now the cluster manager');
    await this.startManaging();
    this.notify();
  }

  private onRoleLost(reason: string): void {
    this.active = false;
    this.logger.warn({ reason }, 'no longer the cluster manager; standing by');
    const checker = this.checker;
    this.checker = undefined;
    void checker?.close().catch(() => undefined);
    if (!this.closed) this.startStandby();
  }

  /** A standby keeps its view of the stored state fresh for the namespace and meta's own storage calls. */
  private startStandby(): void {
    this.standbyLoop = new PeriodicLoop<void>({
      intervalMs: this.options.standbyRefreshIntervalMs ?? MGMT_STANDBY_REFRESH_INTERVAL_MS,
      pass: () =>
        this.queue.run(async () => {
          if (this.active || this.closed) return;
          const loaded = await loadClusterState(this.kv);
          if (loaded.routingVersion === this.state.routingVersion) return;
          this.replaceState(loaded);
          this.notify();
        }),
      clock: this.clock,
      logger: this.logger,
      failureMessage: 'standby could not re-read the cluster state; retrying',
    });
    this.standbyLoop.start();
  }

  private replaceState(state: ClusterState): void {
    this.state = state;
    this.chainChangedAt.clear();
    for (const chainId of state.chains.keys()) this.chainChangedAt.set(chainId, state.routingVersion);
  }

  /** Current routing version. */
  get routingVersion(): number {
    return this.state.routingVersion;
  }

  /** Calls `listener` with the new snapshot after every persisted change; returns unsubscribe. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ------------------------------------------------------------------------------------------
  // Mgmt operations

  /** `principal` is the caller's (node-identity.ts decides what it may register); `peer` is for logs. */
  async registerNode(
    request: unknown,
    principal: Principal = ANONYMOUS_ADMIN,
    peer = '',
  ): Promise<RegisterNodeResponse> {
    this.throwIfClosed();
    const registration = validateRegistration(request);
    const { nodeId, created } = await this.refusalsLogged('register', registration.nodeId, principal, peer, () => {
      const caller = nodeCallerOf(principal);
      return this.change((draft) => {
        const result = applyRegistration(draft, registration, caller);
        this.autoBuildInto(draft);
        return result;
      });
    });
    this.heartbeats.touch(nodeId, this.clock.nowUs());
    if (!created) {
      // The process restarted: whatever it held in memory is gone and it missed writes while down.
      for (const target of this.state.targets.values()) {
        if (target.nodeId === nodeId) this.heartbeats.setLocalState(target.targetId, LocalTargetState.LOCAL_OFFLINE);
      }
      await this.updateChains(chainsOfNode(this.state, nodeId), `node ${nodeId} restarted`);
    }
    this.logger.info(
      {
        nodeId,
        address: registration.address,
        targets: registration.targetPaths.length,
        created,
        routingVersion: this.routingVersion,
      },
      created ? 'storage node registered' : 'storage node re-registered',
    );
    return { nodeId, routing: this.routingInfo() };
  }

  async heartbeat(request: unknown, principal: Principal = ANONYMOUS_ADMIN, peer = ''): Promise<HeartbeatResponse> {
    this.throwIfClosed();
    const requestedNodeId = (request as { nodeId?: unknown } | undefined)?.nodeId;
    const heartbeat = await this.refusalsLogged('heartbeat', requestedNodeId, principal, peer, async () =>
      validateHeartbeat(this.state, request, nodeCallerOf(principal)),
    );
    for (const report of heartbeat.targets) {
      if (report.localState !== LocalTargetState.UPTODATE) continue;
      const chainId = this.state.targets.get(report.targetId)?.chainId ?? 0;
      if (chainId !== 0 && heartbeat.routingVersion < (this.chainChangedAt.get(chainId) ?? 0))
        report.localState = LocalTargetState.ONLINE;
    }
    const wasFailed = this.heartbeats.isFailed(heartbeat.nodeId);
    this.heartbeats.record(heartbeat, this.clock.nowUs());
    if (wasFailed) this.logger.info({ nodeId: heartbeat.nodeId }, 'failed storage node heartbeats again');
    this.metrics?.heartbeats.inc();
    try {
      await this.updateChains(chainsOfNode(this.state, heartbeat.nodeId), `heartbeat of node ${heartbeat.nodeId}`);
    } catch (err) {
      // The heartbeat itself was recorded; the checker's next round applies the change.
      this.logger.warn({ err, nodeId: heartbeat.nodeId }, 'chain update after a heartbeat failed');
    }
    return { routingVersion: this.routingVersion };
  }

  /**
   * Takes a target out by hand (admin): OFFLINE, at the end of its chain, chain version +1.
   * Refused when it is the chain's last serving target. Its node's next report brings it back
   * through waiting → syncing → serving (a forced resync) while the node is up.
   */
  async offlineTarget(request: unknown): Promise<OfflineTargetResponse> {
    this.throwIfClosed();
    const body = requireObject(request, 'OfflineTarget request');
    const tag = readTag(body['tag']);
    const targetId = requireInt(body['targetId'], 'target_id', 0, 0xffff_ffff);
    if (targetId === 0) throw invalid('target_id is missing');
    return this.idempotent(tag, `offline-target:${targetId}`, async () => {
      const chain = await this.change((draft) => {
        const target = draft.targets.get(targetId);
        if (target === undefined) {
          throw new SpindleError(
            ErrorCode.TARGET_NOT_FOUND,
            `target ${targetId} is not registered (see \`spindle admin targets\`)`,
            { retryable: false },
          );
        }
        const record = draft.chains.get(target.chainId);
        if (record === undefined)
          throw invalid(`target ${targetId} is in no chain: there is nothing to take it out of`);
        const localOf = (t: TargetRecord) =>
          t.targetId === targetId ? LocalTargetState.LOCAL_OFFLINE : this.localOf(t);
        const plans = planChainStates(draft, [record.chainId], localOf);
        const next = plans[0]?.next.find((t) => t.targetId === targetId);
        if (next?.publicState === PublicTargetState.LASTSRV) {
          throw invalid(
            `target ${targetId} is the last serving target of chain ${record.chainId}: ` +
              'taking it out would leave the chain without a complete copy; ' +
              'bring another target of the chain back to serving first',
          );
        }
        return writeChainPlans(draft, plans)[0] ?? record;
      });
      this.heartbeats.setLocalState(targetId, LocalTargetState.LOCAL_OFFLINE);
      this.logger.warn(
        { targetId, chainId: chain.chainId, chainVersion: chain.chainVersion, targets: chain.targetIds },
        'target taken offline by an admin',
      );
      return { chain: { chainId: chain.chainId, chainVersion: chain.chainVersion, targetIds: [...chain.targetIds] } };
    });
  }

  /**
   * Runs the state machine over `chainIds` and stores every chain it changes (one change, no
   * write when nothing changes). Returns the chains written.
   */
  async updateChains(chainIds: Iterable<number>, reason: string): Promise<ChainRecord[]> {
    const ids = [...chainIds];
    if (ids.length === 0 || planChainStates(this.state, ids, this.localOf).length === 0) return [];
    const written = await this.change((draft) => writeChainPlans(draft, planChainStates(draft, ids, this.localOf)));
    for (const chain of written) {
      const states = chain.targetIds.map(
        (id) => `${id}:${PublicTargetState[this.state.targets.get(id)?.publicState ?? 0]}`,
      );
      this.logger.info(
        {
          chainId: chain.chainId,
          chainVersion: chain.chainVersion,
          targets: states,
          reason,
          routingVersion: this.routingVersion,
        },
        'chain reconfigured',
      );
    }
    this.metrics?.chainUpdates.inc(written.length);
    return written;
  }

  private readonly localOf = (target: TargetRecord): LocalTargetState | undefined =>
    this.heartbeats.effectiveLocalState(target.nodeId, target.targetId);

  private failureHost(): FailureDetectionHost {
    return {
      nodeIds: () => this.state.nodes.keys(),
      lastHeartbeatUs: (nodeId) => this.heartbeats.lastHeartbeatUs(nodeId),
      isFailed: (nodeId) => this.heartbeats.isFailed(nodeId),
      declareFailed: async (nodeIds) => {
        const chains: number[] = [];
        for (const nodeId of nodeIds) {
          this.heartbeats.markFailed(nodeId);
          this.metrics?.nodeFailures.inc();
          chains.push(...chainsOfNode(this.state, nodeId));
        }
        await this.updateChains(chains, `nodes ${nodeIds.join(', ')} failed`);
      },
      updateAllChains: async () => {
        if (this.closed) return;
        await this.updateChains(this.state.chains.keys(), 'periodic check');
      },
    };
  }

  /** The failure checker (tests drive it), or undefined when failure detection is off. */
  get heartbeatChecker(): HeartbeatChecker | undefined {
    return this.checker;
  }

  /** The snapshot, omitted when `knownVersion` is already current. */
  async getRoutingInfo(request: unknown): Promise<GetRoutingInfoResponse> {
    this.throwIfClosed();
    const body = request === undefined ? {} : requireObject(request, 'GetRoutingInfo request');
    const knownVersion = requireInt(body['knownVersion'] ?? 0, 'known_version', 0);
    return this.routingSince(knownVersion);
  }

  /** Same as getRoutingInfo without request checks (the in-process RoutingCache fetch). */
  routingSince(knownVersion: number): GetRoutingInfoResponse {
    const version = this.routingVersion;
    return knownVersion === version ? { routing: undefined, version } : { routing: this.routingInfo(), version };
  }

  /** The current snapshot. */
  routingInfo(): RoutingInfo {
    return buildRoutingInfo(this.state, this.heartbeats, this.clock.nowUs(), this.options.nodeLeaseMs);
  }

  async createChainTable(request: unknown): Promise<CreateChainTableResponse> {
    this.throwIfClosed();
    const body = requireObject(request, 'CreateChainTable request');
    const tag = readTag(body['tag']);
    const replicas = validateReplicas(body['replicas']);
    return this.idempotent(tag, `create-chain-table:${replicas}`, async () => {
      const table = await this.change((draft) => planChainTable(draft, replicas));
      this.logger.info(
        { tableId: table.tableId, version: table.version, chains: table.chainIds.length, replicas },
        'chain table created',
      );
      return { table: { ...table, chainIds: [...table.chainIds] } };
    });
  }

  async updateChain(request: unknown): Promise<UpdateChainResponse> {
    this.throwIfClosed();
    const body = requireObject(request, 'UpdateChain request');
    const tag = readTag(body['tag']);
    const update = validateChainUpdate(body);
    return this.idempotent(tag, `update-chain:${update.chainId}:${update.targetIds.join(',')}`, async () => {
      const chain = await this.change((draft) => applyChainUpdate(draft, update));
      this.logger.info(
        { chainId: chain.chainId, chainVersion: chain.chainVersion, targets: chain.targetIds },
        'chain updated',
      );
      const info: ChainInfo = {
        chainId: chain.chainId,
        chainVersion: chain.chainVersion,
        targetIds: [...chain.targetIds],
      };
      return { chain: info };
    });
  }

  // ------------------------------------------------------------------------------------------
  // ClusterView

  latestChainTable(tableId: number): ChainTableSnapshot | undefined {
    const table = this.state.chainTables.get(tableId)?.at(-1);
    return table === undefined ? undefined : snapshot(table);
  }

  chainTable(tableId: number, version: number): ChainTableSnapshot | undefined {
    const table = this.state.chainTables.get(tableId)?.find((t) => t.version === version);
    return table === undefined ? undefined : snapshot(table);
  }

  /** Per chain: the mean of its targets' reported capacity and free bytes (so replicas count once). */
  capacity(): ClusterCapacity {
    let capacityBytes = 0;
    let freeBytes = 0;
    for (const chain of this.state.chains.values()) {
      if (chain.targetIds.length === 0) continue;
      let capacity = 0;
      let free = 0;
      for (const targetId of chain.targetIds) {
        const report = this.heartbeats.report(targetId);
        capacity += report?.capacityBytes ?? 0;
        free += Math.max(0, (report?.capacityBytes ?? 0) - (report?.usedBytes ?? 0));
      }
      capacityBytes += Math.floor(capacity / chain.targetIds.length);
      freeBytes += Math.floor(free / chain.targetIds.length);
    }
    return { capacityBytes, freeBytes };
  }

  /** Stops accepting changes; pending ones finish. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.options.role?.close();
    await this.standbyLoop?.stop();
    await this.checker?.close();
    await this.queue.run(async () => undefined);
    this.listeners.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ------------------------------------------------------------------------------------------
  // Internals

  /**
   * Runs `apply` on a draft of the current state and stores the result in one transaction. If the
   * store moved underneath (another writer), reloads and retries a bounded number of times.
   */
  private change<T>(apply: (draft: ClusterDraft) => T): Promise<T> {
    return this.queue.run(async () => {
      for (let attempt = 1; ; attempt++) {
        if (!this.active) throw standbyError(this.options.role?.holderAddress());
        const draft = new ClusterDraft(this.state);
        const result = apply(draft);
        // Nothing to store (e.g. a chain update that found the chains already as planned).
        if (draft.writeCount === 0) return result;
        try {
          await commitDraft(this.kv, draft, this.options.role);
        } catch (err) {
          if (err instanceof StateChangedError && attempt < STATE_RELOAD_ATTEMPTS_MAX) {
            this.logger.warn({ err, attempt }, 'cluster state changed in the store; reloading');
            this.state = await loadClusterState(this.kv);
            continue;
          }
          throw err;
        }
        const before = this.state;
        this.state = draft.result();
        for (const [chainId, chain] of this.state.chains) {
          if (before.chains.get(chainId) !== chain) this.chainChangedAt.set(chainId, this.state.routingVersion);
        }
        this.metrics?.changes.inc();
        this.notify();
        return result;
      }
    });
  }

  private notify(): void {
    if (this.listeners.size === 0) return;
    const routing = this.routingInfo();
    for (const listener of this.listeners) {
      try {
        listener(routing);
      } catch (err) {
        this.logger.error({ err }, 'routing change listener threw');
      }
    }
  }

  /** Adds chain table 1 to the draft when the expected nodes are registered and it is missing. */
  private autoBuildInto(draft: ClusterDraft): void {
    const expected = this.options.storageNodesExpected;
    if (expected === 0 || draft.nodes.size < expected || draft.chainTables.has(DEFAULT_CHAIN_TABLE_ID)) return;
    // planChainTable checks everything before it writes, so a failure leaves `draft` exactly as
    // the registration made it.
    try {
      const table = planChainTable(draft, this.options.replicas);
      this.logger.info(
        { tableId: table.tableId, version: table.version, chains: table.chainIds.length },
        'chain table built automatically',
      );
    } catch (err) {
      if (!isSpindleError(err)) throw err;
      this.logger.error(
        { err, nodes: draft.nodes.size, replicas: this.options.replicas },
        'cannot build chain table 1 automatically',
      );
    }
  }

  private async maybeAutoBuild(): Promise<void> {
    const expected = this.options.storageNodesExpected;
    if (expected === 0 || this.state.nodes.size < expected || this.state.chainTables.has(DEFAULT_CHAIN_TABLE_ID))
      return;
    try {
      await this.change((draft) => planChainTable(draft, this.options.replicas));
    } catch (err) {
      if (!isSpindleError(err)) throw err;
      this.logger.error({ err }, 'cannot build chain table 1 automatically');
    }
  }

  private async idempotent<T>(
    tag: { clientId: string; requestId: number } | undefined,
    fingerprint: string,
    run: () => Promise<T>,
  ): Promise<T> {
    if (tag === undefined) return run();
    const key = `${tag.clientId}\0${tag.requestId}`;
    const stored = this.idempotency.get(key);
    if (stored !== undefined) {
      if (stored.fingerprint !== fingerprint) {
        throw new SpindleError(
          ErrorCode.DUPLICATE_REQUEST_MISMATCH,
          `request ${tag.requestId} of client ${tag.clientId} was already used for a different admin request`,
        );
      }
      return stored.response as T;
    }
    const response = await run();
    this.idempotency.set(key, { fingerprint, response });
    if (this.idempotency.size > MGMT_IDEMPOTENCY_ENTRIES_MAX) {
      this.idempotency.delete(this.idempotency.keys().next().value!);
    }
    return response;
  }

  /** Runs a node call; a PERMISSION_DENIED (node identity) is logged as a warning with its caller. */
  private async refusalsLogged<T>(
    what: 'register' | 'heartbeat',
    nodeId: unknown,
    principal: Principal,
    peer: string,
    run: () => Promise<T>,
  ): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (isSpindleError(err) && err.errorCode === ErrorCode.PERMISSION_DENIED) {
        this.logger.warn(
          { what, nodeId, role: principal.role, user: principal.user, callerNodeId: principal.nodeId, peer, err },
          'node call refused: the caller does not hold the node id',
        );
      }
      throw err;
    }
  }

  private gauges(): { routingVersion: number; nodes: number; nodesAlive: number; chains: number } {
    const nowUs = this.clock.nowUs();
    let nodesAlive = 0;
    for (const nodeId of this.state.nodes.keys()) {
      if (this.heartbeats.isAlive(nodeId, nowUs, this.options.nodeLeaseMs)) nodesAlive++;
    }
    return {
      routingVersion: this.routingVersion,
      nodes: this.state.nodes.size,
      nodesAlive,
      chains: this.state.chains.size,
    };
  }

  /** Refuses Mgmt calls while closing or standing by (both retryable: callers try another meta). */
  private throwIfClosed(): void {
    if (this.closed) throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'the cluster manager is shutting down');
    if (!this.active) throw standbyError(this.options.role?.holderAddress());
  }
}

function snapshot(table: ChainTableRecord): ChainTableSnapshot {
  return { tableId: table.tableId, version: table.version, chainIds: [...table.chainIds] };
}
