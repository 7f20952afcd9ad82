// What a storage node knows of the cluster: the latest RoutingInfo from the manager, reduced to
// what its targets need — for each chain it hosts: the chain version, this node's target and its
// public state, whether it is the head, and the successor writes go to (with that successor's
// address and state).
import { LocalTargetState, PublicTargetState, type RoutingInfo, type TargetInfo } from '../proto/index.js';

export interface PeerTarget {
  targetId: number;
  nodeId: number;
  /** host:port of the node's Storage service ('' when the node is unknown). */
  address: string;
  /** host:port of the node's bulk listener ('' when it has none or is unknown). */
  bulkAddress: string;
  state: PublicTargetState;
}

export interface ChainView {
  chainId: number;
  chainVersion: number;
  /** Target ids, head first. */
  targetIds: number[];
  /** This node's target in the chain. */
  localTargetId: number;
  localState: PublicTargetState;
  /** This node's target is the first serving target of the chain: it accepts client writes. */
  isHead: boolean;
  /** The next target that receives writes (serving or syncing); undefined: this node is the tail. */
  successor: PeerTarget | undefined;
  /** The target before this one (informational: whom updates should come from). */
  predecessor: PeerTarget | undefined;
}

/** Public states that receive replicated writes. */
export function receivesWrites(state: PublicTargetState): boolean {
  return state === PublicTargetState.SERVING || state === PublicTargetState.SYNCING;
}

export class RoutingView {
  private routing: RoutingInfo | undefined;
  private chains = new Map<number, ChainView>();
  private localTargetIds = new Set<number>();

  /** Routing version held (0 before the first). */
  get version(): number {
    return this.routing?.version ?? 0;
  }

  get info(): RoutingInfo | undefined {
    return this.routing;
  }

  /** Sets the node's own target ids (after registration told it its node id). */
  setLocalTargets(targetIds: readonly number[]): void {
    this.localTargetIds = new Set(targetIds);
    if (this.routing !== undefined) this.rebuild(this.routing);
  }

  /** Takes a routing snapshot if it is newer than the one held; returns whether it was taken. */
  update(routing: RoutingInfo | undefined): boolean {
    if (routing === undefined) return false;
    if (this.routing !== undefined && routing.version <= this.routing.version) return false;
    this.rebuild(routing);
    return true;
  }

  /** The view of a chain this node hosts, or undefined. */
  chain(chainId: number): ChainView | undefined {
    return this.chains.get(chainId);
  }

  chainsHosted(): ChainView[] {
    return [...this.chains.values()];
  }

  /** Chain a local target belongs to (0 while unassigned). */
  chainOfTarget(targetId: number): number {
    for (const view of this.chains.values()) if (view.localTargetId === targetId) return view.chainId;
    return 0;
  }

  /** The routing entry of any target. */
  target(targetId: number): TargetInfo | undefined {
    return this.routing?.targets.find((t) => t.targetId === targetId);
  }

  private rebuild(routing: RoutingInfo): void {
    this.routing = routing;
    const nodes = new Map(routing.nodes.map((n) => [n.nodeId, n]));
    const targets = new Map(routing.targets.map((t) => [t.targetId, t]));
    const peer = (targetId: number): PeerTarget => {
      const target = targets.get(targetId);
      const nodeId = target?.nodeId ?? 0;
      return {
        targetId,
        nodeId,
        address: nodes.get(nodeId)?.address ?? '',
        bulkAddress: nodes.get(nodeId)?.bulkAddress ?? '',
        state: target?.publicState ?? PublicTargetState.OFFLINE,
      };
    };
    const chains = new Map<number, ChainView>();
    for (const chain of routing.chains) {
      const position = chain.targetIds.findIndex((id) => this.localTargetIds.has(id));
      if (position < 0) continue;
      const localTargetId = chain.targetIds[position]!;
      const localState = targets.get(localTargetId)?.publicState ?? PublicTargetState.OFFLINE;
      let successor: PeerTarget | undefined;
      for (let i = position + 1; i < chain.targetIds.length; i++) {
        const candidate = peer(chain.targetIds[i]!);
        if (receivesWrites(candidate.state)) {
          successor = candidate;
          break;
        }
      }
      let predecessor: PeerTarget | undefined;
      for (let i = position - 1; i >= 0; i--) {
        const candidate = peer(chain.targetIds[i]!);
        if (receivesWrites(candidate.state)) {
          predecessor = candidate;
          break;
        }
      }
      chains.set(chain.chainId, {
        chainId: chain.chainId,
        chainVersion: chain.chainVersion,
        targetIds: [...chain.targetIds],
        localTargetId,
        localState,
        // The head is the first serving target (the manager keeps serving targets first).
        isHead:
          chain.targetIds.findIndex((id) => targets.get(id)?.publicState === PublicTargetState.SERVING) === position,
        successor,
        predecessor,
      });
    }
    this.chains = chains;
  }
}

/** The local state of a target whose data is current (local-states.ts decides what a node reports). */
export const HEALTHY_LOCAL_STATE = LocalTargetState.UPTODATE;
