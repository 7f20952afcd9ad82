import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ManualClock } from '../../common/clock.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { LocalTargetState, PublicTargetState, type ChainInfo, type RoutingInfo } from '../../proto/index.js';
import { ClusterManager } from './cluster-manager.js';
import { HeartbeatChecker, type FailureDetectionHost } from './heartbeat-checker.js';
import { TestKv } from './testing/test-kv.js';

const { SERVING, SYNCING, OFFLINE, LASTSRV } = PublicTargetState;
const { UPTODATE, ONLINE } = LocalTargetState;

/** Lets the checker loop run what the clock released. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('HeartbeatChecker', () => {
  function fakeHost(lastSeen: Map<number, number>) {
    const failed = new Set<number>();
    const declared: number[][] = [];
    let sweeps = 0;
    const host: FailureDetectionHost = {
      nodeIds: () => lastSeen.keys(),
      lastHeartbeatUs: (id) => lastSeen.get(id) ?? 0,
      isFailed: (id) => failed.has(id),
      declareFailed: async (ids) => {
        declared.push(ids);
        for (const id of ids) failed.add(id);
      },
      updateAllChains: async () => {
        sweeps++;
      },
    };
    return { host, failed, declared, sweeps: () => sweeps };
  }

  it('declares a node failed once, only after the timeout, counting from its last heartbeat', async () => {
    const clock = new ManualClock(10_000);
    const lastSeen = new Map([
      [1, 10_000_000],
      [2, 10_000_000],
    ]);
    const { host, failed, declared, sweeps } = fakeHost(lastSeen);
    const checker = new HeartbeatChecker({ host, clock, timeoutMs: 1_000, intervalMs: 250, logger: silentLogger() });
    checker.start();
    await settle();
    clock.advance(750);
    await settle();
    lastSeen.set(2, clock.nowUs());
    expect(declared).toEqual([]);
    clock.advance(250); // 1000 ms since node 1's heartbeat: not yet over
    await settle();
    expect(declared).toEqual([]);
    clock.advance(250);
    await settle();
    expect(declared).toEqual([[1]]);
    clock.advance(500); // node 2: 1000 ms since its heartbeat
    await settle();
    expect(declared).toEqual([[1]]);
    clock.advance(250);
    await settle();
    expect(declared).toEqual([[1], [2]]);
    clock.advance(5_000);
    await settle();
    expect(declared).toHaveLength(2); // each failure is declared once
    expect([...failed]).toEqual([1, 2]);
    expect(sweeps()).toBeGreaterThan(5);
    await checker.close();
    await checker.close();
  });

  it('gives a node never heard from since the start a full timeout (a restarted manager)', async () => {
    const clock = new ManualClock(50_000);
    const { host } = fakeHost(new Map([[7, 0]]));
    const checker = new HeartbeatChecker({ host, clock, timeoutMs: 1_000, intervalMs: 100, logger: silentLogger() });
    expect(checker.overdueNodes()).toEqual([]);
    clock.advance(1_001);
    expect(checker.overdueNodes()).toEqual([7]);
  });
});

// The manager with failure detection on, driven by a manual clock.
describe('ClusterManager failure handling', () => {
  async function cluster(replicas = 3) {
    const clock = new ManualClock(1_000);
    const registry = new Registry();
    const manager = await ClusterManager.open({
      kv: new TestKv(),
      replicas,
      storageNodesExpected: 3,
      nodeLeaseMs: 1_000,
      nodeFailureTimeoutMs: 1_000,
      failureCheckIntervalMs: 100,
      clock,
      registry,
    });
    for (const n of [1, 2, 3]) {
      await manager.registerNode({
        nodeId: 0,
        address: `127.0.0.1:${7400 + n}`,
        hostname: `h${n}`,
        targetPaths: [`/d${n}/0`, `/d${n}/1`, `/d${n}/2`],
      });
    }
    /** A heartbeat from `nodeId` reporting `local` for all its targets (or per target). */
    const beat = (
      nodeId: number,
      local: LocalTargetState | ((targetId: number) => LocalTargetState) = UPTODATE,
      routingVersion = manager.routingVersion,
    ) =>
      manager.heartbeat({
        nodeId,
        routingVersion,
        targets: [0, 1, 2].map((i) => {
          const targetId = nodeId * 1000 + i;
          return {
            targetId,
            localState: typeof local === 'function' ? local(targetId) : local,
            usedBytes: 0,
            capacityBytes: 0,
          };
        }),
        resyncs: [],
      });
    const routing = () => manager.routingInfo();
    const chainOf = (r: RoutingInfo, targetId: number): ChainInfo =>
      r.chains.find((c) => c.targetIds.includes(targetId))!;
    const stateOf = (r: RoutingInfo, targetId: number) => r.targets.find((t) => t.targetId === targetId)!.publicState;
    /** Advances time in steps, heartbeating the live nodes, so the checker loop runs. */
    const run = async (
      ms: number,
      live: number[],
      local: (nodeId: number) => LocalTargetState | ((id: number) => LocalTargetState) = () => UPTODATE,
    ) => {
      for (let t = 0; t < ms; t += 100) {
        for (const nodeId of live) await beat(nodeId, local(nodeId));
        clock.advance(100);
        await settle();
      }
    };
    return { clock, manager, registry, beat, routing, chainOf, stateOf, run };
  }

  it('declares a silent node failed in time, moves its targets to the chain ends and bumps versions', async () => {
    const { manager, registry, routing, chainOf, stateOf, run } = await cluster();
    await run(300, [1, 2, 3]);
    const before = routing();
    expect(before.targets.every((t) => t.publicState === SERVING)).toBe(true);
    await run(900, [1, 3]); // node 2 silent for 900 ms: still serving
    expect(stateOf(routing(), 2000)).toBe(SERVING);
    await run(400, [1, 3]); // past 1000 ms
    const after = routing();
    expect(after.version).toBeGreaterThan(before.version);
    for (const targetId of [2000, 2001, 2002]) {
      expect(stateOf(after, targetId)).toBe(OFFLINE);
      const chain = chainOf(after, targetId);
      expect(chain.targetIds.at(-1)).toBe(targetId);
      expect(chain.chainVersion).toBe(chainOf(before, targetId).chainVersion + 1);
      // The other targets keep their order.
      expect(chain.targetIds.slice(0, 2)).toEqual(chainOf(before, targetId).targetIds.filter((id) => id !== targetId));
    }
    expect(after.nodes.find((n) => n.nodeId === 2)!.alive).toBe(false);
    const text = await registry.metrics();
    expect(text).toMatch(/spindle_mgmt_node_failures_total 1/);
    expect(text).toMatch(/spindle_mgmt_chain_updates_total 3/);
    await manager.close();
  });

  it('brings a returning node back: offline → syncing as tail → serving once it reports up to date', async () => {
    const { manager, routing, chainOf, stateOf, run, beat } = await cluster();
    await run(300, [1, 2, 3]);
    await run(1_500, [1, 3]);
    expect(stateOf(routing(), 2001)).toBe(OFFLINE);
    // The node comes back and reports ONLINE (its data may be stale).
    await beat(2, ONLINE);
    let r = routing();
    for (const targetId of [2000, 2001, 2002]) {
      expect(stateOf(r, targetId)).toBe(SYNCING);
      expect(chainOf(r, targetId).targetIds.at(-1)).toBe(targetId);
    }
    // An UPTODATE made with a routing older than the chain's last change counts as ONLINE.
    await beat(2, UPTODATE, 1);
    expect(stateOf(routing(), 2000)).toBe(SYNCING);
    // Sync done for one target: it serves, as the tail.
    const versionBefore = chainOf(routing(), 2000).chainVersion;
    await beat(2, (id) => (id === 2000 ? UPTODATE : ONLINE));
    r = routing();
    expect(stateOf(r, 2000)).toBe(SERVING);
    expect(stateOf(r, 2001)).toBe(SYNCING);
    expect(chainOf(r, 2000).targetIds.at(-1)).toBe(2000);
    expect(chainOf(r, 2000).chainVersion).toBe(versionBefore + 1);
    await manager.close();
  });

  it('treats a re-registration as a restart: the targets leave their chains, come back through a resync', async () => {
    const { manager, routing, stateOf, chainOf, run, beat } = await cluster();
    await run(300, [1, 2, 3]);
    const before = routing();
    const response = await manager.registerNode({
      nodeId: 3,
      address: '127.0.0.1:7403',
      hostname: 'h3',
      targetPaths: ['/d3/0', '/d3/1', '/d3/2'],
    });
    // The answer already shows the node's targets out of their chains.
    expect(response.routing!.targets.filter((t) => t.nodeId === 3).every((t) => t.publicState === OFFLINE)).toBe(true);
    expect(chainOf(response.routing!, 3000).chainVersion).toBe(chainOf(before, 3000).chainVersion + 1);
    await beat(3, ONLINE);
    expect(stateOf(routing(), 3000)).toBe(SYNCING);
    await manager.close();
  });

  it('never loses the last serving target: it becomes lastsrv and serves again when its node returns', async () => {
    const { manager, routing, stateOf, chainOf, run, beat } = await cluster();
    await run(300, [1, 2, 3]);
    const chain = chainOf(routing(), 1000);
    const [head, middle, tail] = chain.targetIds.map((id) => Math.floor(id / 1000));
    await run(1_500, [head!, middle!]); // tail node fails
    await run(1_500, [head!]); // middle node fails
    await run(1_500, []); // head node fails: nothing left
    let r = routing();
    expect(stateOf(r, chain.targetIds[0]!)).toBe(LASTSRV);
    expect(stateOf(r, chain.targetIds[1]!)).toBe(OFFLINE);
    expect(stateOf(r, chain.targetIds[2]!)).toBe(OFFLINE);
    // The tail's node returns first: it must wait for the lastsrv.
    await beat(tail!, ONLINE);
    expect(stateOf(routing(), chain.targetIds[2]!)).toBe(PublicTargetState.WAITING);
    await beat(head!, ONLINE);
    r = routing();
    expect(stateOf(r, chain.targetIds[0]!)).toBe(SERVING);
    expect(stateOf(r, chain.targetIds[2]!)).toBe(SYNCING);
    await manager.close();
  });

  it('offline-target takes a target out by hand, refuses the last serving one, and is idempotent per tag', async () => {
    const { manager, routing, stateOf, chainOf, run } = await cluster();
    await run(300, [1, 2, 3]);
    const chain = chainOf(routing(), 1000);
    const head = chain.targetIds[0]!;
    const tag = { clientId: 'admin', requestId: 1 };
    const response = await manager.offlineTarget({ tag, targetId: head });
    expect(response.chain!.targetIds).toEqual([...chain.targetIds.slice(1), head]);
    expect(response.chain!.chainVersion).toBe(chain.chainVersion + 1);
    expect(stateOf(routing(), head)).toBe(OFFLINE);
    expect(await manager.offlineTarget({ tag, targetId: head })).toEqual(response);
    // Take the second one too; the last serving target is refused.
    await manager.offlineTarget({ targetId: chain.targetIds[1]! });
    const err = await manager.offlineTarget({ targetId: chain.targetIds[2]! }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((err as SpindleError).message).toMatch(/last serving target/);
    const missing = await manager.offlineTarget({ targetId: 99_999 }).catch((e: unknown) => e);
    expect((missing as SpindleError).errorCode).toBe(ErrorCode.TARGET_NOT_FOUND);
    // The node is up: its next report brings the target back through a resync.
    await run(100, [1, 2, 3], () => ONLINE);
    expect([SYNCING, PublicTargetState.WAITING]).toContain(stateOf(routing(), head));
    await manager.close();
  });
});
