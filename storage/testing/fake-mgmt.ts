// A tiny in-process cluster manager for storage tests: implements the Mgmt gRPC service over
// in-memory state, and lets a test shape chains (order, target states, versions) directly.
// Not the real manager (meta/mgmt): no persistence, no leases, no automatic chain changes.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { serviceImplementation, startGrpcServer, stopGrpcServer } from '../../common/rpc.js';
import {
  LocalTargetState,
  MgmtService,
  PublicTargetState,
  type ChainInfo,
  type GetRoutingInfoRequest,
  type GetRoutingInfoResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type NodeInfo,
  type RegisterNodeRequest,
  type RegisterNodeResponse,
  type RoutingInfo,
  type TargetInfo,
  type UpdateChainRequest,
  type UpdateChainResponse,
} from '../../proto/index.js';

export class FakeMgmt {
  private version = 1;
  private nextNodeId = 1;
  readonly nodes = new Map<number, NodeInfo>();
  readonly targets = new Map<number, TargetInfo>();
  readonly chains = new Map<number, ChainInfo>();
  readonly heartbeats: HeartbeatRequest[] = [];
  registrations = 0;
  /** While set, every call fails with this error (simulates an unreachable manager). */
  failWith: SpindleError | undefined;
  private server: Awaited<ReturnType<typeof startGrpcServer>> | undefined;

  get address(): string {
    if (this.server === undefined) throw new Error('fake mgmt not started');
    return this.server.address;
  }

  get routingVersion(): number {
    return this.version;
  }

  async start(port = 0): Promise<this> {
    this.server = await startGrpcServer(
      [
        {
          definition: MgmtService,
          implementation: serviceImplementation({
            registerNode: async (request: RegisterNodeRequest) => this.registerNode(request),
            heartbeat: async (request: HeartbeatRequest) => this.heartbeat(request),
            getRoutingInfo: async (request: GetRoutingInfoRequest) => this.getRoutingInfo(request),
            createChainTable: async () => {
              throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'fake mgmt: use createChains()');
            },
            updateChain: async (request: UpdateChainRequest) => this.updateChain(request),
          }),
        },
      ],
      '127.0.0.1',
      port,
    );
    return this;
  }

  async close(): Promise<void> {
    if (this.server !== undefined) await stopGrpcServer(this.server.server, 100);
    this.server = undefined;
  }

  routing(): RoutingInfo {
    return {
      version: this.version,
      nodes: [...this.nodes.values()].map((n) => ({ ...n })),
      targets: [...this.targets.values()].map((t) => ({ ...t })),
      chains: [...this.chains.values()].map((c) => ({ ...c, targetIds: [...c.targetIds] })),
      chainTables: [{ tableId: 1, version: 1, chainIds: [...this.chains.keys()] }],
    };
  }

  private check(): void {
    if (this.failWith !== undefined) throw this.failWith;
  }

  registerNode(request: RegisterNodeRequest): RegisterNodeResponse {
    this.check();
    this.registrations++;
    const nodeId = request.nodeId !== 0 ? request.nodeId : this.nextNodeId++;
    this.nextNodeId = Math.max(this.nextNodeId, nodeId + 1);
    this.nodes.set(nodeId, {
      nodeId,
      address: request.address,
      hostname: request.hostname,
      bulkAddress: request.bulkAddress ?? '',
      lastHeartbeatUs: 0,
      alive: true,
    });
    request.targetPaths.forEach((path, index) => {
      const targetId = nodeId * 1000 + index;
      const existing = this.targets.get(targetId);
      this.targets.set(targetId, {
        targetId,
        nodeId,
        chainId: existing?.chainId ?? 0,
        publicState: existing?.publicState ?? PublicTargetState.SERVING,
        localState: LocalTargetState.UPTODATE,
        path,
        usedBytes: 0,
        capacityBytes: 0,
      });
    });
    this.version++;
    return { nodeId, routing: this.routing() };
  }

  heartbeat(request: HeartbeatRequest): HeartbeatResponse {
    this.check();
    if (!this.nodes.has(request.nodeId))
      throw new SpindleError(ErrorCode.NODE_NOT_FOUND, `node ${request.nodeId} is not registered`);
    this.heartbeats.push(request);
    if (this.heartbeats.length > 1000) this.heartbeats.splice(0, 500);
    for (const report of request.targets) {
      const target = this.targets.get(report.targetId);
      if (target !== undefined) {
        target.usedBytes = report.usedBytes;
        target.capacityBytes = report.capacityBytes;
      }
    }
    return { routingVersion: this.version };
  }

  getRoutingInfo(request: GetRoutingInfoRequest): GetRoutingInfoResponse {
    this.check();
    return { routing: request.knownVersion === this.version ? undefined : this.routing(), version: this.version };
  }

  updateChain(request: UpdateChainRequest): UpdateChainResponse {
    this.check();
    return { chain: this.setChain(request.chainId, request.targetIds) };
  }

  /** Creates or changes a chain (bumping its version and the routing version). */
  setChain(chainId: number, targetIds: number[]): ChainInfo {
    const previous = this.chains.get(chainId);
    const chain: ChainInfo = { chainId, chainVersion: (previous?.chainVersion ?? 0) + 1, targetIds: [...targetIds] };
    this.chains.set(chainId, chain);
    for (const targetId of targetIds) {
      const target = this.targets.get(targetId);
      if (target === undefined) throw new Error(`fake mgmt: unknown target ${targetId}`);
      target.chainId = chainId;
    }
    this.version++;
    return chain;
  }

  /** Sets a target's public state (bumping its chain's version, as the real manager does). */
  setTargetState(targetId: number, state: PublicTargetState): void {
    const target = this.targets.get(targetId);
    if (target === undefined) throw new Error(`fake mgmt: unknown target ${targetId}`);
    target.publicState = state;
    const chain = this.chains.get(target.chainId);
    if (chain !== undefined) chain.chainVersion++;
    this.version++;
  }

  /** Bumps a chain's version without any other change (makes cached versions stale). */
  bumpChain(chainId: number): ChainInfo {
    const chain = this.chains.get(chainId);
    if (chain === undefined) throw new Error(`fake mgmt: unknown chain ${chainId}`);
    chain.chainVersion++;
    this.version++;
    return chain;
  }

  chain(chainId: number): ChainInfo {
    const chain = this.chains.get(chainId);
    if (chain === undefined) throw new Error(`fake mgmt: unknown chain ${chainId}`);
    return chain;
  }
}
