// The KV-cache client (client/kvcache/) on real processes, 3 nodes × 3 targets (3 chains of 3):
// prompts are placed by their root key over the chains, every page of a put gets a status (a long
// prompt is split into batches of 128 in order), gets return each page's own bytes from any replica,
// matchPrefix answers in one call, and gets go on through a storage node's kill -9.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { PublicTargetState, KvPutStatus } from '../../proto/index.js';
import type { KvCache } from '../../client/kvcache/index.js';
import { chainOfRoot } from '../../client/kvcache/kv-placement.js';
import { useCluster } from '../harness/cluster.js';
import { routingOf } from '../harness/replicas.js';
import { chainPages, keyChain, KiB, namespace } from './kv-calls.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 3 });
const caches: KvCache[] = [];
afterAll(() => {
  for (const cache of caches) cache.close();
});

async function openCache(name: string, capacityBytes?: number): Promise<KvCache> {
  const client = await cluster().client();
  const { fingerprint: _, ...fields } = namespace({ name, ...(capacityBytes === undefined ? {} : { capacityBytes }) });
  const cache = client.kvcache(fields);
  caches.push(cache);
  return cache;
}

describe('KvCache client', () => {
  it('places prompts by root key, stores every page, reads each page back from any replica', async () => {
    const kv = await openCache('client');
    const prompts = Array.from({ length: 12 }, () => chainPages(keyChain(3), 16 * KiB));
    for (const pages of prompts) {
      const results = await kv.put(pages[0]!.key, pages);
      expect(results.map((r) => r.status)).toEqual(Array(3).fill(KvPutStatus.KV_PUT_STORED));
    }
    const client = await cluster().client();
    const chains = new Set(prompts.map((p) => chainOfRoot(client.routing, 1, p[0]!.key)));
    expect(chains.size).toBeGreaterThan(1);
    for (const pages of prompts) {
      const keys = pages.map((p) => p.key);
      const values = await kv.get(keys[0]!, [...keys, randomBytes(32)]);
      values.slice(0, 3).forEach((v, i) => expect(v?.equals(pages[i]!.value)).toBe(true));
      expect(values[3]).toBeUndefined();
      expect((await kv.matchPrefix([...keys, randomBytes(32)])).matchedCount).toBe(3);
      expect((await kv.matchPrefix(keys, { leaseMs: 1_000 })).matchedCount).toBe(3);
    }

    // A 300-page prompt goes out as batches of 128, 128 and 44, parents always first.
    const long = chainPages(keyChain(300), 16 * KiB);
    const results = await kv.put(long[0]!.key, long);
    expect(results.map((r) => r.status)).toEqual(Array(300).fill(KvPutStatus.KV_PUT_STORED));
    const keys = long.map((p) => p.key);
    expect((await kv.matchPrefix(keys)).matchedCount).toBe(300);
    const values = await kv.get(keys[0]!, keys);
    values.forEach((v, i) => expect(v?.equals(long[i]!.value)).toBe(true));
    expect(await kv.exists(keys[0]!, keys.slice(0, 5))).toEqual(Array(5).fill(true));
  });

  it('largest pages: a put is split at 64 MiB of values, a get of 96 MiB comes back whole', async () => {
    const kv = await openCache('large', 128 * 1024 * KiB);
    const pages = chainPages(keyChain(3), 32 * 1024 * KiB);
    const results = await kv.put(pages[0]!.key, pages);
    expect(results.map((r) => r.status)).toEqual(Array(3).fill(KvPutStatus.KV_PUT_STORED));
    // More than a node reads in one window (34 MiB): the node reads and sends window after window.
    const values = await kv.get(
      pages[0]!.key,
      pages.map((p) => p.key),
    );
    values.forEach((v, i) => expect(v?.equals(pages[i]!.value)).toBe(true));
  });

  it('gets go on with the right bytes through kill -9 of a storage node', async () => {
    const kv = await openCache('failover');
    const prompts = Array.from({ length: 6 }, () => chainPages(keyChain(2), 16 * KiB));
    for (const pages of prompts) await kv.put(pages[0]!.key, pages);
    const victim = cluster().nodes[1]!;
    await cluster().killNode(victim.id, 'SIGKILL');
    for (let round = 0; round < 3; round++) {
      for (const pages of prompts) {
        const values = await kv.get(
          pages[0]!.key,
          pages.map((p) => p.key),
        );
        values.forEach((v, i) => expect(v?.equals(pages[i]!.value)).toBe(true));
      }
    }
    // After the manager moved the node's targets out, puts go to the new heads.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const routing = await routingOf(cluster().metaAddress);
      const states = routing.targets.filter((t) => t.nodeId === victim.id).map((t) => t.publicState);
      if (states.every((s) => s === PublicTargetState.OFFLINE)) break;
      if (Date.now() > deadline) throw new Error('the killed node was not declared failed');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const more = chainPages(keyChain(2), 16 * KiB, prompts[0]![1]!.key);
    const stored = await kv.put(prompts[0]![0]!.key, more);
    // A put the client retried because routing moved mid-call answers ALREADY_PRESENT for the pages
    // its first attempt stored: either way the page is stored, which the get below checks.
    const storedOrPresent = new Set([KvPutStatus.KV_PUT_STORED, KvPutStatus.KV_PUT_ALREADY_PRESENT]);
    for (const result of stored) expect(storedOrPresent.has(result.status)).toBe(true);
    const values = await kv.get(
      prompts[0]![0]!.key,
      more.map((p) => p.key),
    );
    values.forEach((v, i) => expect(v?.equals(more[i]!.value)).toBe(true));
  });
});
