import { describe, expect, it } from 'vitest';
import { ManualClock, flushMicrotasks } from '../common/clock.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { PublicTargetState, type GetRoutingInfoResponse, type RoutingInfo } from '../proto/index.js';
import { RoutingCache } from './routing-cache.js';

/** Three nodes, one chain of three targets, one chain table (version `tableVersion`). */
function routing(
  version: number,
  options: {
    chainVersion?: number;
    order?: number[];
    states?: Record<number, PublicTargetState>;
    tables?: boolean;
  } = {},
): RoutingInfo {
  const order = options.order ?? [1001, 2001, 3001];
  return {
    version,
    nodes: [1, 2, 3].map((nodeId) => ({
      nodeId,
      address: `127.0.0.1:${7400 + nodeId}`,
      hostname: 'h',
      lastHeartbeatUs: 0,
      alive: true,
    })),
    targets: [1001, 2001, 3001].map((targetId) => ({
      targetId,
      nodeId: Math.floor(targetId / 1000),
      chainId: 1,
      publicState: options.states?.[targetId] ?? PublicTargetState.SERVING,
      localState: 1,
      path: '',
      usedBytes: 0,
      capacityBytes: 0,
    })),
    chains: [{ chainId: 1, chainVersion: options.chainVersion ?? 1, targetIds: order }],
    chainTables:
      options.tables === false
        ? []
        : [
            { tableId: 1, version: 1, chainIds: [1] },
            { tableId: 1, version: 2, chainIds: [1, 1] },
          ],
  };
}

class FakeMgmt {
  info: RoutingInfo | undefined;
  calls: number[] = [];
  failNext = 0;
  gate: Promise<void> | undefined;

  fetch = async (knownVersion: number): Promise<GetRoutingInfoResponse> => {
    this.calls.push(knownVersion);
    if (this.gate) await this.gate;
    if (this.failNext > 0) {
      this.failNext--;
      throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'meta down');
    }
    const info = this.info;
    if (info === undefined) return { routing: undefined, version: 0 };
    return { routing: info.version === knownVersion ? undefined : info, version: info.version };
  };
}

describe('RoutingCache', () => {
  it("carries each node's bulk address to its targets (none when the node announces none)", async () => {
    const mgmt = new FakeMgmt();
    const info = routing(3);
    info.nodes[0]!.bulkAddress = '127.0.0.1:9001';
    info.nodes[1]!.bulkAddress = '';
    mgmt.info = info;
    const cache = new RoutingCache({ fetch: mgmt.fetch, refreshIntervalMs: 0 });
    await cache.refresh();
    expect(cache.servingTargets(1).map((t) => [t.nodeId, t.bulkAddress])).toEqual([
      [1, '127.0.0.1:9001'],
      [2, undefined],
      [3, undefined],
    ]);
    cache.close();
  });

  it('coalesces concurrent refreshes into one fetch', async () => {
    const mgmt = new FakeMgmt();
    mgmt.info = routing(5);
    let open!: () => void;
    mgmt.gate = new Promise((resolve) => (open = resolve));
    const cache = new RoutingCache({ fetch: mgmt.fetch, refreshIntervalMs: 0 });
    const all = Promise.all([cache.refresh(), cache.refresh(), cache.refresh()]);
    open();
    const results = await all;
    expect(mgmt.calls).toEqual([0]);
    expect(results.every((r) => r?.version === 5)).toBe(true);
    // The next refresh is a new fetch, sending the version held.
    mgmt.gate = undefined;
    await cache.refresh();
    expect(mgmt.calls).toEqual([0, 5]);
    cache.close();
  });

  it('installs newer versions and ignores older ones', async () => {
    const mgmt = new FakeMgmt();
    const cache = new RoutingCache({ fetch: mgmt.fetch, refreshIntervalMs: 0 });
    mgmt.info = routing(5, { chainVersion: 2 });
    await cache.refresh();
    expect(cache.version).toBe(5);
    expect(cache.chain(1)?.chainVersion).toBe(2);
    mgmt.info = routing(4, { chainVersion: 1 });
    await cache.refresh();
    expect(cache.version).toBe(5);
    expect(cache.chain(1)?.chainVersion).toBe(2);
    expect(cache.apply({ routing: routing(7, { chainVersion: 3 }), version: 7 })).toBe(true);
    expect(cache.chain(1)?.chainVersion).toBe(3);
    expect(cache.apply({ routing: undefined, version: 7 })).toBe(false);
    cache.close();
  });

  it('answers lookups: chain, table chain ids, node address, serving targets, head', async () => {
    const mgmt = new FakeMgmt();
    mgmt.info = routing(3, { order: [2001, 3001, 1001], states: { 2001: PublicTargetState.OFFLINE } });
    const cache = new RoutingCache({ fetch: mgmt.fetch, refreshIntervalMs: 0 });
    await cache.refresh();
    expect(cache.chain(1)?.targets.map((t) => t.targetId)).toEqual([2001, 3001, 1001]);
    expect(cache.chain(9)).toBeUndefined();
    expect(() => cache.requireChain(9)).toThrow(expect.objectContaining({ errorCode: ErrorCode.CHAIN_NOT_FOUND }));
    expect(cache.tableChainIds(1, 1)).toEqual([1]);
    expect(cache.tableChainIds(1, 2)).toEqual([1, 1]);
    expect(cache.tableChainIds(1, 3)).toBeUndefined();
    expect(cache.latestTable(1)?.version).toBe(2);
    expect(cache.nodeAddress(3001)).toBe('127.0.0.1:7403');
    expect(cache.nodeAddress(4001)).toBeUndefined();
    expect(cache.servingTargets(1).map((t) => t.targetId)).toEqual([3001, 1001]);
    expect(cache.head(1)?.targetId).toBe(3001);
    cache.close();
  });

  it('ready() waits through fetch errors and empty routing until a chain table exists', async () => {
    const clock = new ManualClock();
    const mgmt = new FakeMgmt();
    mgmt.failNext = 2;
    const cache = new RoutingCache({ fetch: mgmt.fetch, clock, refreshIntervalMs: 0 });
    let ready = false;
    const done = cache.ready().then((info) => {
      ready = true;
      return info;
    });
    await clock.advanceAsync(500, 10);
    expect(ready).toBe(false);
    mgmt.info = routing(2, { tables: false });
    await clock.advanceAsync(2_000, 10);
    expect(ready).toBe(false);
    mgmt.info = routing(3);
    await clock.advanceAsync(2_000, 10);
    expect(ready).toBe(true);
    expect((await done).version).toBe(3);
    cache.close();
  });

  it('ready() fails on close and on abort', async () => {
    const clock = new ManualClock();
    const mgmt = new FakeMgmt();
    const cache = new RoutingCache({ fetch: mgmt.fetch, clock, refreshIntervalMs: 0 });
    const controller = new AbortController();
    const aborted = cache.ready({ signal: controller.signal });
    const closed = cache.ready();
    await flushMicrotasks();
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
    cache.close();
    await expect(closed).rejects.toMatchObject({ errorCode: ErrorCode.CLIENT_CLOSED });
    expect(() => cache.refresh()).toThrow(expect.objectContaining({ errorCode: ErrorCode.CLIENT_CLOSED }));
    cache.close();
  });

  it('ready() stops waiting for a hung fetch when aborted or closed, and remembers the last fetch error', async () => {
    const clock = new ManualClock();
    const mgmt = new FakeMgmt();
    mgmt.failNext = 1;
    const cache = new RoutingCache({ fetch: mgmt.fetch, clock, refreshIntervalMs: 0 });
    await expect(cache.refresh()).rejects.toBeInstanceOf(SpindleError);
    expect(cache.lastFetchError).toBeInstanceOf(SpindleError);
    mgmt.gate = new Promise<void>(() => undefined); // every fetch from now on hangs
    const controller = new AbortController();
    const aborted = cache.ready({ signal: controller.signal });
    await flushMicrotasks();
    expect(mgmt.calls.length).toBe(2);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
    const closed = cache.ready();
    await flushMicrotasks();
    cache.close();
    await expect(closed).rejects.toMatchObject({ errorCode: ErrorCode.CLIENT_CLOSED });
  });

  it('refreshes periodically until closed, surviving fetch errors', async () => {
    const clock = new ManualClock();
    const mgmt = new FakeMgmt();
    mgmt.info = routing(1);
    const cache = new RoutingCache({ fetch: mgmt.fetch, clock, refreshIntervalMs: 100 });
    const seen: number[] = [];
    cache.onChange((info) => seen.push(info.version));
    await clock.advanceAsync(100, 100);
    expect(cache.version).toBe(1);
    mgmt.failNext = 1;
    mgmt.info = routing(2);
    await clock.advanceAsync(100, 100);
    expect(cache.version).toBe(1);
    await clock.advanceAsync(100, 100);
    expect(cache.version).toBe(2);
    expect(seen).toEqual([1, 2]);
    const fetches = mgmt.calls.length;
    cache.close();
    await clock.advanceAsync(1_000, 100);
    expect(mgmt.calls.length).toBe(fetches);
  });
});
