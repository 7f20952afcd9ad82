import { describe, expect, it } from 'vitest';
import { LocalTargetState, PublicTargetState, type RoutingInfo } from '../proto/index.js';
import { LocalTargetStates } from './local-states.js';
import { RoutingView } from './routing-view.js';

function routing(version: number, chainVersion: number, states: [PublicTargetState, PublicTargetState]): RoutingInfo {
  return {
    version,
    nodes: [
      { nodeId: 1, address: 'a:1', hostname: '', lastHeartbeatUs: 0, alive: true },
      { nodeId: 2, address: 'b:1', hostname: '', lastHeartbeatUs: 0, alive: true },
    ],
    targets: [
      {
        targetId: 1000,
        nodeId: 1,
        chainId: 1,
        publicState: states[0],
        localState: 0,
        path: '',
        usedBytes: 0,
        capacityBytes: 0,
      },
      {
        targetId: 2000,
        nodeId: 2,
        chainId: 1,
        publicState: states[1],
        localState: 0,
        path: '',
        usedBytes: 0,
        capacityBytes: 0,
      },
    ],
    chains: [{ chainId: 1, chainVersion, targetIds: [1000, 2000] }],
    chainTables: [],
  };
}

describe('LocalTargetStates', () => {
  it('reports ONLINE until the target serves or its resync completed under the current chain version', () => {
    const view = new RoutingView();
    view.setLocalTargets([2000]);
    let syncDone = 0;
    const states = new LocalTargetStates(view, () => syncDone++);
    // Before any routing, and after a restart (the manager took the target offline).
    expect(states.of(2000)).toBe(LocalTargetState.ONLINE);
    view.update(routing(2, 2, [PublicTargetState.SERVING, PublicTargetState.OFFLINE]));
    expect(states.of(2000)).toBe(LocalTargetState.ONLINE);
    view.update(routing(3, 3, [PublicTargetState.SERVING, PublicTargetState.SYNCING]));
    expect(states.of(2000)).toBe(LocalTargetState.ONLINE);
    states.markSyncDone(2000, 1, 3);
    expect(syncDone).toBe(1);
    expect(states.of(2000)).toBe(LocalTargetState.UPTODATE);
    // A chain change while still syncing voids the completion: the resync reruns.
    view.update(routing(4, 4, [PublicTargetState.SERVING, PublicTargetState.SYNCING]));
    expect(states.of(2000)).toBe(LocalTargetState.ONLINE);
    view.update(routing(5, 5, [PublicTargetState.SERVING, PublicTargetState.SERVING]));
    expect(states.of(2000)).toBe(LocalTargetState.UPTODATE);
    // Taken out again (offline-target): ONLINE, and an old completion does not count.
    view.update(routing(6, 6, [PublicTargetState.SERVING, PublicTargetState.OFFLINE]));
    expect(states.of(2000)).toBe(LocalTargetState.ONLINE);
    expect(states.of(1000)).toBe(LocalTargetState.ONLINE); // not this node's target
  });
});
