// What a storage node knows of the cluster: the latest RoutingInfo from the manager, reduced to
// what its targets need — for each chain it hosts: the chain version, this node's target and its
// public state, whether it is the head, and the successor writes go to (with that successor's
// address and state). Lookups come from the index shared with the client (common/routing-index.ts);
// this file adds what only a chain member needs (its position, successor, predecessor).
import { RoutingIndex, isServingState, receivesWrites, type RouteTarget } from '../common/routing-index.js';
import type { PublicTargetState, RoutingInfo, TargetInfo } from '../proto/index.js';

export { receivesWrites } from '../common/routing-index.js';

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

/** A chain member as this node addresses it ('' for an address it does not know). */
function peerOf(route: RouteTarget): PeerTarget {
  return {
    targetId: route.targetId,
    nodeId: route.nodeId,
    address: route.address ?? '',
    bulkAddress: route.bulkAddress ?? '',
    state: route.state,
  };
}

export class RoutingView {
  private index: RoutingIndex | undefined;
  private chains = new Map<number, ChainView>();
  private localTargetIds = new Set<number>();

  /** Routing version held (0 before the first). */
  get version(): number {
    return this.index?.version ?? 0;
  }

  get info(): RoutingInfo | undefined {
    return this.index?.info;
  }

  /** Sets the node's own target ids (after registration told it its node id). */
  setLocalTargets(targetIds: readonly number[]): void {
    this.localTargetIds = new Set(targetIds);
    if (this.index !== undefined) this.rebuild(this.index);
  }

  /** Takes a routing snapshot if it is newer than the one held; returns whether it was taken. */
  update(routing: RoutingInfo | undefined): boolean {
    if (routing === undefined) return false;
    if (this.index !== undefined && routing.version <= this.index.version) return false;
    this.rebuild(new RoutingIndex(routing));
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

  /** The other serving, reachable replicas of a chain (for repairing a local chunk from them). */
  servingPeers(chainId: number): RouteTarget[] {
    return (this.index?.servingTargets(chainId) ?? []).filter((t) => !this.localTargetIds.has(t.targetId));
  }

  /** The routing entry of any target. */
  target(targetId: number): TargetInfo | undefined {
    return this.index?.target(targetId);
  }

  private rebuild(index: RoutingIndex): void {
    this.index = index;
    const chains = new Map<number, ChainView>();
    for (const chain of index.allChains()) {
      const position = chain.targets.findIndex((t) => this.localTargetIds.has(t.targetId));
      if (position < 0) continue;
      const local = chain.targets[position]!;
      let successor: PeerTarget | undefined;
      for (let i = position + 1; i < chain.targets.length; i++) {
        const candidate = chain.targets[i]!;
        if (receivesWrites(candidate.state)) {
          successor = peerOf(candidate);
          break;
        }
      }
      let predecessor: PeerTarget | undefined;
      for (let i = position - 1; i >= 0; i--) {
        const candidate = chain.targets[i]!;
        if (receivesWrites(candidate.state)) {
          predecessor = peerOf(candidate);
          break;
        }
      }
      chains.set(chain.chainId, {
        chainId: chain.chainId,
        chainVersion: chain.chainVersion,
        targetIds: chain.targets.map((t) => t.targetId),
        localTargetId: local.targetId,
        localState: local.state,
        // The head is the first serving target (the manager keeps serving targets first).
        isHead: chain.targets.findIndex((t) => isServingState(t.state)) === position,
        successor,
        predecessor,
      });
    }
    this.chains = chains;
  }
}
