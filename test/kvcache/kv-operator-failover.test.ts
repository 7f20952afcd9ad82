// `spindle kv` on a head that never saw a namespace's config (real processes, one 3-replica chain):
// pages put at the head only, then kill -9 of the head. The new head has served no request naming
// the namespace, so it knows it only from its chunks' headers: `kv ls` lists it (pages and bytes
// from disk, config unknown), `kv evict` evicts from an index of those chunks — prefix-closed on
// every replica — and `kv rm` removes the rest; later puts store afresh.
import { afterAll, describe, expect, it } from 'vitest';
import type { EvictResult, NamespaceRow, RemoveResult } from '../../cli/kv-report.js';
import { KvPutStatus, PublicTargetState } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import { routingOf } from '../harness/replicas.js';
import { chainPages, keyChain, KiB, KvCalls, namespace, routeOf } from './kv-calls.js';
import { presenceOnReplicas, spindle, spindleJson } from './kv-operator-checks.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
const calls = new KvCalls();
afterAll(() => calls.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('spindle kv on a new head', () => {
  it('lists, evicts and removes a namespace whose config the head never saw', async () => {
    const meta = cluster().metaAddress;
    const ns = namespace({ name: 'ops-orphan' });
    let route = await routeOf(meta);
    const long = keyChain(6);
    const short = keyChain(3);
    for (const keys of [long, short]) {
      const put = await calls.put(route.serving[0]!, route, ns, chainPages(keys, 16 * KiB));
      expect(put.results.map((r) => r.status)).toEqual(Array(keys.length).fill(KvPutStatus.KV_PUT_STORED));
    }
    const victim = cluster().nodes.find((n) => n.addr === route.serving[0])!;
    await cluster().killNode(victim.id, 'SIGKILL');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const routing = await routingOf(meta);
      const state = routing.targets.find((t) => t.targetId === victim.targets[0])?.publicState;
      if (state === PublicTargetState.OFFLINE) break;
      if (Date.now() > deadline) throw new Error('the killed head was not declared failed');
      await sleep(100);
    }
    route = await routeOf(meta);
    expect(route.serving).toHaveLength(2);

    const row = (await spindleJson<NamespaceRow[]>(meta, ['kv', 'ls'])).find((r) => r.name === 'ops-orphan');
    expect(row).toMatchObject({ pages: 9, bytes: 9 * 16 * KiB, config: null, capacityBytes: 0, chains: 1 });
    expect((await spindle(meta, ['kv', 'ls'])).stdout).toMatch(
      /ops-orphan +9 .*config not seen since the heads started/,
    );

    const evicted = await spindleJson<EvictResult>(meta, ['kv', 'evict', 'ops-orphan', '--bytes', '32KiB']);
    expect(evicted).toMatchObject({ evictedPages: 2, evictedBytes: 32 * KiB, remainingPages: 7 });
    const left =
      (await presenceOnReplicas(calls, route, ns, long)) + (await presenceOnReplicas(calls, route, ns, short));
    expect(left).toBe(7);

    const removed = await spindleJson<RemoveResult>(meta, ['kv', 'rm', 'ops-orphan']);
    expect(removed).toMatchObject({ removedPages: 7, removedBytes: 7 * 16 * KiB, chains: 1 });
    expect(await presenceOnReplicas(calls, route, ns, long)).toBe(0);
    expect(await presenceOnReplicas(calls, route, ns, short)).toBe(0);

    const again = await calls.put(route.serving[0]!, route, ns, chainPages(long, 16 * KiB));
    expect(again.results.map((r) => r.status)).toEqual(Array(6).fill(KvPutStatus.KV_PUT_STORED));
    expect(await presenceOnReplicas(calls, route, ns, long)).toBe(6);
  });
});
