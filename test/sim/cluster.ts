// One simulated run: storage nodes running the REAL storage code (storage/ ChainReplicator,
// ReadOperator, ChainResolver, RoutingView, KeyedLocks, the head's UpdateDedupe, the service layer's
// request checks, the ChunkEngine and the persisted exactly-once ChannelRecords) wired to simulated
// time, network, disks and cluster manager, with clients writing and reading while faults are
// injected; then the faults stop, the cluster heals, and the history goes to the checker.
//
// What is real and what is simulated:
// - real: everything in storage/ that a Write, Update or BatchRead passes through once it reaches a
//   node, down to the chunk engine's block allocation, copy-on-write, segment CRCs and lmdb
//   transactions; the engine and the records run on sim-disk.ts (in-memory metadata store and
//   block files that lose unflushed writes on crash) through their injection points
//   (ChunkEngine.openOn, BlockFiles.on, ChannelRecords.openOn). The peer transport is replaced by
//   injecting a PeerClients whose clients send over the simulated network.
// - the manager is simulated (heartbeats, leases, the routing it serves and pushes), but its
//   decisions are the REAL state machine (meta/mgmt/target-state-machine.ts nextChain) over the
//   local states the nodes report (the REAL LocalTargetStates: UPTODATE, ONLINE, LOCAL_OFFLINE; a
//   failed or restarted node's targets count as LOCAL_OFFLINE).
// - the resync is REAL too: each node runs storage/resync-worker.ts on the simulated clock (it
//   pages through its syncing successor's chunk metadata, DumpChunkMeta, and copies what differs
//   under the chunk lock), and storage/resync-receiver.ts takes the copies and the SyncDone; the
//   target then reports UPTODATE and the state machine makes it SERVING.
import { Registry } from 'prom-client';
import { ErrorCode, SpindleError, asSpindleError } from '../../common/errors.js';
import { CHUNK_SIZE_MIN_BYTES } from '../../common/constants.js';
import { crc32c } from '../../common/crc32c.js';
import { createRng, type Clock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import {
  LocalTargetState,
  PublicTargetState,
  UpdateType,
  type BatchReadRequest,
  type BatchReadResponse,
  type RemoveChunksRequest,
  type RemoveChunksResponse,
  type DumpChunkMetaRequest,
  type RoutingInfo,
  type SyncDoneRequest,
  type StorageClient,
  type UpdateRequest,
  type UpdateResponse,
  type WriteRequest,
  type WriteResponse,
} from '../../proto/index.js';
import { ChainReplicator } from '../../storage/chain-replicator.js';
import { ChainResolver } from '../../storage/chain-resolver.js';
import { ChunkRepairer } from '../../storage/chunk-repair.js';
import { LocalTargetStates } from '../../storage/local-states.js';
import { ResyncReceiver } from '../../storage/resync-receiver.js';
import { ResyncWorker } from '../../storage/resync-worker.js';
import { nextChain, sameChain, type ChainTargetState } from '../../meta/mgmt/target-state-machine.js';
import type { ChunkEngine } from '../../storage/chunk-engine/chunk-engine.js';
import { KeyedLocks } from '../../storage/chunk-locks.js';
import { PeerClients } from '../../storage/peer-clients.js';
import { ReadOperator } from '../../storage/read-operator.js';
import { StorageMetrics } from '../../storage/metrics.js';
import { RoutingView } from '../../storage/routing-view.js';
import {
  checkBatchReadRequest,
  checkRemoveChunksRequest,
  checkUpdateRequest,
  checkWriteRequest,
} from '../../storage/service/validate.js';
import type { StorageTarget } from '../../storage/target.js';
import type { History, ReadRecord, WriteRecord, CommitRecord } from './checker.js';
import { SimNetwork, NO_NET_FAULTS, type Endpoint, type NetFaults } from './network.js';
import type { SimScheduler } from './scheduler.js';
import { SimDisk, SimTargetStore, keyOf, parseKey, type StoredChunk } from './sim-disk.js';

/** Deliberately broken variants: each must make the checker fail (test/sim/sim.test.ts). */
export type SimBug = 'early-ack' | 'read-pending' | 'no-lease';

export interface SimConfig {
  nodes: number;
  chains: number;
  replicas: number;
  chunksPerChain: number;
  clients: number;
  opsPerClient: number;
  crashes: boolean;
  partitions: boolean;
  /** Corrupt blocks and full disks (sim-disk.ts) among the faults. */
  diskFaults: boolean;
  /** After the workload, a collector removes one file (RemoveChunks) while faults go on. */
  removeFile: boolean;
  net: NetFaults;
  bug?: SimBug;
  /** Half the faults cut a node off from the manager only (the split-brain case). */
  splitBrain: boolean;
  /**
   * With disk faults: a corrupt chunk is followed at once by crashes of every node holding another
   * replica of its chain, so the damaged copy is the only serving one (the double fault).
   */
  doubleFault: boolean;
}

/** Timing of the simulated cluster (ms of simulated time). */
const SIM_TIMING = {
  heartbeatMs: 50,
  /** The manager declares a node failed after this long without a heartbeat; nodes stop serving after half. */
  leaseMs: 400,
  managerTickMs: 50,
  rpcTimeoutMs: 150,
  forwardTimeoutMs: 600,
  clientAttemptTimeoutMs: 1500,
  clientDeadlineMs: 4000,
  healDeadlineMs: 60_000,
} as const;

const MGMT = 'mgmt';

/** A node's scrub pass runs this often (simulated ms) in seeds with disk faults. */
const SCRUB_INTERVAL_MS = 300;
/** Scrub passes at heal, at most (each after the previous one found corrupt chunks). */
const SCRUB_PASSES_MAX = 5;
/** Faults go on at most this long (simulated ms) while the collector removes its file. */
const REMOVAL_FAULTS_MS = 3000;
const CHUNK_SIZE = CHUNK_SIZE_MIN_BYTES;

interface Recorder {
  commits: Map<string, CommitRecord[]>;
  harnessErrors: string[];
  trace: (line: string) => void;
}

// ---------------------------------------------------------------------------------------------
// Storage nodes

class SimTarget {
  readonly disk = new SimDisk();
  constructor(
    readonly targetId: number,
    readonly chainId: number,
  ) {}
}

/** One process lifetime of a storage node: all in-memory state, the real storage objects. */
class Incarnation implements Endpoint {
  running = true;
  readonly routing = new RoutingView();
  readonly locks = new KeyedLocks();
  /** Per target: the real chunk engine and exactly-once records on this incarnation's view of the disk. */
  readonly stores = new Map<number, SimTargetStore>();
  readonly resolver: ChainResolver;
  readonly replicator: ChainReplicator;
  readonly reader: ReadOperator;
  readonly repairer: ChunkRepairer;
  /** The real local states: LOCAL_OFFLINE for a target that failed a write its successor committed. */
  readonly localStates: LocalTargetStates;
  /** The real resync: this node's worker copies to its syncing successors, its receiver takes copies. */
  readonly resyncReceiver: ResyncReceiver;
  readonly resyncWorker: ResyncWorker;
  readonly clock: Clock;
  lastRenewSentMs = -Infinity;
  private refreshing: Promise<void> | undefined;

  constructor(
    readonly node: SimNode,
    readonly number: number,
    private readonly sim: Simulation,
  ) {
    const sched = sim.sched;
    this.clock = sched.clock(() => this.running);
    const targets = new Map<number, StorageTarget>();
    for (const t of node.targets) {
      const store = new SimTargetStore(
        t.disk,
        `/sim/node${node.nodeId}/target${t.targetId}`,
        sched,
        () => this.running,
        this.clock,
        { onCommit: (key, chunk) => sim.recordCommit(t.targetId, key, chunk) },
      );
      this.stores.set(t.targetId, store);
      // The replicator and reader use `targetId`, `engine` and `channels` of a StorageTarget.
      targets.set(t.targetId, {
        targetId: t.targetId,
        engine: sim.config.bug === 'read-pending' ? readsPending(store.engine) : store.engine,
        channels: store.channels,
      } as unknown as StorageTarget);
    }
    this.routing.setLocalTargets(node.targets.map((t) => t.targetId));
    const refreshRouting = (reason: string) => this.refreshRouting(reason);
    // Broken variant no-lease: a node cut off from the manager keeps serving (split brain).
    const mayServe = () =>
      sim.config.bug === 'no-lease' || sched.nowMs() - this.lastRenewSentMs < SIM_TIMING.leaseMs / 2;
    this.resolver = new ChainResolver({
      routing: this.routing,
      target: (id) => targets.get(id),
      refreshRouting,
      // Broken variant no-lease: a node cut off from the manager keeps serving (split brain).
      mayServe,
    });
    const peers = new SimPeerClients(sim, this);
    this.localStates = new LocalTargetStates(this.routing, () => void this.heartbeat());
    this.resyncReceiver = new ResyncReceiver({
      resolver: this.resolver,
      locks: this.locks,
      states: this.localStates,
      logger: silentLogger(),
    });
    this.resyncWorker = new ResyncWorker({
      routing: this.routing,
      resolver: this.resolver,
      target: (id) => targets.get(id),
      locks: this.locks,
      peers,
      clock: this.clock,
      logger: silentLogger(),
      intervalMs: SIM_TIMING.heartbeatMs,
      concurrency: 2,
      callTimeoutMs: SIM_TIMING.rpcTimeoutMs,
      mayServe,
    });
    this.replicator = new ChainReplicator({
      localStates: this.localStates,
      resolver: this.resolver,
      locks: this.locks,
      peers,
      refreshRouting,
      config: { forwardTimeoutMs: SIM_TIMING.forwardTimeoutMs, writeQueueMax: 1024 },
      clock: this.clock,
      rng: createRng(sched.rng.nextU64()),
      logger: silentLogger(),
      metrics: sim.metrics,
    });
    // The real repair of a chunk that failed its checksum: from another serving replica, under the lock.
    this.repairer = new ChunkRepairer({
      routing: this.routing,
      peers,
      locks: this.locks,
      clock: this.clock,
      logger: silentLogger(),
    });
    this.reader = new ReadOperator({ resolver: this.resolver, repairer: this.repairer });
  }

  get name(): string {
    return this.node.address;
  }

  alive(): boolean {
    return this.running;
  }

  /** The single-flight routing fetch the resolver and the replicator call. */
  refreshRouting(_reason: string): Promise<void> {
    this.refreshing ??= this.sim.net
      .call<RoutingInfo>(this, MGMT, 'routing', {}, SIM_TIMING.rpcTimeoutMs)
      .then((routing) => void this.routing.update(routing))
      .catch(() => undefined)
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  async heartbeatLoop(): Promise<void> {
    while (this.running) {
      await this.heartbeat();
      await this.clock.sleep(SIM_TIMING.heartbeatMs);
    }
  }

  /** The scrubber's loop (storage/scrubber.ts runs on real timers): a pass every SCRUB_INTERVAL_MS. */
  async scrubLoop(): Promise<void> {
    while (this.running) {
      await this.clock.sleep(SCRUB_INTERVAL_MS);
      if (this.running) await this.scrub();
    }
  }

  /** One heartbeat: renews the lease and reports each target's local state (the real LocalTargetStates). */
  async heartbeat(): Promise<void> {
    const sentMs = this.sim.sched.nowMs();
    try {
      const states = this.node.targets.map((t) => [t.targetId, this.localStates.of(t.targetId)] as const);
      const routing = await this.sim.net.call<RoutingInfo>(
        this,
        MGMT,
        'heartbeat',
        { nodeId: this.node.nodeId, incarnation: this.number, states },
        SIM_TIMING.rpcTimeoutMs,
      );
      this.lastRenewSentMs = Math.max(this.lastRenewSentMs, sentMs);
      this.routing.update(routing);
    } catch {
      // not renewed; the lease runs out on its own
    }
  }

  kill(): void {
    // Nothing this process started completes from now on (every disk operation checks `running`).
    this.running = false;
  }

  /** Settles only while this incarnation lives (a dead process answers nothing). */
  guard<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      promise.then(
        (v) => this.running && resolve(v),
        (e: unknown) => this.running && reject(e),
      );
    });
  }

  handle(method: string, request: unknown): Promise<unknown> {
    switch (method) {
      case 'write': {
        const req = request as WriteRequest;
        checkWriteRequest(req);
        const what =
          `Write ${keyOf(req.chunk!.ino, req.chunk!.index)} ${UpdateType[req.type]} ` +
          `seq ${req.tag?.clientId}/${req.seqnum} chain v${req.chainVersion}`;
        return this.sim.watchInternal(this.replicator.onWrite(req), `node ${this.node.nodeId}: ${what}`);
      }
      case 'update': {
        const req = request as UpdateRequest;
        checkUpdateRequest(req);
        const what =
          `Update ${keyOf(req.chunk!.ino, req.chunk!.index)} ${UpdateType[req.type]} v${req.updateVersion} ` +
          `chain v${req.chainVersion} from ${req.fromTargetId}`;
        // A resync copy goes to the real receiver, as the gRPC service routes it.
        const handled = req.sync === true ? this.resyncReceiver.onSyncUpdate(req) : this.replicator.onUpdate(req);
        return this.sim.watchInternal(handled, `node ${this.node.nodeId}: ${what}`);
      }
      case 'removeChunks': {
        const req = request as RemoveChunksRequest;
        checkRemoveChunksRequest(req);
        const what =
          `RemoveChunks ino ${req.ino} from ${req.fromIndex} chain v${req.chainVersion} ` + `from ${req.fromTargetId}`;
        return this.sim.watchInternal(this.replicator.onRemoveChunks(req), `node ${this.node.nodeId}: ${what}`);
      }
      case 'batchRead': {
        const req = request as BatchReadRequest;
        checkBatchReadRequest(req, 1 << 30);
        if (this.sim.sched.nowMs() - this.lastRenewSentMs >= SIM_TIMING.leaseMs / 2)
          this.sim.recorder.trace(`node ${this.node.nodeId}: read arrives past the lease`);
        return this.reader.onBatchRead(req).then((response) => ({ response, servedStamp: this.sim.sched.stamp() }));
      }
      case 'peerBatchRead': {
        // A peer's read (chunk repair): the same real read path, answered without the client's stamp.
        const req = request as BatchReadRequest;
        checkBatchReadRequest(req, 1 << 30);
        return this.reader.onBatchRead(req);
      }
      case 'pushRouting':
        this.routing.update(request as RoutingInfo);
        return Promise.resolve({});
      case 'dumpChunkMeta':
        return this.reader.onDumpChunkMeta(request as DumpChunkMetaRequest);
      case 'syncDone':
        return this.resyncReceiver.onSyncDone(request as SyncDoneRequest);
      default:
        return Promise.reject(new SpindleError(ErrorCode.RPC_MALFORMED, `sim: no method ${method}`));
    }
  }

  /**
   * One scrub pass over every local chunk, as storage/scrubber.ts does (its loop runs on real
   * timers, so the simulation drives the pass itself): a read that fails its checksum goes to the
   * real ChunkRepairer. Returns the chunks found corrupt.
   */
  async scrub(): Promise<number> {
    let corrupt = 0;
    for (const [targetId, store] of this.stores) {
      const target = { targetId, engine: store.engine, channels: store.channels } as unknown as StorageTarget;
      for (const { ino, index, length } of store.engine.dump({ limit: 1 << 20 }).chunks) {
        try {
          await store.engine.read(ino, index, 0, length);
        } catch (err) {
          if (asSpindleError(err).errorCode !== ErrorCode.CHUNK_CORRUPT) continue;
          corrupt++;
          await this.repairer.report(target, this.routing.chainOfTarget(targetId), ino, index, 'scrub');
        }
      }
    }
    return corrupt;
  }
}

/** The injection point: the replicator's peer clients send over the simulated network. */
class SimPeerClients extends PeerClients {
  constructor(
    private readonly sim: Simulation,
    private readonly owner: Incarnation,
  ) {
    super();
  }

  override get(address: string): StorageClient {
    const sim = this.sim;
    const owner = this.owner;
    const method =
      (name: string) =>
      (
        request: unknown,
        _metadata: unknown,
        _options: unknown,
        callback: (err: unknown, response?: unknown) => void,
      ) => {
        let done = false;
        const finish = (err: unknown, response?: unknown) => {
          if (done) return;
          done = true;
          callback(err, response);
        };
        const timeoutMs = name === 'peerBatchRead' ? SIM_TIMING.rpcTimeoutMs * 2 : SIM_TIMING.rpcTimeoutMs;
        const sent = sim.net.call(owner, address, name, request, timeoutMs);
        if (name === 'update' && sim.config.bug === 'early-ack') {
          // Broken variant: the successor's answer is made up from what it should compute, so the
          // sender commits and acknowledges before the rest of the chain has the update.
          sent.catch(() => undefined);
          const early = earlyAnswer(owner, request as UpdateRequest);
          sim.sched.after(0.01, () => owner.running && finish(null, early));
        } else {
          sent.then(
            (response) => finish(null, response),
            (err: unknown) => finish(err),
          );
        }
        return { cancel: () => finish(new SpindleError(ErrorCode.CANCELLED, 'sim call cancelled')) };
      };
    return {
      update: method('update'),
      removeChunks: method('removeChunks'),
      batchRead: method('peerBatchRead'),
      dumpChunkMeta: method('dumpChunkMeta'),
      syncDone: method('syncDone'),
    } as unknown as StorageClient;
  }

  override close(): void {}
}

/** The chunk content after `update` on top of `old` (undefined: removed); the engine's rules. */
function applyToContent(old: Buffer | undefined, update: UpdateRequest): Buffer | undefined {
  const oldLength = old?.length ?? 0;
  switch (update.type) {
    case UpdateType.REMOVE:
      return undefined;
    case UpdateType.REPLACE:
      return Buffer.from(update.data);
    case UpdateType.WRITE: {
      const out = Buffer.alloc(Math.max(oldLength, update.offset + update.data.length));
      old?.copy(out, 0);
      out.set(update.data, update.offset);
      return out;
    }
    default: {
      const out = Buffer.alloc(update.offset);
      old?.copy(out, 0, 0, Math.min(oldLength, update.offset));
      return out;
    }
  }
}

/**
 * Broken variant read-pending: reads of a chunk with a pending update are served its pending bytes
 * (the real engine never does; the checker must catch it).
 */
function readsPending(engine: ChunkEngine): ChunkEngine {
  return new Proxy(engine, {
    get(target, property, receiver) {
      if (property !== 'read') {
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      }
      return async (ino: number, index: number, offset: number, length: number) => {
        const pending = target.pendingOf(ino, index);
        if (pending === undefined || pending.removed) return target.read(ino, index, offset, length);
        const content = (await target.readLatest(ino, index)) ?? Buffer.alloc(0);
        const data = Buffer.from(content.subarray(Math.min(offset, content.length), offset + length));
        return { data, dataCrc32c: crc32c(data), chunkLength: content.length, commitVersion: pending.version };
      };
    },
  });
}

function earlyAnswer(owner: Incarnation, request: UpdateRequest): UpdateResponse {
  const key = keyOf(request.chunk!.ino, request.chunk!.index);
  const view = owner.routing.chain(request.chainId);
  const store = view === undefined ? undefined : owner.stores.get(view.localTargetId);
  const content = applyToContent(store?.snapshot().get(key)?.content, request);
  return {
    length: content?.length ?? 0,
    commitVersion: request.updateVersion,
    chunkCrc32c: content === undefined ? 0 : crc32c(content),
  };
}

class SimNode {
  current: Incarnation | undefined;
  incarnations = 0;

  constructor(
    readonly nodeId: number,
    readonly targets: SimTarget[],
  ) {}

  get address(): string {
    return `node${this.nodeId}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The manager

interface MgmtTarget {
  targetId: number;
  nodeId: number;
  chainId: number;
  state: PublicTargetState;
}

class SimManager implements Endpoint {
  readonly name = MGMT;
  readonly targets = new Map<number, MgmtTarget>();
  readonly chains = new Map<number, { chainId: number; chainVersion: number; targetIds: number[] }>();
  readonly nodes = new Map<number, { lastHeardMs: number; incarnation: number; failed: boolean }>();
  private version = 1;
  /** Each target's local state as last reported (LOCAL_OFFLINE while its node is failed). */
  private readonly local = new Map<number, LocalTargetState>();
  private cachedRouting: RoutingInfo | undefined;

  constructor(private readonly sim: Simulation) {}

  alive(): boolean {
    return true;
  }

  routing(): RoutingInfo {
    this.cachedRouting ??= {
      version: this.version,
      nodes: [...this.sim.nodes.values()].map((n) => ({
        nodeId: n.nodeId,
        address: n.address,
        hostname: n.address,
        lastHeartbeatUs: Math.round((this.nodes.get(n.nodeId)?.lastHeardMs ?? 0) * 1000),
        alive: !(this.nodes.get(n.nodeId)?.failed ?? true),
      })),
      targets: [...this.targets.values()].map((t) => ({
        targetId: t.targetId,
        nodeId: t.nodeId,
        chainId: t.chainId,
        publicState: t.state,
        localState: LocalTargetState.UPTODATE,
        path: '',
        usedBytes: 0,
        capacityBytes: 0,
      })),
      chains: [...this.chains.values()].map((c) => ({ ...c, targetIds: [...c.targetIds] })),
      chainTables: [],
    };
    return this.cachedRouting;
  }

  handle(method: string, request: unknown): Promise<unknown> {
    switch (method) {
      case 'routing':
        return Promise.resolve(this.routing());
      case 'heartbeat': {
        const { nodeId, incarnation, states } = request as {
          nodeId: number;
          incarnation: number;
          states: Array<readonly [number, LocalTargetState]>;
        };
        this.onHeartbeat(nodeId, incarnation, states);
        return Promise.resolve(this.routing());
      }
      default:
        return Promise.reject(new SpindleError(ErrorCode.RPC_MALFORMED, `sim mgmt: no method ${method}`));
    }
  }

  /**
   * A heartbeat renews the node's lease and reports its targets' local states. A new incarnation
   * (a restarted process lost its memory) first counts as a failure: its targets go through
   * recovery (a resync) like a failed node's.
   */
  private onHeartbeat(nodeId: number, incarnation: number, states: Array<readonly [number, LocalTargetState]>): void {
    const node = this.nodes.get(nodeId)!;
    if (incarnation < node.incarnation) return; // a late heartbeat of a previous process
    node.lastHeardMs = this.sim.sched.nowMs();
    const chainIds = this.targetsOf(nodeId).map((t) => t.chainId);
    if (incarnation > node.incarnation) {
      node.incarnation = incarnation;
      if (!node.failed) this.failNode(nodeId, 'restarted');
    }
    if (node.failed) {
      node.failed = false;
      this.sim.recorder.trace(`mgmt: node ${nodeId} back (incarnation ${incarnation})`);
    }
    for (const [targetId, local] of states) {
      if (this.local.get(targetId) === LocalTargetState.LOCAL_OFFLINE || local === LocalTargetState.LOCAL_OFFLINE) {
        if (this.local.get(targetId) !== local)
          this.sim.recorder.trace(`mgmt: target ${targetId} reports ${LocalTargetState[local]}`);
      }
      this.local.set(targetId, local);
    }
    this.decide(chainIds);
  }

  /** Periodic: failure detection and starting resyncs. */
  tick(): void {
    const now = this.sim.sched.nowMs();
    for (const [nodeId, node] of this.nodes) {
      if (!node.failed && now - node.lastHeardMs > SIM_TIMING.leaseMs) this.failNode(nodeId, 'lease expired');
    }
  }

  private targetsOf(nodeId: number): MgmtTarget[] {
    return [...this.targets.values()].filter((t) => t.nodeId === nodeId);
  }

  /** A node whose lease ran out (or that restarted): its targets count as LOCAL_OFFLINE. */
  private failNode(nodeId: number, why: string): void {
    this.nodes.get(nodeId)!.failed = true;
    const targets = this.targetsOf(nodeId);
    for (const t of targets) this.local.set(t.targetId, LocalTargetState.LOCAL_OFFLINE);
    this.sim.recorder.trace(`mgmt: node ${nodeId} failed (${why})`);
    this.decide(targets.map((t) => t.chainId));
  }

  /**
   * One round of the REAL state machine (meta/mgmt/target-state-machine.ts nextChain) over each
   * chain: new public states and order; a chain that changed gets a new version; routing is pushed.
   */
  private decide(chainIds: number[]): void {
    let changed = false;
    for (const chainId of new Set(chainIds)) {
      const chain = this.chains.get(chainId)!;
      const current: ChainTargetState[] = chain.targetIds.map((id) => ({
        targetId: id,
        publicState: this.targets.get(id)!.state,
        localState: this.local.get(id),
      }));
      const next = nextChain(current);
      if (sameChain(current, next)) continue;
      changed = true;
      for (const t of next) this.targets.get(t.targetId)!.state = t.publicState;
      chain.targetIds = next.map((t) => t.targetId);
      chain.chainVersion++;
      this.sim.recordServing(chain);
      this.sim.recorder.trace(
        `mgmt: chain ${chainId} v${chain.chainVersion}: ` +
          next.map((t) => `${t.targetId}:${PublicTargetState[t.publicState]}`).join(' → '),
      );
    }
    if (!changed) return;
    this.version++;
    this.cachedRouting = undefined;
    const routing = this.routing();
    for (const node of this.sim.nodes.values())
      this.sim.net.call(this, node.address, 'pushRouting', routing, SIM_TIMING.rpcTimeoutMs).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

class SimClient implements Endpoint {
  readonly clientId: string;
  private routing: RoutingInfo | undefined;
  private seqnum = 0;
  private readonly clock: Clock;

  constructor(
    readonly index: number,
    private readonly sim: Simulation,
  ) {
    this.clientId = `sim-client-${index}`;
    this.clock = sim.sched.clock();
  }

  get name(): string {
    return `client${this.index}`;
  }

  alive(): boolean {
    return true;
  }

  private async refresh(): Promise<void> {
    try {
      const routing = await this.sim.net.call<RoutingInfo>(this, MGMT, 'routing', {}, SIM_TIMING.rpcTimeoutMs);
      if (this.routing === undefined || routing.version > this.routing.version) this.routing = routing;
    } catch {
      // keep the old routing
    }
  }

  private servingTargets(
    chainId: number,
  ): { chainVersion: number; addresses: Array<{ targetId: number; address: string }> } | undefined {
    const chain = this.routing?.chains.find((c) => c.chainId === chainId);
    if (chain === undefined) return undefined;
    const addresses = chain.targetIds
      .filter((id) => this.routing!.targets.find((t) => t.targetId === id)?.publicState === PublicTargetState.SERVING)
      .map((id) => ({ targetId: id, address: `node${this.routing!.targets.find((t) => t.targetId === id)!.nodeId}` }));
    return { chainVersion: chain.chainVersion, addresses };
  }

  private backoff(attempt: number): Promise<void> {
    return this.clock.sleep(Math.min(200, 10 * 2 ** Math.min(attempt, 5)) * (0.5 + this.sim.sched.rng.nextFloat()));
  }

  async run(): Promise<void> {
    const sched = this.sim.sched;
    await this.clock.sleep(sched.uniform(0, 50));
    for (let op = 0; op < this.sim.config.opsPerClient; op++) {
      const key = sched.pick(this.sim.chunkKeys);
      if (sched.chance(0.55)) await this.write(key);
      else await this.read(key);
      await this.clock.sleep(sched.uniform(0, 150));
    }
  }

  /**
   * Removes every chunk of one file, as the meta service's collector does after the last unlink:
   * RemoveChunks to the chain's head, retried (with refreshed routing) until it is answered.
   */
  async removeFile(ino: number, chainId: number): Promise<void> {
    const sched = this.sim.sched;
    const keys = this.sim.chunkKeys.filter((k) => parseKey(k).ino === ino);
    const records = keys.map((key) => ({
      client: this.index,
      key,
      startStamp: sched.stamp(),
      endStamp: 0,
      acked: false,
    }));
    this.sim.history.removals.push(...records);
    for (let attempt = 0; ; attempt++) {
      const head = this.servingTargets(chainId)?.addresses[0];
      if (head !== undefined) {
        const request: RemoveChunksRequest = {
          tag: { clientId: this.clientId, requestId: ++this.seqnum },
          chainId,
          chainVersion: this.servingTargets(chainId)!.chainVersion,
          ino,
          fromIndex: 0,
          fromTargetId: 0,
        };
        try {
          await this.sim.net.call<RemoveChunksResponse>(
            this,
            head.address,
            'removeChunks',
            request,
            SIM_TIMING.clientAttemptTimeoutMs,
          );
          const end = sched.stamp();
          for (const r of records) Object.assign(r, { endStamp: end, acked: true });
          this.sim.recorder.trace(`client ${this.index}: removed file ${ino}`);
          return;
        } catch {
          // retried below, like the collector
        }
      }
      await this.refresh();
      await this.backoff(attempt);
    }
  }

  private async write(key: string): Promise<void> {
    const sched = this.sim.sched;
    const chainId = this.sim.chainOf.get(key)!;
    const chunk = parseKey(key);
    const truncate = sched.chance(0.1);
    const data = Buffer.alloc(truncate ? 0 : 1 + sched.rng.nextInt(48));
    sched.rng.fill(data);
    const offset = truncate ? sched.rng.nextInt(160) : sched.rng.nextInt(200);
    const seqnum = ++this.seqnum;
    const record: WriteRecord = {
      client: this.index,
      key,
      seqnum,
      what: truncate ? `truncate to ${offset}` : `write ${data.length} bytes at ${offset}`,
      startStamp: sched.stamp(),
      endStamp: 0,
    };
    this.sim.history.writes.push(record);
    const deadlineMs = sched.nowMs() + SIM_TIMING.clientDeadlineMs;
    for (let attempt = 0; ; attempt++) {
      if (sched.nowMs() > deadlineMs) {
        record.failure ??= 'RETRIES_EXHAUSTED';
        break;
      }
      const serving = this.servingTargets(chainId);
      const head = serving?.addresses[0];
      if (serving === undefined || head === undefined) {
        await this.refresh();
        await this.backoff(attempt);
        continue;
      }
      const request: WriteRequest = {
        tag: { clientId: this.clientId, requestId: seqnum },
        chainId,
        chainVersion: serving.chainVersion,
        chunk,
        type: truncate ? UpdateType.TRUNCATE : UpdateType.WRITE,
        offset,
        data,
        dataCrc32c: crc32c(data),
        chunkSizeBytes: CHUNK_SIZE,
        channelId: 1,
        seqnum,
      };
      try {
        const response = await this.sim.net.call<WriteResponse>(
          this,
          head.address,
          'write',
          request,
          SIM_TIMING.clientAttemptTimeoutMs,
        );
        record.ack = { version: response.commitVersion, length: response.length, crc: response.chunkCrc32c };
        record.ackChainVersion = request.chainVersion;
        record.failure = undefined;
        break;
      } catch (err) {
        const error = asSpindleError(err);
        record.failure = error.codeName;
        if (!error.retryable) break;
        await this.refresh();
        await this.backoff(attempt);
      }
    }
    record.endStamp = sched.stamp();
    this.sim.recorder.trace(
      `client ${this.index}: ${record.what} on ${key} seq ${seqnum} → ` +
        `${record.ack ? `ack v${record.ack.version}` : record.failure}`,
    );
  }

  private async read(key: string): Promise<void> {
    const sched = this.sim.sched;
    const chainId = this.sim.chainOf.get(key)!;
    const chunk = parseKey(key);
    const offset = sched.rng.nextInt(160);
    const length = 1 + sched.rng.nextInt(128);
    const startStamp = sched.stamp();
    const deadlineMs = sched.nowMs() + SIM_TIMING.clientDeadlineMs;
    for (let attempt = 0; sched.nowMs() <= deadlineMs; attempt++) {
      const serving = this.servingTargets(chainId);
      if (serving === undefined || serving.addresses.length === 0) {
        await this.refresh();
        await this.backoff(attempt);
        continue;
      }
      const replica = sched.pick(serving.addresses);
      try {
        const { response, servedStamp } = await this.sim.net.call<{ response: BatchReadResponse; servedStamp: number }>(
          this,
          replica.address,
          'batchRead',
          { ios: [{ chainId, chainVersion: serving.chainVersion, chunk, offset, length }] },
          SIM_TIMING.rpcTimeoutMs * 2,
        );
        const result = response.results[0]!;
        const code = result.status?.code ?? ErrorCode.INTERNAL;
        if (code === ErrorCode.OK || code === ErrorCode.CHUNK_NOT_FOUND) {
          const record: ReadRecord = {
            client: this.index,
            key,
            offset,
            length,
            startStamp,
            endStamp: sched.stamp(),
            servedStamp,
            targetId: replica.targetId,
            result:
              code === ErrorCode.OK
                ? { version: result.commitVersion, chunkLength: result.chunkLength, data: result.data }
                : undefined,
          };
          this.sim.history.reads.push(record);
          this.sim.recorder.trace(
            `client ${this.index}: read ${key} from ${replica.targetId} → ` +
              `${record.result ? `v${record.result.version}` : 'no chunk'}`,
          );
          return;
        }
        if (code === ErrorCode.CHUNK_CORRUPT) this.sim.diskStats.corruptReads++;
        if (code === ErrorCode.INTERNAL)
          this.sim.recorder.harnessErrors.push(
            `read of ${key} from target ${replica.targetId}: INTERNAL ${result.status?.message}`,
          );
      } catch {
        // retried below
      }
      await this.refresh();
      await this.backoff(attempt);
    }
    this.sim.recorder.trace(`client ${this.index}: read ${key} gave up`);
  }
}

// ---------------------------------------------------------------------------------------------
// The simulation

export class Simulation {
  readonly net: SimNetwork;
  readonly nodes = new Map<number, SimNode>();
  readonly manager: SimManager;
  readonly chunkKeys: string[] = [];
  readonly chainOf = new Map<string, number>();
  readonly recorder: Recorder;
  readonly history: History;
  /** The replicators' own counters (repairs, exactly-once replays, forward retries), all nodes together. */
  readonly metrics = new StorageMetrics(new Registry(), () => []);
  /** What the disk faults did: reads answered CHUNK_CORRUPT, chunks the real ChunkRepairer mended. */
  readonly diskStats = { corruptReads: 0, repaired: 0, doubleFaults: 0 };
  private readonly repairers: ChunkRepairer[] = [];
  private readonly downUntil = new Map<number, () => void>();
  private faultsOn = true;
  /** The collector's removal has not been answered yet (the cluster is not healed before it is). */
  private removalPending = false;

  constructor(
    readonly sched: SimScheduler,
    readonly config: SimConfig,
    trace: (line: string) => void,
    /** Also trace every Write and Update a node answers (replay --verbose). */
    readonly verbose = false,
  ) {
    this.net = new SimNetwork(sched);
    this.net.faults = config.net;
    this.recorder = {
      commits: new Map(),
      harnessErrors: [],
      trace: (line) => trace(`${sched.nowMs().toFixed(3).padStart(10)} ${line}`),
    };
    this.history = {
      commits: this.recorder.commits,
      writes: [],
      reads: [],
      finalReplicas: new Map(),
      chainOf: this.chainOf,
      servingAt: new Map(),
      removals: [],
      doubleFaulted: new Set(),
    };
    this.manager = new SimManager(this);
    this.net.register(MGMT, this.manager);

    // Chains of `replicas` consecutive nodes; each node has one target per chain it is in.
    const targetsByNode = new Map<number, SimTarget[]>();
    for (let n = 1; n <= config.nodes; n++) targetsByNode.set(n, []);
    for (let c = 1; c <= config.chains; c++) {
      const targetIds: number[] = [];
      for (let r = 0; r < config.replicas; r++) {
        const nodeId = ((c - 1 + r) % config.nodes) + 1;
        const local = targetsByNode.get(nodeId)!;
        const target = new SimTarget(nodeId * 1000 + local.length, c);
        local.push(target);
        targetIds.push(target.targetId);
        this.manager.targets.set(target.targetId, {
          targetId: target.targetId,
          nodeId,
          chainId: c,
          state: PublicTargetState.SERVING,
        });
      }
      this.manager.chains.set(c, { chainId: c, chainVersion: 1, targetIds });
      this.recordServing(this.manager.chains.get(c)!);
      for (let i = 0; i < config.chunksPerChain; i++) {
        const key = keyOf(100 + c, i);
        this.chunkKeys.push(key);
        this.chainOf.set(key, c);
      }
    }
    for (const [nodeId, targets] of targetsByNode) {
      const node = new SimNode(nodeId, targets);
      this.nodes.set(nodeId, node);
      this.manager.nodes.set(nodeId, { lastHeardMs: 0, incarnation: 1, failed: false });
      this.net.register(node.address, {
        alive: () => node.current?.running ?? false,
        handle: (method, request) => {
          const inc = node.current!;
          let result: Promise<unknown>;
          try {
            result = inc.handle(method, request);
          } catch (err) {
            result = Promise.reject(err);
          }
          return inc.guard(result);
        },
      });
    }
  }

  /** A commit (or removal) became visible on a target: the checker's commit log. */
  recordCommit(targetId: number, key: string, chunk: StoredChunk | undefined): void {
    let list = this.recorder.commits.get(key);
    if (list === undefined) this.recorder.commits.set(key, (list = []));
    list.push({ stamp: this.sched.stamp(), targetId, chunk });
  }

  /** Remembers which targets serve in a chain version (the checker's first rule needs it). */
  recordServing(chain: { chainId: number; chainVersion: number; targetIds: number[] }): void {
    let versions = this.history.servingAt.get(chain.chainId);
    if (versions === undefined) this.history.servingAt.set(chain.chainId, (versions = new Map()));
    versions.set(chain.chainVersion, {
      sinceStamp: this.sched.stamp(),
      serving: chain.targetIds.filter((id) => this.manager.targets.get(id)!.state === PublicTargetState.SERVING),
    });
  }

  /** Reports INTERNAL errors (a broken invariant inside storage) as harness-visible failures. */
  watchInternal<T>(promise: Promise<T>, what: string): Promise<T> {
    return promise.then(
      (response) => {
        if (this.verbose) this.recorder.trace(`${what} → ${JSON.stringify(response)}`);
        return response;
      },
      (err: unknown) => {
        const error = asSpindleError(err);
        if (this.verbose) this.recorder.trace(`${what} → ${error.codeName}`);
        if (error.errorCode === ErrorCode.INTERNAL)
          this.recorder.harnessErrors.push(`${what}: INTERNAL ${error.message}`);
        throw err;
      },
    );
  }

  private start(node: SimNode, initial: boolean): void {
    const inc = new Incarnation(node, ++node.incarnations, this);
    node.current = inc;
    this.repairers.push(inc.repairer);
    if (initial) {
      inc.lastRenewSentMs = 0;
      inc.routing.update(this.manager.routing());
    }
    void inc.heartbeatLoop();
    inc.resyncWorker.start();
    if (this.config.diskFaults) void inc.scrubLoop();
  }

  private crash(node: SimNode): void {
    this.recorder.trace(`fault: node ${node.nodeId} crashes`);
    node.current?.kill();
  }

  private restart(node: SimNode): void {
    if (node.current?.running) return;
    this.recorder.trace(`fault: node ${node.nodeId} restarts on its flushed data`);
    this.start(node, false);
  }

  private async faultLoop(clientsDone: () => boolean): Promise<void> {
    const sched = this.sched;
    const clock = sched.clock();
    const nodeIds = [...this.nodes.keys()];
    while (!clientsDone() && this.faultsOn) {
      await clock.sleep(sched.uniform(80, 500));
      if (clientsDone() || !this.faultsOn) break;
      // The split-brain variant gets its case (a node cut off from the manager only) half the time.
      const kind = this.config.splitBrain && sched.chance(0.5) ? 4 : sched.rng.nextInt(this.config.diskFaults ? 7 : 5);
      const node = this.nodes.get(sched.pick(nodeIds))!;
      const durationMs = sched.chance(0.3)
        ? sched.uniform(SIM_TIMING.leaseMs, 2500)
        : sched.uniform(20, SIM_TIMING.leaseMs);
      if (kind <= 1 && this.config.crashes) {
        const down = [...this.nodes.values()].filter((n) => !n.current?.running).length;
        if (!node.current?.running || down >= this.config.nodes - 1) continue;
        this.crash(node);
        const restart = () => {
          this.downUntil.delete(node.nodeId);
          this.restart(node);
        };
        this.downUntil.set(node.nodeId, restart);
        sched.after(durationMs, () => this.downUntil.get(node.nodeId) === restart && restart());
      } else if (kind === 2 && this.config.partitions) {
        // Isolate one node from everyone (manager, peers, clients).
        const others = [
          MGMT,
          ...nodeIds.filter((id) => id !== node.nodeId).map((id) => `node${id}`),
          ...this.clientNames(),
        ];
        this.recorder.trace(`fault: node ${node.nodeId} isolated for ${durationMs.toFixed(0)} ms`);
        for (const other of others) this.net.partition(node.address, other);
        sched.after(durationMs, () => {
          for (const other of others) this.net.heal(node.address, other);
        });
      } else if (kind === 3 && this.config.partitions) {
        // Cut the link between two storage nodes.
        const other = `node${sched.pick(nodeIds.filter((id) => id !== node.nodeId))}`;
        this.recorder.trace(`fault: link ${node.address}–${other} cut for ${durationMs.toFixed(0)} ms`);
        this.net.partition(node.address, other);
        sched.after(durationMs, () => this.net.heal(node.address, other));
      } else if (kind === 4 && this.config.partitions) {
        // Cut a node off the manager only, past its lease: the manager takes its targets out while
        // clients and peers still reach it (the split-brain case the lease exists for).
        const cutMs = sched.uniform(SIM_TIMING.leaseMs, 4 * SIM_TIMING.leaseMs);
        this.recorder.trace(`fault: link ${node.address}–${MGMT} cut for ${cutMs.toFixed(0)} ms`);
        this.net.partition(node.address, MGMT);
        sched.after(cutMs, () => this.net.heal(node.address, MGMT));
      } else if (kind === 5) {
        // A flipped byte in a committed chunk's block: the engine must answer CHUNK_CORRUPT, the
        // client read another replica, the repair (or a later write) mend it.
        // At most one damaged replica per chunk (else the data is gone, which no system can mend).
        const target = sched.pick(node.targets);
        const spare = new Set<string>();
        for (const other of this.nodes.values())
          for (const t of other.targets)
            if (t.chainId === target.chainId && t !== target)
              for (const key of t.disk.current?.damagedKeys() ?? []) spare.add(key);
        // Only in a chain whose replicas all serve: a corrupt copy on the last serving replica, with
        // the good ones out of the chain, is a double fault the repairer cannot mend (it reads from
        // serving peers) and the resync of the others then stops at it.
        const chain = this.manager.chains.get(target.chainId)!;
        const allServing = chain.targetIds.every(
          (id) => this.manager.targets.get(id)!.state === PublicTargetState.SERVING,
        );
        const key =
          node.current?.running && allServing
            ? target.disk.current?.corruptOne((n) => sched.rng.nextInt(n), spare)
            : undefined;
        if (key !== undefined) this.recorder.trace(`fault: chunk ${key} corrupt on target ${target.targetId}`);
        if (key !== undefined && this.config.doubleFault && this.config.diskFaults)
          this.doubleFault(node, chain, key, durationMs);
      } else if (kind === 6) {
        // A full disk: writes needing new space fail with ENOSPC (NO_SPACE) until space is back.
        const target = sched.pick(node.targets);
        this.recorder.trace(`fault: target ${target.targetId} full for ${durationMs.toFixed(0)} ms`);
        target.disk.full = true;
        sched.after(durationMs, () => {
          target.disk.full = false;
        });
      }
    }
  }

  /**
   * The double fault: every other replica of the chain whose chunk just went bad on `node` goes
   * down (its node crashes; at most N−1 nodes are down), so the bad copy is the only serving one:
   * the repairer has no good peer, and the returning replicas' resync meets the bad chunk. The
   * chain must not stay stuck, and no read may return wrong bytes (checker rules 3–5, healing).
   */
  private doubleFault(node: SimNode, chain: { targetIds: number[] }, key: string, durationMs: number): void {
    const others = new Set(
      chain.targetIds.map((id) => this.manager.targets.get(id)!.nodeId).filter((id) => id !== node.nodeId),
    );
    const down = [...this.nodes.values()].filter((n) => !n.current?.running).length;
    const victims = [...others].map((id) => this.nodes.get(id)!).filter((n) => n.current?.running);
    if (victims.length === 0 || down + victims.length > this.config.nodes - 1) return;
    this.diskStats.doubleFaults++;
    this.history.doubleFaulted!.add(key);
    this.recorder.trace(`fault: double fault: nodes ${victims.map((n) => n.nodeId).join(', ')} go down`);
    const restartMs = Math.max(durationMs, SIM_TIMING.leaseMs);
    for (const victim of victims) {
      this.crash(victim);
      const restart = () => {
        this.downUntil.delete(victim.nodeId);
        this.restart(victim);
      };
      this.downUntil.set(victim.nodeId, restart);
      this.sched.after(restartMs, () => this.downUntil.get(victim.nodeId) === restart && restart());
    }
  }

  private clientNames(): string[] {
    return Array.from({ length: this.config.clients }, (_, i) => `client${i}`);
  }

  /** Faults stop: links heal, down nodes restart, the network stops losing messages. */
  private heal(): void {
    this.faultsOn = false;
    this.recorder.trace('heal: faults stop');
    this.net.healAll();
    this.net.faults = NO_NET_FAULTS;
    for (const node of this.nodes.values()) for (const t of node.targets) t.disk.full = false;
    for (const restart of [...this.downUntil.values()]) restart();
  }

  private healed(): boolean {
    if (this.removalPending) return false;
    for (const chain of this.manager.chains.values()) {
      for (const id of chain.targetIds)
        if (this.manager.targets.get(id)!.state !== PublicTargetState.SERVING) return false;
    }
    for (const node of this.nodes.values()) {
      const inc = node.current;
      if (inc === undefined || !inc.running || inc.routing.version !== this.manager.routing().version) return false;
      for (const store of inc.stores.values()) if (!store.allFlushed) return false;
    }
    return true;
  }

  /** Runs the whole scenario and returns the history (with the final replica states). */
  async run(): Promise<{ history: History; harnessErrors: string[]; healedAtMs: number | undefined }> {
    const sched = this.sched;
    for (const node of this.nodes.values()) this.start(node, true);
    const managerLoop = async () => {
      const clock = sched.clock();
      for (;;) {
        await clock.sleep(SIM_TIMING.managerTickMs);
        this.manager.tick();
      }
    };
    void managerLoop();
    let clientsLeft = this.config.clients;
    for (let i = 0; i < this.config.clients; i++) {
      const client = new SimClient(i, this);
      void client.run().finally(() => clientsLeft--);
    }
    // Once the workload is done, a collector removes one file while the faults go on (they stop
    // when it is answered, or after REMOVAL_FAULTS_MS; it retries until answered either way).
    if (this.config.removeFile) {
      clientsLeft++;
      this.removalPending = true;
      const collector = new SimClient(this.config.clients, this);
      const chainId = 1 + sched.rng.nextInt(this.config.chains);
      let counted = true;
      const done = () => {
        if (counted) clientsLeft--;
        counted = false;
      };
      void (async () => {
        const clock = sched.clock();
        while (clientsLeft > 1) await clock.sleep(10);
        sched.after(REMOVAL_FAULTS_MS, done);
        await collector.removeFile(100 + chainId, chainId);
        this.removalPending = false;
        done();
      })();
    }
    void this.faultLoop(() => clientsLeft === 0);
    await sched.run(Number.POSITIVE_INFINITY, () => clientsLeft === 0);
    const workloadEndMs = sched.nowMs();
    this.heal();
    let healed = await sched.run(workloadEndMs + SIM_TIMING.healDeadlineMs, () => this.healed());
    if (healed && this.config.diskFaults) {
      // Scrub passes on every node find (and repair) corruption nobody read, as the periodic
      // scrubber would: a pass that found some runs again a little later (a repair fails while its
      // peers have not renewed their leases yet); then heal again.
      let scrubbed = false;
      void (async () => {
        const clock = sched.clock();
        for (let pass = 0; pass < SCRUB_PASSES_MAX; pass++) {
          const found = await Promise.all([...this.nodes.values()].map((n) => n.current!.scrub()));
          const total = found.reduce((a, b) => a + b, 0);
          if (total === 0) break;
          this.recorder.trace(`heal: scrub found ${total} corrupt chunk(s)`);
          await clock.sleep(SIM_TIMING.leaseMs);
        }
        scrubbed = true;
      })();
      healed = await sched.run(workloadEndMs + SIM_TIMING.healDeadlineMs, () => scrubbed && this.healed());
    }
    const healedAtMs = healed ? sched.nowMs() : undefined;
    if (healed) {
      // Let stragglers (duplicates, late answers) land, then take the final state.
      await sched.run(sched.nowMs() + 500);
    }
    for (const chain of this.manager.chains.values()) {
      const replicas = new Map<number, Map<string, StoredChunk>>();
      for (const id of chain.targetIds) {
        const node = this.nodes.get(this.manager.targets.get(id)!.nodeId)!;
        replicas.set(id, node.current!.stores.get(id)!.snapshot(true));
      }
      this.history.finalReplicas.set(chain.chainId, replicas);
    }
    this.diskStats.repaired = this.repairers.reduce((sum, r) => sum + r.totals.repaired, 0);
    return { history: this.history, harnessErrors: this.recorder.harnessErrors, healedAtMs };
  }
}
