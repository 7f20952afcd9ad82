// The one index over a RoutingInfo snapshot (nodes, targets, chains, chain tables) that the client's
// routing cache (client/routing-cache.ts) and a storage node's routing view (storage/routing-view.ts)
// are built on, so both answer "which targets does a chain have, where do they live, which of them
// serve" the same way.
//
// Guarantees: an index is built once from one snapshot and never changes (a lookup never mixes two
// routing versions); every target id a chain lists resolves, an id missing from the snapshot to an
// OFFLINE target of node 0 with no address (so callers skip it rather than crash); a node's empty
// bulk address reads as none (undefined).
import {
  PublicTargetState,
  type ChainTable,
  type NodeInfo,
  type RoutingInfo,
  type TargetInfo,
} from '../proto/index.js';

/** One target of a chain as the data path needs it. */
export interface RouteTarget {
  readonly targetId: number;
  readonly nodeId: number;
  /** host:port of the node's Storage service; undefined when the node is unknown. */
  readonly address: string | undefined;
  /** host:port of the node's bulk listener (common/bulk); undefined when it serves bytes over gRPC only. */
  readonly bulkAddress: string | undefined;
  readonly state: PublicTargetState;
}

/** A chain: its version (the fencing token of every request) and its targets, head first. */
export interface ChainRoute {
  readonly chainId: number;
  readonly chainVersion: number;
  readonly targets: readonly RouteTarget[];
}

/** Reads are served by SERVING replicas only (SYNCING ones may lack data, docs/design.md §4). */
export function isServingState(state: PublicTargetState): boolean {
  return state === PublicTargetState.SERVING;
}

/** Replicated writes go to SERVING and SYNCING replicas (a SYNCING one must not miss new writes). */
export function receivesWrites(state: PublicTargetState): boolean {
  return state === PublicTargetState.SERVING || state === PublicTargetState.SYNCING;
}

const tableKey = (tableId: number, version: number) => `${tableId}/${version}`;

export class RoutingIndex {
  private readonly nodes = new Map<number, NodeInfo>();
  private readonly targets = new Map<number, TargetInfo>();
  private readonly routes = new Map<number, RouteTarget>();
  private readonly chainRoutes: ChainRoute[] = [];
  private readonly chains = new Map<number, ChainRoute>();
  private readonly tables = new Map<string, readonly number[]>();
  private readonly latestTables = new Map<number, ChainTable>();

  constructor(readonly info: RoutingInfo) {
    for (const node of info.nodes) this.nodes.set(node.nodeId, node);
    for (const target of info.targets) {
      this.targets.set(target.targetId, target);
      const node = this.nodes.get(target.nodeId);
      this.routes.set(target.targetId, {
        targetId: target.targetId,
        nodeId: target.nodeId,
        address: node?.address,
        bulkAddress: node?.bulkAddress === '' ? undefined : node?.bulkAddress,
        state: target.publicState,
      });
    }
    for (const chain of info.chains) {
      const route: ChainRoute = {
        chainId: chain.chainId,
        chainVersion: chain.chainVersion,
        targets: chain.targetIds.map((targetId) => this.route(targetId)),
      };
      this.chainRoutes.push(route);
      this.chains.set(chain.chainId, route);
    }
    for (const table of info.chainTables) {
      this.tables.set(tableKey(table.tableId, table.version), table.chainIds);
      const latest = this.latestTables.get(table.tableId);
      if (latest === undefined || table.version > latest.version) this.latestTables.set(table.tableId, table);
    }
  }

  get version(): number {
    return this.info.version;
  }

  /** A chain's version and ordered targets (head first), or undefined if unknown. */
  chain(chainId: number): ChainRoute | undefined {
    return this.chains.get(chainId);
  }

  /** Every chain, in snapshot order. */
  allChains(): readonly ChainRoute[] {
    return this.chainRoutes;
  }

  /** The routing entry of a target, or undefined if unknown. */
  target(targetId: number): TargetInfo | undefined {
    return this.targets.get(targetId);
  }

  /** The routing entry of a node, or undefined if unknown. */
  node(nodeId: number): NodeInfo | undefined {
    return this.nodes.get(nodeId);
  }

  /** A target with its node's addresses; an unknown one is OFFLINE on node 0 with no address. */
  route(targetId: number): RouteTarget {
    return (
      this.routes.get(targetId) ?? {
        targetId,
        nodeId: 0,
        address: undefined,
        bulkAddress: undefined,
        state: PublicTargetState.OFFLINE,
      }
    );
  }

  /** host:port of the node hosting `targetId`, or undefined. */
  nodeAddress(targetId: number): string | undefined {
    return this.routes.get(targetId)?.address;
  }

  /** Targets of the chain that serve reads and can be reached, in chain order (head first). */
  servingTargets(chainId: number): RouteTarget[] {
    const chain = this.chains.get(chainId);
    if (chain === undefined) return [];
    return chain.targets.filter((target) => isServingState(target.state) && target.address !== undefined);
  }

  /** The chain ids of one version of a chain table, in table order, or undefined if unknown. */
  tableChainIds(tableId: number, version: number): readonly number[] | undefined {
    return this.tables.get(tableKey(tableId, version));
  }

  /** The newest version of a chain table, or undefined. */
  latestTable(tableId: number): ChainTable | undefined {
    return this.latestTables.get(tableId);
  }

  /** Whether the newest version of chain table `tableId` (of any table when undefined) has a chain. */
  hasUsableTable(tableId: number | undefined): boolean {
    for (const table of this.latestTables.values()) {
      if ((tableId === undefined || table.tableId === tableId) && table.chainIds.length > 0) return true;
    }
    return false;
  }
}
