// KV-cache pages through a storage node's crash and restart (real processes, one 3-replica chain):
// kill -9 of the chain head; while it is gone, gets from every replica return the right bytes or a
// miss (or an error), never other bytes; the new head rebuilds its page index from its committed
// chunks (a re-put is ALREADY_PRESENT, children can be put under old pages); the restarted node
// comes back by resync holding every page, the ones put while it was gone included; made head, it
// rebuilds its index from disk too.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { KvGetStatus, KvPutStatus, MgmtClient, PublicTargetState, type KvNamespaceConfig } from '../../proto/index.js';
import { useCluster, testChannelOptions } from '../harness/cluster.js';
import { routingOf, tableChains } from '../harness/replicas.js';
import { chainPages, keyChain, KiB, KvCalls, namespace, routeOf, type ChainRoute, type PageToPut } from './kv-calls.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
const calls = new KvCalls();
afterAll(() => calls.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A get answers the page's own bytes or a miss; an error (node gone, version moved) is no bytes either. */
async function expectRightBytesOrMiss(address: string, route: ChainRoute, ns: KvNamespaceConfig, pages: PageToPut[]) {
  const got = await calls
    .get(
      address,
      route,
      ns,
      pages.map((p) => p.key),
    )
    .catch(() => undefined);
  if (got === undefined) return 'error';
  got.results.forEach((result, i) => {
    if (result.status === KvGetStatus.KV_GET_FOUND)
      expect(Buffer.from(result.value).equals(pages[i]!.value)).toBe(true);
    else expect([KvGetStatus.KV_GET_MISSING, KvGetStatus.KV_GET_CORRUPT]).toContain(result.status);
  });
  return 'answered';
}

async function expectAllFound(address: string, route: ChainRoute, ns: KvNamespaceConfig, pages: PageToPut[]) {
  const got = await calls.get(
    address,
    route,
    ns,
    pages.map((p) => p.key),
  );
  expect(got.results.map((r) => r.status)).toEqual(Array(pages.length).fill(KvGetStatus.KV_GET_FOUND));
  got.results.forEach((r, i) => expect(Buffer.from(r.value).equals(pages[i]!.value)).toBe(true));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe('KvStore through a storage node crash', () => {
  it('keeps every page through kill -9 of the head, resync, and a restart into the head role', async () => {
    const ns = namespace();
    let route = await routeOf(cluster().metaAddress);
    const before = chainPages(keyChain(6), 64 * KiB);
    const stored = await calls.put(route.serving[0]!, route, ns, before);
    expect(stored.results.map((r) => r.status)).toEqual(Array(6).fill(KvPutStatus.KV_PUT_STORED));

    const victim = cluster().nodes.find((n) => n.addr === route.serving[0])!;
    const victimTarget = victim.targets[0]!;
    await cluster().killNode(victim.id, 'SIGKILL');
    // While the manager notices, every replica (the dead one included) answers right bytes, a miss or an error.
    let answered = 0;
    await waitFor('the killed head to be declared failed', async () => {
      for (const address of route.all)
        if ((await expectRightBytesOrMiss(address, route, ns, before)) === 'answered') answered++;
      const routing = await routingOf(cluster().metaAddress);
      const state = routing.targets.find((t) => t.targetId === victimTarget)?.publicState;
      return state === PublicTargetState.OFFLINE ? true : undefined;
    });
    expect(answered).toBeGreaterThan(0);

    route = await routeOf(cluster().metaAddress);
    expect(route.serving).toHaveLength(2);
    expect(route.serving).not.toContain(victim.addr);
    // The new head rebuilt the index from its chunks: the old pages are present, and take children.
    const again = await calls.put(route.serving[0]!, route, ns, before);
    expect(again.results.map((r) => r.status)).toEqual(Array(6).fill(KvPutStatus.KV_PUT_ALREADY_PRESENT));
    const during = chainPages(keyChain(4), 64 * KiB, before[5]!.key);
    const duringPut = await calls.put(route.serving[0]!, route, ns, during);
    expect(duringPut.results.map((r) => r.status)).toEqual(Array(4).fill(KvPutStatus.KV_PUT_STORED));
    const all = [...before, ...during];
    for (const address of route.serving) await expectAllFound(address, route, ns, all);

    // Restart on the old data: it comes back through resync, with the pages put while it was gone.
    const restarted = await cluster().restartNode(victim.id);
    route = await waitFor('the restarted node to serve again', async () => {
      const r = await routeOf(cluster().metaAddress);
      return r.serving.length === 3 ? r : undefined;
    });
    await expectAllFound(restarted.addr, route, ns, all);
    const keys = all.map((p) => p.key);
    expect((await calls.match(restarted.addr, route, ns, keys)).matchedCount).toBe(10);

    // Made head, the restarted node rebuilds its index from its own chunks.
    const routing = await routingOf(cluster().metaAddress);
    const chain = tableChains(routing)[0]!;
    const mgmt = new MgmtClient(cluster().metaAddress, insecureChannel(), testChannelOptions(cluster().metaAddress));
    try {
      const targetIds = [victimTarget, ...chain.targetIds.filter((id) => id !== victimTarget)];
      const request = { tag: { clientId: randomUUID(), requestId: 1 }, chainId: chain.chainId, targetIds };
      await callUnary(mgmt, mgmt.updateChain, request, 'mgmt.UpdateChain');
    } finally {
      mgmt.close();
    }
    route = await routeOf(cluster().metaAddress);
    expect(route.serving[0]).toBe(restarted.addr);
    // A read first (it opens the namespace on the new head without changing its index), then writes.
    await expectAllFound(restarted.addr, route, ns, all);
    const rebuilt = await waitFor('the restarted node to act as head', () =>
      calls.put(restarted.addr, route, ns, all).catch(() => undefined),
    );
    expect(rebuilt.results.map((r) => r.status)).toEqual(Array(10).fill(KvPutStatus.KV_PUT_ALREADY_PRESENT));
    const leased = await calls.match(restarted.addr, route, ns, keys, 10_000);
    expect(leased.matchedCount).toBe(10);
  });
});
