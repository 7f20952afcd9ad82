// What a storage node makes of routing beyond head/successor/predecessor order
// (replication-parts.test.ts): who may take client writes, what an unknown peer looks like, and
// when the view is rebuilt.
import { describe, expect, it } from 'vitest';
import { LocalTargetState, PublicTargetState, type RoutingInfo } from '../proto/index.js';
import { RoutingView } from './routing-view.js';

const { SERVING, SYNCING, OFFLINE } = PublicTargetState;

/** Nodes 1 and 2 (node 1 with a bulk listener); chain 1 lists `targetIds` with `states`. */
function routing(version: number, targetIds: number[], states: Record<number, PublicTargetState>): RoutingInfo {
  return {
    version,
    nodes: [1, 2].map((nodeId) => ({
      nodeId,
      address: `127.0.0.1:${7400 + nodeId}`,
      hostname: '',
      lastHeartbeatUs: 0,
      alive: true,
      bulkAddress: nodeId === 1 ? '127.0.0.1:7501' : '',
    })),
    targets: Object.entries(states).map(([id, publicState]) => ({
      targetId: Number(id),
      nodeId: Math.floor(Number(id) / 1000),
      chainId: 1,
      publicState,
      localState: LocalTargetState.UPTODATE,
      path: '',
      usedBytes: 0,
      capacityBytes: 0,
    })),
    chains: [{ chainId: 1, chainVersion: version, targetIds }],
    chainTables: [],
  };
}

describe('RoutingView', () => {
  it('takes client writes only on a SERVING target: a lone SYNCING one is not the head', () => {
    const view = new RoutingView();
    view.setLocalTargets([2000]);
    view.update(routing(1, [1000, 2000], { 1000: OFFLINE, 2000: SYNCING }));
    expect(view.chain(1)).toMatchObject({ localTargetId: 2000, localState: SYNCING, isHead: false });
    view.update(routing(2, [2000, 1000], { 1000: OFFLINE, 2000: SERVING }));
    expect(view.chain(1)).toMatchObject({ localState: SERVING, isHead: true, successor: undefined });
  });

  it("gives a peer its node's addresses, '' for what is unknown, and an unlisted target as OFFLINE", () => {
    const view = new RoutingView();
    view.setLocalTargets([1000]);
    // 3000 is on a node the snapshot does not list; 4000 is in the chain but not among the targets.
    view.update(routing(1, [1000, 4000, 2000], { 1000: SERVING, 2000: SERVING, 3000: SERVING }));
    expect(view.chain(1)!.successor).toEqual({
      targetId: 2000,
      nodeId: 2,
      address: '127.0.0.1:7402',
      bulkAddress: '',
      state: SERVING,
    });
    view.update(routing(2, [3000, 1000], { 1000: SERVING, 3000: SERVING }));
    expect(view.chain(1)!.predecessor).toEqual({
      targetId: 3000,
      nodeId: 3,
      address: '',
      bulkAddress: '',
      state: SERVING,
    });
    view.setLocalTargets([3000]);
    expect(view.chain(1)!.successor).toMatchObject({ targetId: 1000, bulkAddress: '127.0.0.1:7501' });
  });

  it('rebuilds when told its targets after the first snapshot, and looks up any target', () => {
    const view = new RoutingView();
    view.update(routing(1, [1000, 2000], { 1000: SERVING, 2000: SERVING }));
    expect(view.chainsHosted()).toEqual([]);
    expect(view.version).toBe(1);
    view.setLocalTargets([2000]);
    expect(view.chainOfTarget(2000)).toBe(1);
    expect(view.chain(1)).toMatchObject({ targetIds: [1000, 2000], isHead: false, predecessor: { targetId: 1000 } });
    expect(view.target(1000)?.nodeId).toBe(1);
    expect(view.target(4000)).toBeUndefined();
    expect(view.info?.version).toBe(1);
  });
});
