import { describe, expect, it } from 'vitest';
import { LocalTargetState, PublicTargetState, type RoutingInfo, type TargetInfo } from '../proto/index.js';
import { RoutingIndex, isServingState, receivesWrites } from './routing-index.js';

function target(targetId: number, nodeId: number, publicState: PublicTargetState): TargetInfo {
  return {
    targetId,
    nodeId,
    chainId: 0,
    publicState,
    localState: LocalTargetState.UPTODATE,
    path: '',
    usedBytes: 0,
    capacityBytes: 0,
  };
}

/**
 * Node 1 has a bulk listener, node 2 announces an empty one, node 9 is not registered. Chain 7
 * lists, head first: a SYNCING target, a SERVING one, an id absent from the snapshot, a SERVING
 * one on the unknown node, a SERVING one on node 2, an OFFLINE one.
 */
function snapshot(): RoutingInfo {
  const node = (nodeId: number, bulkAddress?: string) => ({
    nodeId,
    address: `127.0.0.1:${7400 + nodeId}`,
    hostname: 'h',
    lastHeartbeatUs: 0,
    alive: true,
    bulkAddress,
  });
  return {
    version: 5,
    nodes: [node(1, '127.0.0.1:9001'), node(2, '')],
    targets: [
      target(1001, 1, PublicTargetState.SYNCING),
      target(1002, 1, PublicTargetState.SERVING),
      target(9001, 9, PublicTargetState.SERVING),
      target(2001, 2, PublicTargetState.SERVING),
      target(2002, 2, PublicTargetState.OFFLINE),
    ],
    chains: [
      { chainId: 7, chainVersion: 3, targetIds: [1001, 1002, 4242, 9001, 2001, 2002] },
      { chainId: 8, chainVersion: 1, targetIds: [2002] },
    ],
    chainTables: [
      { tableId: 1, version: 2, chainIds: [7, 8] },
      { tableId: 1, version: 1, chainIds: [7] },
      { tableId: 2, version: 1, chainIds: [] },
    ],
  };
}

describe('RoutingIndex', () => {
  it("resolves a chain's targets in order with their nodes' addresses; unknown ones read as OFFLINE", () => {
    const index = new RoutingIndex(snapshot());
    expect(index.version).toBe(5);
    const chain = index.chain(7)!;
    expect(chain.chainVersion).toBe(3);
    const { SERVING, SYNCING, OFFLINE } = PublicTargetState;
    const bulk1 = '127.0.0.1:9001';
    expect(chain.targets).toEqual([
      { targetId: 1001, nodeId: 1, address: '127.0.0.1:7401', bulkAddress: bulk1, state: SYNCING },
      { targetId: 1002, nodeId: 1, address: '127.0.0.1:7401', bulkAddress: bulk1, state: SERVING },
      { targetId: 4242, nodeId: 0, address: undefined, bulkAddress: undefined, state: OFFLINE },
      { targetId: 9001, nodeId: 9, address: undefined, bulkAddress: undefined, state: SERVING },
      { targetId: 2001, nodeId: 2, address: '127.0.0.1:7402', bulkAddress: undefined, state: SERVING },
      { targetId: 2002, nodeId: 2, address: '127.0.0.1:7402', bulkAddress: undefined, state: OFFLINE },
    ]);
    expect(index.chain(99)).toBeUndefined();
    expect(index.allChains().map((c) => c.chainId)).toEqual([7, 8]);
  });

  it('looks up targets, nodes and node addresses by id', () => {
    const index = new RoutingIndex(snapshot());
    expect(index.target(2001)?.nodeId).toBe(2);
    expect(index.target(4242)).toBeUndefined();
    expect(index.node(1)?.bulkAddress).toBe('127.0.0.1:9001');
    expect(index.node(9)).toBeUndefined();
    expect(index.nodeAddress(1002)).toBe('127.0.0.1:7401');
    expect(index.nodeAddress(9001)).toBeUndefined();
    expect(index.nodeAddress(4242)).toBeUndefined();
    expect(index.route(4242).state).toBe(PublicTargetState.OFFLINE);
  });

  it('lists the serving targets that can be reached, in chain order', () => {
    const index = new RoutingIndex(snapshot());
    expect(index.servingTargets(7).map((t) => t.targetId)).toEqual([1002, 2001]);
    expect(index.servingTargets(8)).toEqual([]);
    expect(index.servingTargets(99)).toEqual([]);
  });

  it('keeps every chain table version and knows the newest of each table', () => {
    const index = new RoutingIndex(snapshot());
    expect(index.tableChainIds(1, 1)).toEqual([7]);
    expect(index.tableChainIds(1, 2)).toEqual([7, 8]);
    expect(index.tableChainIds(1, 3)).toBeUndefined();
    expect(index.latestTable(1)?.version).toBe(2);
    expect(index.latestTable(3)).toBeUndefined();
    expect(index.hasUsableTable(1)).toBe(true);
    expect(index.hasUsableTable(2)).toBe(false);
    expect(index.hasUsableTable(undefined)).toBe(true);
    const onlyEmpty = snapshot();
    onlyEmpty.chainTables = [{ tableId: 2, version: 1, chainIds: [] }];
    expect(new RoutingIndex(onlyEmpty).hasUsableTable(undefined)).toBe(false);
  });

  it('reads go to SERVING replicas only; writes also to SYNCING ones', () => {
    const states = [
      PublicTargetState.SERVING,
      PublicTargetState.SYNCING,
      PublicTargetState.WAITING,
      PublicTargetState.LASTSRV,
      PublicTargetState.OFFLINE,
    ];
    expect(states.map(isServingState)).toEqual([true, false, false, false, false]);
    expect(states.map(receivesWrites)).toEqual([true, true, false, false, false]);
  });
});
