// `spindle kv ls|stat|evict|rm` and the node's spindle_kv_* metrics on real processes (3 nodes,
// two 3-replica chains): listings reflect puts on every chain; an eviction frees the bytes asked
// for, least recently used leaves first, and leaves every replica prefix-closed and in agreement;
// leased pages stay through `evict --all` and make `rm` refuse without changing anything; `rm
// --force` removes every page from every replica and a later put stores afresh; counters move on
// /metrics; bad input (unknown namespace, bad sizes, bad names) is a clear error that changes nothing.
import { afterAll, describe, expect, it } from 'vitest';
import type { EvictResult, NamespaceRow, NamespaceStat, RemoveResult } from '../../cli/kv-report.js';
import { ErrorCode } from '../../common/errors.js';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { KvPutStatus, KvRemoveStatus, KvStoreClient } from '../../proto/index.js';
import { useCluster, testChannelOptions } from '../harness/cluster.js';
import { type ChainRoute, chainPages, keyChain, KiB, KvCalls, namespace, routeOf } from './kv-calls.js';
import { presenceOnReplicas as presence, spindle as spindleCli, spindleJson } from './kv-operator-checks.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 2 });
const calls = new KvCalls();
afterAll(() => calls.close());
const spindle = (args: string[]) => spindleCli(cluster().metaAddress, args);
const json = <T>(args: string[]) => spindleJson<T>(cluster().metaAddress, args);

async function routes(): Promise<[ChainRoute, ChainRoute]> {
  const routesOf = await Promise.all([routeOf(cluster().metaAddress, 0), routeOf(cluster().metaAddress, 1)]);
  for (const route of routesOf) expect(route.serving).toHaveLength(3);
  return routesOf as [ChainRoute, ChainRoute];
}

/** Puts a chain of pages at the route's head; every page must be STORED. */
async function putChain(route: ChainRoute, ns: ReturnType<typeof namespace>, keys: Buffer[], valueBytes: number) {
  const put = await calls.put(route.serving[0]!, route, ns, chainPages(keys, valueBytes));
  expect(put.results.map((r) => r.status)).toEqual(Array(keys.length).fill(KvPutStatus.KV_PUT_STORED));
}

const presenceOnReplicas = (route: ChainRoute, ns: ReturnType<typeof namespace>, keys: Buffer[]) =>
  presence(calls, route, ns, keys);

async function scrape(): Promise<string> {
  const texts = await Promise.all(
    cluster().nodes.map(async (node) => (await fetch(`http://${node.metrics}/metrics`)).text()),
  );
  return texts.join('\n');
}

/** The sum over every node of a metric's samples whose labels include `labels`. */
function metricSum(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('spindle kv', () => {
  it('ls and stat reflect puts on every chain; gets, puts and matches move the counters on /metrics', async () => {
    const [a, b] = await routes();
    const ns = namespace({ name: 'ops-list', capacityBytes: 1024 * KiB });
    const keysA = keyChain(4);
    const keysB = keyChain(3);
    await putChain(a, ns, keysA, 64 * KiB);
    await putChain(b, ns, keysB, 32 * KiB);

    const rows = await json<NamespaceRow[]>(['kv', 'ls']);
    const row = rows.find((r) => r.name === 'ops-list')!;
    expect(row).toMatchObject({
      pages: 7,
      bytes: 4 * 64 * KiB + 3 * 32 * KiB,
      chains: 2,
      capacityBytes: 2 * 1024 * KiB,
      leasedPages: 0,
      fingerprint: ns.fingerprint,
      config: { modelId: ns.modelId, kvDtype: 'bfloat16', layout: 'vllm-nhd', pageTokens: 16, replicas: 3 },
    });
    const table = await spindle(['kv', 'ls']);
    expect(table.stdout).toMatch(/ops-list +7 +352 KiB +2\.00 MiB +0 +2 meta-llama\/Llama-3.1-8B bfloat16/);

    await calls.get(a.serving[0]!, a, ns, [...keysA, ...keyChain(2)]);
    await calls.match(a.serving[0]!, a, ns, [...keysA, ...keyChain(3)]);
    // Other replicas serve gets and plain matches too: `kv stat` sums every replica's counters.
    await calls.get(a.serving[1]!, a, ns, keysA.slice(0, 2));
    await calls.match(a.serving[2]!, a, ns, keysA);
    const stat = await json<NamespaceStat>(['kv', 'stat', 'ops-list']);
    expect(stat.perChain.map((c) => [c.chainId, c.pages, c.bytes]).sort()).toEqual(
      [
        [a.chainId, 4, 4 * 64 * KiB],
        [b.chainId, 3, 3 * 32 * KiB],
      ].sort(),
    );
    const onA = stat.perChain.find((c) => c.chainId === a.chainId)!;
    expect(onA.counters).toMatchObject({ getHits: 6, getMisses: 2, matchCalls: 2, matchHitKeys: 8, matchMissKeys: 3 });
    expect(onA.counters!.putsByStatus).toEqual({ STORED: 4 });

    const metrics = await scrape();
    const labels = { namespace: 'ops-list' };
    expect(metricSum(metrics, 'spindle_kv_get_pages_total', { ...labels, result: 'hit' })).toBe(6);
    expect(metricSum(metrics, 'spindle_kv_get_pages_total', { ...labels, result: 'miss' })).toBe(2);
    expect(metricSum(metrics, 'spindle_kv_put_pages_total', { ...labels, status: 'STORED' })).toBe(7);
    expect(metricSum(metrics, 'spindle_kv_match_keys_total', { ...labels, result: 'hit' })).toBe(8);
    expect(metricSum(metrics, 'spindle_kv_match_prefix_duration_seconds_count', { mode: 'plain' })).toBeGreaterThan(0);
    expect(metricSum(metrics, 'spindle_kv_pages', labels)).toBe(7);
    expect(metricSum(metrics, 'spindle_kv_bytes', labels)).toBe(4 * 64 * KiB + 3 * 32 * KiB);
  });

  it('evict frees the bytes asked for on every replica, prefix-closed; --all keeps leased pages', async () => {
    const [a] = await routes();
    const ns = namespace({ name: 'ops-evict' });
    const hot = keyChain(6);
    const cold = keyChain(4);
    await putChain(a, ns, cold, 64 * KiB);
    await putChain(a, ns, hot, 64 * KiB);
    // The hot prompt is used after the cold one: the cold prompt's leaves are the least recently used.
    await calls.get(a.serving[0]!, a, ns, hot);

    const evicted = await json<EvictResult>(['kv', 'evict', 'ops-evict', '--bytes', '128KiB']);
    expect(evicted).toMatchObject({ evictedPages: 2, evictedBytes: 128 * KiB, remainingPages: 8 });
    expect(await presenceOnReplicas(a, ns, cold)).toBe(2);
    expect(await presenceOnReplicas(a, ns, hot)).toBe(6);

    // A lease on the hot prompt's first 3 pages: --all evicts everything else.
    expect((await calls.match(a.serving[0]!, a, ns, hot.slice(0, 3), 60_000)).matchedCount).toBe(3);
    const all = await json<EvictResult>(['kv', 'evict', 'ops-evict', '--all']);
    expect(all).toMatchObject({ evictedPages: 5, remainingPages: 3, remainingBytes: 3 * 64 * KiB, leasedPages: 3 });
    expect(await presenceOnReplicas(a, ns, cold)).toBe(0);
    expect(await presenceOnReplicas(a, ns, hot)).toBe(3);

    const metrics = await scrape();
    expect(metricSum(metrics, 'spindle_kv_evicted_pages_total', { namespace: 'ops-evict', reason: 'operator' })).toBe(
      7,
    );
    const stat = await json<NamespaceStat>(['kv', 'stat', 'ops-evict']);
    expect(stat).toMatchObject({ pages: 3, bytes: 3 * 64 * KiB, leasedPages: 3 });
  });

  it('rm refuses while a page is leased, changing nothing; --force removes everything; later puts store', async () => {
    const [a, b] = await routes();
    const ns = namespace({ name: 'ops-rm' });
    const keysA = keyChain(3);
    const keysB = keyChain(5);
    await putChain(a, ns, keysA, 16 * KiB);
    await putChain(b, ns, keysB, 16 * KiB);
    expect((await calls.match(b.serving[0]!, b, ns, keysB.slice(0, 2), 60_000)).matchedCount).toBe(2);

    const refused = await spindle(['kv', 'rm', 'ops-rm']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/has leased pages \(2 on chain \d+\); nothing removed.*--force/);
    expect(await presenceOnReplicas(a, ns, keysA)).toBe(3);
    expect(await presenceOnReplicas(b, ns, keysB)).toBe(5);

    // The head refuses too (a lease taken after the CLI's check), and keeps its leases.
    const headB = new KvStoreClient(b.serving[0]!, insecureChannel(), testChannelOptions(b.serving[0]!));
    try {
      const rm = {
        chainId: b.chainId,
        chainVersion: b.chainVersion,
        name: 'ops-rm',
        force: false,
        forgetOnReplica: false,
      };
      await expect(callUnary(headB, headB.kvRemoveNamespace, rm, 'KvRemoveNamespace')).rejects.toMatchObject({
        errorCode: ErrorCode.BUSY,
        message: expect.stringMatching(/has 2 leased page\(s\) on chain \d+; the last lease ends in \d+ ms/),
      });
    } finally {
      headB.close();
    }
    expect((await calls.remove(b.serving[0]!, b, ns, [keysB[1]!])).results[0]!.status).toBe(
      KvRemoveStatus.KV_REMOVE_REJECTED_LEASED,
    );
    expect(await presenceOnReplicas(b, ns, keysB)).toBe(5);

    const removed = await json<RemoveResult>(['kv', 'rm', 'ops-rm', '--force']);
    expect(removed).toEqual({ name: 'ops-rm', removedPages: 8, removedBytes: 8 * 16 * KiB, chains: 2 });
    // No head lists it, not even from its chunks' headers (the config is forgotten: none are left).
    expect((await json<NamespaceRow[]>(['kv', 'ls'])).map((r) => r.name)).not.toContain('ops-rm');
    const gone = await spindle(['kv', 'stat', 'ops-rm']);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/unknown KV-cache namespace "ops-rm"/);

    // The name can be created again, even with another config: every target forgot the old one
    // (chain a's replicas had served reads of it, and would refuse the new writer otherwise).
    const other = namespace({ name: 'ops-rm', modelId: 'another/model' });
    await putChain(a, other, keysA, 16 * KiB);
    expect(await presenceOnReplicas(a, other, keysA)).toBe(3);
    const stat = await json<NamespaceStat>(['kv', 'stat', 'ops-rm']);
    expect(stat).toMatchObject({ pages: 3, leasedPages: 0, chains: 1, config: { modelId: 'another/model' } });
    // The old pages are gone from every replica of chain b.
    expect(await presenceOnReplicas(b, ns, keysB)).toBe(0);

    const metrics = await scrape();
    expect(metricSum(metrics, 'spindle_kv_evicted_pages_total', { namespace: 'ops-rm', reason: 'operator' })).toBe(8);
  });

  it('bad input is a clear error and changes nothing', async () => {
    const [a] = await routes();
    const ns = namespace({ name: 'ops-bad' });
    const keys = keyChain(3);
    await putChain(a, ns, keys, 16 * KiB);
    const cases: Array<[string[], number, RegExp]> = [
      [['kv', 'stat', 'nosuch'], 3, /unknown KV-cache namespace "nosuch"/],
      [['kv', 'evict', 'nosuch', '--all'], 3, /unknown KV-cache namespace "nosuch"/],
      [['kv', 'rm', 'nosuch'], 3, /unknown KV-cache namespace "nosuch"/],
      [['kv', 'evict', 'ops-bad', '--bytes', '-5'], 2, /size/],
      [['kv', 'evict', 'ops-bad', '--bytes', 'lots'], 2, /cannot read size "lots"/],
      [['kv', 'evict', 'ops-bad', '--bytes', '0'], 2, /more than 0/],
      [['kv', 'evict', 'ops-bad'], 2, /one of --bytes N or --all/],
      [['kv', 'evict', 'ops-bad', '--bytes', '1MiB', '--all'], 2, /one of --bytes N or --all/],
      [['kv', 'rm', 'bad/name'], 2, /"bad\/name" is no namespace name/],
    ];
    for (const [args, code, message] of cases) {
      const result = await spindle(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(code);
      expect(result.stderr).toMatch(message);
    }
    expect(await presenceOnReplicas(a, ns, keys)).toBe(3);

    // The node's own checks: a request to a replica that is not the head, an eviction of nothing.
    const replica = new KvStoreClient(a.serving[1]!, insecureChannel(), testChannelOptions(a.serving[1]!));
    const head = new KvStoreClient(a.serving[0]!, insecureChannel(), testChannelOptions(a.serving[0]!));
    try {
      const request = { chainId: a.chainId, chainVersion: a.chainVersion, name: 'ops-bad', bytes: 0, all: true };
      await expect(callUnary(replica, replica.kvEvict, request, 'KvEvict')).rejects.toMatchObject({
        errorCode: ErrorCode.NOT_CHAIN_HEAD,
      });
      await expect(callUnary(head, head.kvEvict, { ...request, all: false }, 'KvEvict')).rejects.toMatchObject({
        errorCode: ErrorCode.INVALID_ARGUMENT,
        message: expect.stringMatching(/bytes > 0 or all/),
      });
      const rm = { chainId: a.chainId, chainVersion: a.chainVersion, name: '', force: false, forgetOnReplica: false };
      await expect(callUnary(head, head.kvRemoveNamespace, rm, 'KvRemoveNamespace')).rejects.toMatchObject({
        errorCode: ErrorCode.INVALID_ARGUMENT,
      });
    } finally {
      replica.close();
      head.close();
    }
    expect(await presenceOnReplicas(a, ns, keys)).toBe(3);
  });
});
