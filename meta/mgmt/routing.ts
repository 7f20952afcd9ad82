// Chains, chain tables and the RoutingInfo snapshot.
//
// - Creating a chain table cuts the targets that are in no chain yet into new chains
//   (chain-table-builder.ts) and publishes a new version of table 1 listing the old chains then
//   the new ones: the first call builds table 1 version 1 over every node; a later call, after
//   new storage nodes registered, grows the table (docs/design.md §8) without moving existing data.
// - Updating a chain reorders its targets (the same set, head first) and bumps its version.
// - The snapshot joins the persisted state with the in-memory heartbeat table; its version is the
//   persisted routing version, bumped by every persisted change.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { TARGETS_PER_NODE_MAX } from '../../common/constants.js';
import { PublicTargetState, type RoutingInfo } from '../../proto/index.js';
import { buildChainTable, type BuilderNode } from './chain-table-builder.js';
import type { ChainRecord, ChainTableRecord, ClusterDraft, ClusterState } from './cluster-store.js';
import { CHAINS_PER_TABLE_MAX, DEFAULT_CHAIN_TABLE_ID } from './constants.js';
import type { HeartbeatTable } from './node-registry.js';
import { invalid, requireArray, requireInt, requireObject } from './validate.js';

/** Replica counts a chain table may use (a chain of more than 16 copies is a typo). */
const REPLICAS_MAX = 16;

export function validateReplicas(value: unknown): number {
  if (value === 0 || value === undefined) {
    throw invalid(
      `replicas is missing: give the chain length (1 to ${REPLICAS_MAX}, at most the number of storage nodes)`,
    );
  }
  return requireInt(value, 'replicas', 1, REPLICAS_MAX);
}

/**
 * Builds new chains over the targets that are in no chain and publishes the next version of
 * table `tableId`. Throws NOT_ENOUGH_NODES / INVALID_ARGUMENT (from the builder) or EXISTS when
 * every target is already in a chain; the draft is untouched on error.
 */
export function planChainTable(
  draft: ClusterDraft,
  replicas: number,
  tableId = DEFAULT_CHAIN_TABLE_ID,
): ChainTableRecord {
  const free = new Map<number, number[]>();
  for (const target of draft.targets.values()) {
    if (target.chainId !== 0) continue;
    const list = free.get(target.nodeId) ?? [];
    list.push(target.targetId);
    free.set(target.nodeId, list);
  }
  const latest = draft.chainTables.get(tableId)?.at(-1);
  if (free.size === 0) {
    if (draft.nodes.size === 0) {
      throw new SpindleError(
        ErrorCode.NOT_ENOUGH_NODES,
        'no storage node has registered yet: start the storage nodes first',
      );
    }
    throw new SpindleError(
      ErrorCode.EXISTS,
      `every registered target is already in a chain (chain table ${tableId} version ${latest?.version ?? 0}): ` +
        'start new storage nodes to grow the table',
    );
  }
  const nodes: BuilderNode[] = [...free].map(([nodeId, targetIds]) => ({ nodeId, targetIds }));
  let firstChainId = 1;
  for (const chainId of draft.chains.keys()) firstChainId = Math.max(firstChainId, chainId + 1);
  const built = buildChainTable(nodes, { replicas, firstChainId });
  const chainIds = [...(latest?.chainIds ?? []), ...built.map((chain) => chain.chainId)];
  if (chainIds.length > CHAINS_PER_TABLE_MAX) {
    throw invalid(
      `a chain table holds at most ${CHAINS_PER_TABLE_MAX} chains; this one would hold ${chainIds.length}: ` +
        'use more replicas or fewer targets',
    );
  }

  for (const chain of built) {
    draft.putChain({ chainId: chain.chainId, chainVersion: 1, targetIds: chain.targetIds });
    for (const targetId of chain.targetIds) {
      const target = draft.targets.get(targetId)!;
      draft.putTarget({ ...target, chainId: chain.chainId, publicState: PublicTargetState.SERVING });
    }
  }
  const table: ChainTableRecord = { tableId, version: (latest?.version ?? 0) + 1, chainIds };
  draft.addChainTable(table);
  return table;
}

export interface ChainUpdate {
  chainId: number;
  targetIds: number[];
}

/** Checks the shape of an UpdateChain request (membership is checked against the state). */
export function validateChainUpdate(request: unknown): ChainUpdate {
  const body = requireObject(request, 'UpdateChain request');
  const chainId = requireInt(body['chainId'], 'chain_id', 0, 0xffff_ffff);
  if (chainId === 0) throw invalid('chain_id is missing');
  const targetIds = requireArray(body['targetIds'], 'target_ids', TARGETS_PER_NODE_MAX).map((id, i) =>
    requireInt(id, `target_ids[${i}]`, 0, 0xffff_ffff),
  );
  if (targetIds.length === 0)
    throw invalid("target_ids is empty: give the chain's targets in their new order, head first");
  return { chainId, targetIds };
}

/** Reorders a chain (the same targets, head first) and bumps its version. */
export function applyChainUpdate(draft: ClusterDraft, update: ChainUpdate): ChainRecord {
  const chain = draft.chains.get(update.chainId);
  if (chain === undefined) {
    const known = [...draft.chains.keys()].sort((a, b) => a - b);
    throw new SpindleError(
      ErrorCode.CHAIN_NOT_FOUND,
      `chain ${update.chainId} does not exist ` +
        `(${known.length === 0 ? 'no chain table has been built yet' : `chains are ${known[0]}–${known.at(-1)}`})`,
      { retryable: false },
    );
  }
  const current = new Set(chain.targetIds);
  const given = new Set(update.targetIds);
  if (
    given.size !== update.targetIds.length ||
    given.size !== current.size ||
    update.targetIds.some((id) => !current.has(id))
  ) {
    throw invalid(
      `chain ${chain.chainId} has targets [${chain.targetIds.join(', ')}]; ` +
        'UpdateChain takes the same targets, each once, in a new order (head first), ' +
        `got [${update.targetIds.join(', ')}]`,
    );
  }
  const updated: ChainRecord = {
    chainId: chain.chainId,
    chainVersion: chain.chainVersion + 1,
    targetIds: update.targetIds,
  };
  draft.putChain(updated);
  return updated;
}

/** The RoutingInfo of `state`, with liveness and reports from the heartbeat table at `nowUs`. */
export function buildRoutingInfo(
  state: ClusterState,
  heartbeats: HeartbeatTable,
  nowUs: number,
  nodeLeaseMs: number,
): RoutingInfo {
  const byId = <T>(map: ReadonlyMap<number, T>) =>
    [...map.entries()].sort((a, b) => a[0] - b[0]).map(([, value]) => value);
  return {
    version: state.routingVersion,
    nodes: byId(state.nodes).map((node) => ({
      nodeId: node.nodeId,
      address: node.address,
      hostname: node.hostname,
      bulkAddress: node.bulkAddress,
      lastHeartbeatUs: heartbeats.lastHeartbeatUs(node.nodeId),
      alive: heartbeats.isAlive(node.nodeId, nowUs, nodeLeaseMs),
    })),
    targets: byId(state.targets).map((target) => {
      const report = heartbeats.report(target.targetId);
      return {
        targetId: target.targetId,
        nodeId: target.nodeId,
        chainId: target.chainId,
        publicState: target.publicState,
        localState: report?.localState ?? 0,
        path: target.path,
        usedBytes: report?.usedBytes ?? 0,
        capacityBytes: report?.capacityBytes ?? 0,
        resync: heartbeats.resync(target.targetId),
      };
    }),
    chains: byId(state.chains).map((chain) => ({
      chainId: chain.chainId,
      chainVersion: chain.chainVersion,
      targetIds: [...chain.targetIds],
    })),
    chainTables: [...state.chainTables.keys()]
      .sort((a, b) => a - b)
      .flatMap((tableId) =>
        state.chainTables.get(tableId)!.map((table) => ({ ...table, chainIds: [...table.chainIds] })),
      ),
  };
}
