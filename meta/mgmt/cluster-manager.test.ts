import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { LocalTargetState, PublicTargetState } from '../../proto/index.js';
import { Registry } from 'prom-client';
import { ClusterManager, type ClusterManagerOptions } from './cluster-manager.js';
import { TestKv } from './testing/test-kv.js';
import { createMemoryEngine } from '../kv/memory-engine.js';

function open(kv: TestKv, overrides: Partial<ClusterManagerOptions> = {}): Promise<ClusterManager> {
  return ClusterManager.open({
    kv,
    replicas: 3,
    storageNodesExpected: 3,
    nodeLeaseMs: 1_000,
    clock: new ManualClock(1_000),
    ...overrides,
  });
}

const paths = (n: number, count = 3) => Array.from({ length: count }, (_, i) => `/data/node${n}/targets/${i}`);

async function register(manager: ClusterManager, n: number, nodeId = 0, count = 3) {
  return manager.registerNode({
    nodeId,
    address: `127.0.0.1:${7400 + n}`,
    hostname: `host${n}`,
    targetPaths: paths(n, count),
  });
}

async function expectRefused(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the request to be refused').toBeInstanceOf(SpindleError);
  expect((err as SpindleError).codeName).toBe(ErrorCode[code]);
  expect((err as SpindleError).message).toMatch(pattern);
}

describe('ClusterManager', () => {
  it('assigns node ids from 1, target ids node*1000+index; bumps the routing version per registration', async () => {
    const kv = new TestKv();
    const manager = await open(kv, { storageNodesExpected: 0 });
    expect(manager.routingVersion).toBe(1);
    expect((await manager.getRoutingInfo({ knownVersion: 0 })).routing?.nodes).toEqual([]);

    const first = await register(manager, 1);
    expect(first.nodeId).toBe(1);
    expect(first.routing?.version).toBe(2);
    expect(first.routing?.targets.map((t) => t.targetId)).toEqual([1000, 1001, 1002]);
    expect(first.routing?.targets.every((t) => t.chainId === 0 && t.path.startsWith('/data/node1/'))).toBe(true);
    expect((await register(manager, 2)).nodeId).toBe(2);
    expect(manager.routingVersion).toBe(3);
    expect(manager.latestChainTable(1)).toBeUndefined();
  });

  it('re-registration with a known id updates the address; a retried first registration gets the same id', async () => {
    const kv = new TestKv();
    const manager = await open(kv, { storageNodesExpected: 0 });
    await register(manager, 1);
    const retried = await register(manager, 1);
    expect(retried.nodeId).toBe(1);
    const moved = await manager.registerNode({
      nodeId: 1,
      address: 'storage-a.local:9000',
      hostname: 'a',
      targetPaths: paths(1),
    });
    expect(moved.nodeId).toBe(1);
    expect(moved.routing?.nodes).toEqual([
      expect.objectContaining({ nodeId: 1, address: 'storage-a.local:9000', hostname: 'a', alive: true }),
    ]);
    // A node may add targets, never drop them.
    const grown = await manager.registerNode({ nodeId: 1, address: 'storage-a.local:9000', targetPaths: paths(1, 4) });
    expect(grown.routing?.targets.map((t) => t.targetId)).toEqual([1000, 1001, 1002, 1003]);
    await expectRefused(
      manager.registerNode({ nodeId: 1, address: 'storage-a.local:9000', targetPaths: paths(1, 2) }),
      ErrorCode.INVALID_ARGUMENT,
      /registered 4 targets before but now reports 2/,
    );
  });

  it('builds chain table 1 automatically when the expected nodes have registered', async () => {
    const kv = new TestKv();
    const manager = await open(kv);
    const seen: number[] = [];
    manager.onChange((routing) => seen.push(routing.version));
    await register(manager, 1);
    await register(manager, 2);
    expect(manager.latestChainTable(1)).toBeUndefined();
    const third = await register(manager, 3);
    // One change: the registration and the table together.
    expect(seen).toEqual([2, 3, 4]);
    expect(third.routing?.chainTables).toEqual([{ tableId: 1, version: 1, chainIds: [1, 2, 3] }]);
    expect(manager.latestChainTable(1)).toEqual({ tableId: 1, version: 1, chainIds: [1, 2, 3] });
    expect(manager.chainTable(1, 1)).toEqual({ tableId: 1, version: 1, chainIds: [1, 2, 3] });
    expect(manager.chainTable(1, 2)).toBeUndefined();
    const chains = third.routing!.chains;
    expect(chains).toHaveLength(3);
    for (const chain of chains) {
      expect(chain.chainVersion).toBe(1);
      expect(new Set(chain.targetIds.map((t) => Math.floor(t / 1000))).size).toBe(3);
    }
    expect(new Set(chains.map((c) => Math.floor(c.targetIds[0]! / 1000)))).toEqual(new Set([1, 2, 3]));
    expect(third.routing!.targets.every((t) => t.chainId > 0 && t.publicState === PublicTargetState.SERVING)).toBe(
      true,
    );
    // A fourth node does not rebuild table 1.
    await register(manager, 4);
    expect(manager.latestChainTable(1)?.version).toBe(1);
  });

  it('logs and keeps the registration when the automatic build is impossible (R > N)', async () => {
    const kv = new TestKv();
    const manager = await open(kv, { storageNodesExpected: 2, replicas: 3 });
    await register(manager, 1);
    const second = await register(manager, 2);
    expect(second.nodeId).toBe(2);
    expect(manager.latestChainTable(1)).toBeUndefined();
    await expectRefused(
      manager.createChainTable({ replicas: 3 }),
      ErrorCode.NOT_ENOUGH_NODES,
      /start more storage nodes or lower --replicas/,
    );
    const table = await manager.createChainTable({ replicas: 2 });
    expect(table.table).toEqual({ tableId: 1, version: 1, chainIds: [1, 2, 3] });
  });

  it('CreateChainTable grows table 1 with new nodes and refuses when nothing is left to place', async () => {
    const kv = new TestKv();
    const manager = await open(kv);
    for (const n of [1, 2, 3]) await register(manager, n);
    await expectRefused(
      manager.createChainTable({ replicas: 3 }),
      ErrorCode.EXISTS,
      /already in a chain.*start new storage nodes/,
    );
    for (const n of [4, 5, 6]) await register(manager, n);
    const grown = await manager.createChainTable({ replicas: 3 });
    expect(grown.table).toEqual({ tableId: 1, version: 2, chainIds: [1, 2, 3, 4, 5, 6] });
    expect(manager.chainTable(1, 1)?.chainIds).toEqual([1, 2, 3]);
    const routing = manager.routingInfo();
    expect(routing.chainTables.map((t) => t.version)).toEqual([1, 2]);
    for (const chain of routing.chains.filter((c) => c.chainId > 3)) {
      expect(chain.targetIds.every((t) => t >= 4000)).toBe(true);
    }
  });

  it('UpdateChain reorders a chain, bumps its and the routing version; bad requests change nothing', async () => {
    const kv = new TestKv();
    const manager = await open(kv);
    for (const n of [1, 2, 3]) await register(manager, n);
    const before = manager.routingInfo().chains[0]!;
    const version = manager.routingVersion;
    const reordered = [...before.targetIds].reverse();
    const result = await manager.updateChain({ chainId: before.chainId, targetIds: reordered });
    expect(result.chain).toEqual({ chainId: before.chainId, chainVersion: 2, targetIds: reordered });
    expect(manager.routingVersion).toBe(version + 1);
    expect(manager.routingInfo().chains[0]).toEqual(result.chain);

    const snapshot = kv.dump();
    const routingBefore = manager.routingInfo();
    await expectRefused(
      manager.updateChain({ chainId: 99, targetIds: reordered }),
      ErrorCode.CHAIN_NOT_FOUND,
      /chain 99 does not exist \(chains are 1–3\)/,
    );
    await expectRefused(
      manager.updateChain({ chainId: 1, targetIds: [reordered[0], reordered[1]] }),
      ErrorCode.INVALID_ARGUMENT,
      /the same targets/,
    );
    await expectRefused(
      manager.updateChain({ chainId: 1, targetIds: [reordered[0], reordered[0], reordered[1]] }),
      ErrorCode.INVALID_ARGUMENT,
      /each once/,
    );
    await expectRefused(
      manager.updateChain({ chainId: 1, targetIds: [reordered[0], reordered[1], 9999] }),
      ErrorCode.INVALID_ARGUMENT,
      /same targets/,
    );
    await expectRefused(
      manager.updateChain({ chainId: 1, targetIds: [] }),
      ErrorCode.INVALID_ARGUMENT,
      /target_ids is empty/,
    );
    await expectRefused(
      manager.updateChain({ chainId: 0, targetIds: reordered }),
      ErrorCode.INVALID_ARGUMENT,
      /chain_id is missing/,
    );
    await expectRefused(
      manager.updateChain({ chainId: 'one', targetIds: reordered }),
      ErrorCode.INVALID_ARGUMENT,
      /chain_id must be an integer/,
    );
    await expectRefused(
      manager.updateChain({ chainId: 1, targetIds: 'abc' }),
      ErrorCode.INVALID_ARGUMENT,
      /target_ids must be a list/,
    );
    await expectRefused(manager.updateChain(null), ErrorCode.INVALID_ARGUMENT, /must be an object/);
    expect(kv.dump()).toEqual(snapshot);
    expect(manager.routingInfo()).toEqual(routingBefore);
  });

  it('answers a retried tagged admin request with its first result', async () => {
    const kv = new TestKv();
    const manager = await open(kv);
    for (const n of [1, 2, 3]) await register(manager, n);
    const targetIds = [...manager.routingInfo().chains[1]!.targetIds].reverse();
    const tag = { clientId: 'admin-1', requestId: 7 };
    const first = await manager.updateChain({ tag, chainId: 2, targetIds });
    const again = await manager.updateChain({ tag, chainId: 2, targetIds });
    expect(again).toEqual(first);
    expect(manager.routingInfo().chains[1]!.chainVersion).toBe(2);
    await expectRefused(
      manager.updateChain({ tag, chainId: 3, targetIds }),
      ErrorCode.DUPLICATE_REQUEST_MISMATCH,
      /different admin request/,
    );
    // Without a tag, the same reorder bumps again (the way tests make cached versions stale).
    await manager.updateChain({ chainId: 2, targetIds });
    expect(manager.routingInfo().chains[1]!.chainVersion).toBe(3);
  });

  it('keeps every piece of state across a restart', async () => {
    const kv = new TestKv();
    const first = await open(kv);
    for (const n of [1, 2, 3]) await register(first, n);
    await first.updateChain({ chainId: 3, targetIds: [...first.routingInfo().chains[2]!.targetIds].reverse() });
    const routing = first.routingInfo();
    await first.close();

    const second = await open(kv);
    const reloaded = second.routingInfo();
    expect(reloaded.version).toBe(routing.version);
    expect(reloaded.chains).toEqual(routing.chains);
    expect(reloaded.chainTables).toEqual(routing.chainTables);
    expect(
      reloaded.targets.map(({ targetId, chainId, path, nodeId }) => ({ targetId, chainId, path, nodeId })),
    ).toEqual(routing.targets.map(({ targetId, chainId, path, nodeId }) => ({ targetId, chainId, path, nodeId })));
    expect(reloaded.nodes.map(({ nodeId, address }) => ({ nodeId, address }))).toEqual(
      routing.nodes.map(({ nodeId, address }) => ({ nodeId, address })),
    );
    // Liveness is runtime state: nobody heartbeated the new manager yet.
    expect(reloaded.nodes.every((n) => !n.alive)).toBe(true);
    // Ids continue, a known node keeps its id.
    expect((await register(second, 4)).nodeId).toBe(4);
    expect((await register(second, 2, 2)).nodeId).toBe(2);
    await expectRefused(register(second, 9, 9), ErrorCode.NODE_NOT_FOUND, /node 9 is not registered.*empty --data-dir/);
  });

  it('a failed commit leaves the state unchanged', async () => {
    const kv = new TestKv();
    const manager = await open(kv, { storageNodesExpected: 0 });
    await register(manager, 1);
    const before = manager.routingInfo();
    kv.failNextCommit = new Error('disk on fire');
    await expect(register(manager, 2)).rejects.toThrow('disk on fire');
    expect(manager.routingInfo()).toEqual(before);
    expect((await register(manager, 2)).nodeId).toBe(2);
  });

  it('GetRoutingInfo omits the snapshot when the caller is current', async () => {
    const manager = await open(new TestKv());
    await register(manager, 1);
    const version = manager.routingVersion;
    expect(await manager.getRoutingInfo({ knownVersion: version })).toEqual({ routing: undefined, version });
    expect((await manager.getRoutingInfo({ knownVersion: version - 1 })).routing?.version).toBe(version);
    expect((await manager.getRoutingInfo({})).routing?.version).toBe(version);
    await expectRefused(manager.getRoutingInfo({ knownVersion: -1 }), ErrorCode.INVALID_ARGUMENT, /known_version/);
  });

  it('records heartbeats: liveness, local state, used and capacity bytes, and capacity()', async () => {
    const clock = new ManualClock(1_000);
    const registry = new Registry();
    const manager = await open(new TestKv(), { clock, registry });
    for (const n of [1, 2, 3]) await register(manager, n);
    const versionBefore = manager.routingVersion;
    for (const nodeId of [1, 2, 3]) {
      const response = await manager.heartbeat({
        nodeId,
        routingVersion: versionBefore,
        targets: [0, 1, 2].map((i) => ({
          targetId: nodeId * 1000 + i,
          localState: LocalTargetState.UPTODATE,
          usedBytes: 100,
          capacityBytes: 1_000,
        })),
      });
      expect(response.routingVersion).toBe(versionBefore);
    }
    expect(manager.routingVersion).toBe(versionBefore);
    const routing = manager.routingInfo();
    expect(routing.nodes.every((n) => n.alive && n.lastHeartbeatUs === 1_000_000)).toBe(true);
    expect(
      routing.targets.every(
        (t) => t.localState === LocalTargetState.UPTODATE && t.usedBytes === 100 && t.capacityBytes === 1_000,
      ),
    ).toBe(true);
    // 3 chains of 3 replicas, each replica 1000 bytes: 3000 usable, 2700 free.
    expect(manager.capacity()).toEqual({ capacityBytes: 3_000, freeBytes: 2_700 });

    clock.advance(1_500);
    await manager.heartbeat({ nodeId: 2, targets: [] });
    const later = manager.routingInfo();
    expect(later.nodes.map((n) => n.alive)).toEqual([false, true, false]);
    const text = await registry.metrics();
    expect(text).toMatch(/spindle_mgmt_heartbeats_total 4/);
    expect(text).toMatch(/spindle_mgmt_nodes_alive 1/);
    expect(text).toMatch(new RegExp(`spindle_mgmt_routing_version ${versionBefore}`));
  });

  it('refuses malformed registrations and heartbeats with a clear error and changes nothing', async () => {
    const kv = new TestKv();
    const manager = await open(kv);
    for (const n of [1, 2, 3]) await register(manager, n);
    const snapshot = kv.dump();
    const routing = manager.routingInfo();
    const cases: Array<[unknown, ErrorCode, RegExp]> = [
      [{ address: '', targetPaths: ['/a'] }, ErrorCode.INVALID_ARGUMENT, /address is missing/],
      [{ address: 'no-port', targetPaths: ['/a'] }, ErrorCode.INVALID_ARGUMENT, /host:port/],
      [{ address: '127.0.0.1:70000', targetPaths: ['/a'] }, ErrorCode.INVALID_ARGUMENT, /port from 1 to 65535/],
      [{ address: '127.0.0.1:1', targetPaths: [] }, ErrorCode.INVALID_ARGUMENT, /target_paths is empty/],
      [{ address: '127.0.0.1:1', targetPaths: ['/a', '/a'] }, ErrorCode.INVALID_ARGUMENT, /twice/],
      [{ address: '127.0.0.1:1', targetPaths: ['/a', ''] }, ErrorCode.INVALID_ARGUMENT, /target_paths\[1\] is missing/],
      [{ address: '127.0.0.1:1', targetPaths: ['/a\0b'] }, ErrorCode.INVALID_ARGUMENT, /NUL/],
      [{ address: '127.0.0.1:1', targetPaths: [5] }, ErrorCode.INVALID_ARGUMENT, /must be a string/],
      [{ address: 42, targetPaths: ['/a'] }, ErrorCode.INVALID_ARGUMENT, /address must be a string/],
      [
        { nodeId: -1, address: '127.0.0.1:1', targetPaths: ['/a'] },
        ErrorCode.INVALID_ARGUMENT,
        /node_id must be an integer/,
      ],
      [{ nodeId: 1.5, address: '127.0.0.1:1', targetPaths: ['/a'] }, ErrorCode.INVALID_ARGUMENT, /node_id/],
      [
        { nodeId: 77, address: '127.0.0.1:1', targetPaths: ['/a'] },
        ErrorCode.NODE_NOT_FOUND,
        /node 77 is not registered/,
      ],
      [
        { address: '127.0.0.1:1', targetPaths: Array.from({ length: 1001 }, (_, i) => `/t${i}`) },
        ErrorCode.INVALID_ARGUMENT,
        /at most 1000/,
      ],
      ['garbage', ErrorCode.INVALID_ARGUMENT, /must be an object/],
    ];
    for (const [request, code, pattern] of cases) await expectRefused(manager.registerNode(request), code, pattern);

    const heartbeats: Array<[unknown, ErrorCode, RegExp]> = [
      [{ nodeId: 0, targets: [] }, ErrorCode.INVALID_ARGUMENT, /node_id is missing/],
      [{ nodeId: 42, targets: [] }, ErrorCode.NODE_NOT_FOUND, /register it again/],
      [
        { nodeId: 1, targets: [{ targetId: 2000 }] },
        ErrorCode.INVALID_ARGUMENT,
        /target 2000 does not belong to node 1/,
      ],
      [{ nodeId: 1, targets: [{ targetId: 1000 }, { targetId: 1000 }] }, ErrorCode.INVALID_ARGUMENT, /reported twice/],
      [{ nodeId: 1, targets: [{ targetId: 1000, localState: 9 }] }, ErrorCode.INVALID_ARGUMENT, /local_state/],
      [{ nodeId: 1, targets: [{ targetId: 1000, usedBytes: -5 }] }, ErrorCode.INVALID_ARGUMENT, /used_bytes/],
      [{ nodeId: 1, targets: [{ targetId: 1000, nodeId: 2 }] }, ErrorCode.INVALID_ARGUMENT, /node_id is 2/],
      [{ nodeId: 1, targets: 'x' }, ErrorCode.INVALID_ARGUMENT, /targets must be a list/],
    ];
    for (const [request, code, pattern] of heartbeats) await expectRefused(manager.heartbeat(request), code, pattern);
    // A refused heartbeat records nothing, not even a partial report.
    expect(manager.routingInfo().targets.find((t) => t.targetId === 1000)?.usedBytes).toBe(0);

    await expectRefused(manager.createChainTable({ replicas: 0 }), ErrorCode.INVALID_ARGUMENT, /replicas is missing/);
    await expectRefused(
      manager.createChainTable({ replicas: 17 }),
      ErrorCode.INVALID_ARGUMENT,
      /replicas must be an integer from 1 to 16/,
    );
    await expectRefused(
      manager.createChainTable({ tag: { clientId: '', requestId: 3 }, replicas: 3 }),
      ErrorCode.INVALID_ARGUMENT,
      /client_id is missing/,
    );

    expect(kv.dump()).toEqual(snapshot);
    expect(manager.routingInfo()).toEqual(routing);
  });

  it('runs on the shared in-memory KvEngine too (registration, auto table, restart)', async () => {
    const kv = createMemoryEngine();
    const first = await ClusterManager.open({ kv, replicas: 2, storageNodesExpected: 2, nodeLeaseMs: 1_000 });
    for (const n of [1, 2]) await first.registerNode({ address: `10.0.0.${n}:7401`, targetPaths: paths(n, 2) });
    expect(first.latestChainTable(1)).toEqual({ tableId: 1, version: 1, chainIds: [1, 2] });
    await first.close();
    const second = await ClusterManager.open({ kv, replicas: 2, storageNodesExpected: 2, nodeLeaseMs: 1_000 });
    expect(second.routingInfo().chains).toEqual(first.routingInfo().chains);
    expect(second.routingVersion).toBe(3);
  });

  it('refuses requests after close', async () => {
    const manager = await open(new TestKv());
    await manager.close();
    await manager.close();
    await expectRefused(register(manager, 1), ErrorCode.RPC_UNAVAILABLE, /shutting down/);
  });
});
