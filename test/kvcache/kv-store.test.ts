// The KV-cache object store on real storage processes (3 nodes, one 3-replica chain): pages put at
// the head are on every replica, gets / exists / plain matches answer from any replica, a leasing
// match and removes go through the head, every put gets a status (nothing silently dropped), bad
// input is refused naming the field and changes nothing, and a chunk at a page's id that holds
// another page's bytes reads as a miss, never as wrong bytes.
import { afterAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode } from '../../common/errors.js';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { KvGetStatus, KvPutStatus, KvRemoveStatus, StorageClient, UpdateType } from '../../proto/index.js';
import { encodePageChunk, pageChunkAddress } from '../../storage/kvcache/page-chunks.js';
import { useCluster, testChannelOptions } from '../harness/cluster.js';
import { chainPages, keyChain, KiB, KvCalls, namespace, routeOf } from './kv-calls.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
const calls = new KvCalls();
afterAll(() => calls.close());

const {
  KV_PUT_STORED: STORED,
  KV_PUT_ALREADY_PRESENT: ALREADY_PRESENT,
  KV_PUT_PARENT_MISSING: PARENT_MISSING,
  KV_PUT_REJECTED_FULL: REJECTED_FULL,
} = KvPutStatus;

describe('KvStore on a 3-replica chain', () => {
  it('put at the head, get / exists / matchPrefix on every replica, remove through the chain', async () => {
    const route = await routeOf(cluster().metaAddress);
    expect(route.serving).toHaveLength(3);
    const ns = namespace();
    const keys = keyChain(5);
    const pages = chainPages(keys, 64 * KiB);
    const head = route.serving[0]!;
    const put = await calls.put(head, route, ns, pages);
    expect(put.results.map((r) => r.status)).toEqual(Array(5).fill(STORED));

    const longer = [...keys, ...keyChain(2)];
    for (const replica of route.serving) {
      const got = await calls.get(replica, route, ns, longer);
      expect(got.results.map((r) => r.status)).toEqual([...Array(5).fill(KvGetStatus.KV_GET_FOUND), 2, 2]);
      got.results.slice(0, 5).forEach((r, i) => expect(Buffer.from(r.value).equals(pages[i]!.value)).toBe(true));
      expect((await calls.exists(replica, route, ns, longer)).present).toEqual([...Array(5).fill(true), false, false]);
      expect((await calls.match(replica, route, ns, longer)).matchedCount).toBe(5);
    }
    const leased = await calls.match(head, route, ns, longer, 5_000);
    expect(leased.matchedCount).toBe(5);
    expect(leased.leaseUntilMs).toBeGreaterThan(Date.now());
    await expect(calls.match(route.serving[1]!, route, ns, longer, 5_000)).rejects.toMatchObject({
      errorCode: ErrorCode.NOT_CHAIN_HEAD,
    });

    expect((await calls.put(head, route, ns, pages.slice(0, 2))).results.map((r) => r.status)).toEqual([
      ALREADY_PRESENT,
      ALREADY_PRESENT,
    ]);
    // Leased pages are not removed; an unleased chain is, with its subtree, on every replica.
    const removedLeased = await calls.remove(head, route, ns, [keys[3]!]);
    expect(removedLeased.results[0]!.status).toBe(KvRemoveStatus.KV_REMOVE_REJECTED_LEASED);
    const other = keyChain(4);
    await calls.put(head, route, ns, chainPages(other, 16 * KiB));
    const removed = await calls.remove(head, route, ns, [other[2]!]);
    expect(removed.results[0]).toMatchObject({ status: KvRemoveStatus.KV_REMOVE_REMOVED, removedPages: 2 });
    for (const replica of route.serving) {
      expect((await calls.match(replica, route, ns, other)).matchedCount).toBe(2);
      expect((await calls.exists(replica, route, ns, other)).present).toEqual([true, true, false, false]);
    }
  });

  it('every put gets a status: PARENT_MISSING and REJECTED_FULL store nothing, eviction is synchronous', async () => {
    const route = await routeOf(cluster().metaAddress);
    const head = route.serving[0]!;
    const ns = namespace({ name: 'small', capacityBytes: 48 * KiB });
    const orphan = chainPages(keyChain(1), 16 * KiB, keyChain(1)[0]);
    expect((await calls.put(head, route, ns, orphan)).results[0]!.status).toBe(PARENT_MISSING);

    const a = keyChain(3);
    expect((await calls.put(head, route, ns, chainPages(a, 16 * KiB))).results.map((r) => r.status)).toEqual([
      STORED,
      STORED,
      STORED,
    ]);
    // Full: the next root evicts the least recently used leaf (a[2]) on every replica.
    const b = keyChain(1);
    const evicting = await calls.put(head, route, ns, chainPages(b, 16 * KiB));
    expect(evicting.results[0]!.status).toBe(STORED);
    expect(evicting.droppedPages).toBe(1);
    // Lease everything present: nothing is evictable, so the next put is refused with a hint.
    await calls.match(head, route, ns, a.slice(0, 2), 60_000);
    await calls.match(head, route, ns, b, 60_000);
    const c = chainPages(keyChain(1), 16 * KiB);
    const full = await calls.put(head, route, ns, c);
    expect(full.results[0]!.status).toBe(REJECTED_FULL);
    expect(Number(full.results[0]!.retryAfterMs)).toBeGreaterThan(0);
    for (const replica of route.serving) {
      const present = (await calls.exists(replica, route, ns, [...a, ...b, c[0]!.key, orphan[0]!.key])).present;
      expect(present).toEqual([true, true, false, true, false, false]);
    }
  });

  it('two writers putting one key at once store one value, on every replica', async () => {
    const route = await routeOf(cluster().metaAddress);
    const head = route.serving[0]!;
    const ns = namespace({ name: 'race' });
    const [key] = keyChain(1) as [Buffer];
    const first = chainPages([key], 64 * KiB);
    const second = chainPages([key], 64 * KiB);
    const [a, b] = await Promise.all([calls.put(head, route, ns, first), calls.put(head, route, ns, second)]);
    const statuses = [a.results[0]!.status, b.results[0]!.status].sort();
    expect(statuses).toEqual([STORED, ALREADY_PRESENT]);
    const winner = a.results[0]!.status === STORED ? first[0]!.value : second[0]!.value;
    for (const replica of route.serving) {
      const got = await calls.get(replica, route, ns, [key]);
      expect(Buffer.from(got.results[0]!.value).equals(winner)).toBe(true);
    }
  });

  it('bad input is refused naming the field, and changes nothing', async () => {
    const route = await routeOf(cluster().metaAddress);
    const head = route.serving[0]!;
    const ns = namespace({ name: 'strict' });
    const keys = keyChain(2);
    await calls.put(head, route, ns, chainPages(keys, 16 * KiB));
    const refused = async (call: Promise<unknown>, code: ErrorCode, text: string) =>
      await expect(call).rejects.toMatchObject({ errorCode: code, message: expect.stringContaining(text) });

    await refused(calls.get(head, route, ns, [Buffer.alloc(0)]), ErrorCode.INVALID_ARGUMENT, 'keys[0] is empty');
    // Counted from the raw message before it is decoded (common/request-item-limits.ts).
    await refused(calls.get(head, route, ns, keyChain(129)), ErrorCode.INVALID_ARGUMENT, 'more than 128 page keys');
    const tooMany = chainPages(keyChain(129), 16 * KiB);
    await refused(calls.put(head, route, ns, tooMany), ErrorCode.INVALID_ARGUMENT, 'pages has 129 entries');
    const oversize = [{ key: keyChain(1)[0]!, value: Buffer.alloc(32 * 1024 * KiB + 1) }];
    await refused(
      calls.put(head, route, ns, oversize),
      ErrorCode.INVALID_ARGUMENT,
      'pages[0].value has 33554433 bytes',
    );
    const emptyKey = [{ key: Buffer.alloc(0), value: Buffer.alloc(16 * KiB) }];
    await refused(calls.put(head, route, ns, emptyKey), ErrorCode.INVALID_ARGUMENT, 'pages[0].key is empty');
    const forged = { ...namespace({ name: 'strict', modelId: 'other/model' }), fingerprint: ns.fingerprint };
    const next = chainPages(keyChain(1), 16 * KiB, keys[1]);
    await refused(calls.put(head, route, forged, next), ErrorCode.FAILED_PRECONDITION, 'namespace.fingerprint');
    const foreign = namespace({ name: 'strict', modelId: 'other/model' });
    await refused(calls.put(head, route, foreign, next), ErrorCode.FAILED_PRECONDITION, 'fingerprint');
    await refused(calls.match(head, route, foreign, keys, 1000), ErrorCode.FAILED_PRECONDITION, 'fingerprint');
    // Keys that are not one chain: refused, and the leases the head holds stay.
    await calls.match(head, route, ns, keys, 60_000);
    const branch = chainPages(keyChain(1), 16 * KiB, keys[0]);
    await calls.put(head, route, ns, branch);
    await refused(
      calls.match(head, route, ns, [branch[0]!.key, keys[1]!], 1000),
      ErrorCode.INVALID_ARGUMENT,
      'keys[0]',
    );
    expect((await calls.remove(head, route, ns, [keys[0]!])).results[0]!.status).toBe(
      KvRemoveStatus.KV_REMOVE_REJECTED_LEASED,
    );
    await calls.remove(head, route, ns, [branch[0]!.key]);

    // Refusals are counted by method and result in the node's request metrics.
    const node = cluster().nodes.find((n) => n.addr === head)!;
    const metrics = await (await fetch(`http://${node.metrics}/metrics`)).text();
    expect(metrics).toMatch(/spindle_storage_requests_total\{method="KvPut",result="INVALID_ARGUMENT"\} [1-9]/);

    expect((await calls.match(head, route, ns, [...keys, next[0]!.key])).matchedCount).toBe(2);
    for (const replica of route.serving) {
      expect((await calls.exists(replica, route, ns, [...keys, next[0]!.key])).present).toEqual([true, true, false]);
    }
  });

  it('a TTL hides a page and its subtree on every replica, and the head then removes their chunks', async () => {
    const route = await routeOf(cluster().metaAddress);
    const head = route.serving[0]!;
    const ns = namespace({ name: 'ttl' });
    const keys = keyChain(2);
    const pages = chainPages(keys, 16 * KiB);
    pages[0]!.ttlMs = 1_000; // the child has none: it inherits its parent's expiry
    await calls.put(head, route, ns, pages);
    for (const replica of route.serving)
      expect((await calls.exists(replica, route, ns, keys)).present).toEqual([true, true]);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    for (const replica of route.serving) {
      expect((await calls.get(replica, route, ns, keys)).results.map((r) => r.status)).toEqual([2, 2]);
      expect((await calls.match(replica, route, ns, keys)).matchedCount).toBe(0);
    }
    // The head's next operation expires them from its index and removes their chunks from the chain.
    await calls.put(head, route, ns, chainPages(keyChain(1), 16 * KiB));
    const storage = new StorageClient(head, insecureChannel(), testChannelOptions(head));
    try {
      for (const replica of route.serving) {
        const client =
          replica === head ? storage : new StorageClient(replica, insecureChannel(), testChannelOptions(replica));
        for (const key of keys) {
          const { ino } = pageChunkAddress(ns, key);
          const request = { chainId: route.chainId, chainVersion: 0, ino, limit: 16 };
          const dump = await callUnary(client, client.dumpChunkMeta, request, 'Storage.DumpChunkMeta');
          expect(dump.chunks).toEqual([]);
        }
        if (client !== storage) client.close();
      }
    } finally {
      storage.close();
    }
  });

  it("a chunk at a page's id holding another page's header reads as a miss, never wrong bytes", async () => {
    const route = await routeOf(cluster().metaAddress);
    const head = route.serving[0]!;
    const ns = namespace({ name: 'collide' });
    const [wanted, other] = keyChain(2) as [Buffer, Buffer];
    // As if `other` hashed to `wanted`'s chunk id: its header and bytes, written at that id.
    const data = encodePageChunk(
      { name: ns.name, fingerprint: ns.fingerprint, key: other, parentKey: undefined, expiresAtMs: Infinity },
      Buffer.alloc(16 * KiB, 7),
    );
    const storage = new StorageClient(head, insecureChannel(), testChannelOptions(head));
    try {
      await callUnary(
        storage,
        storage.write,
        {
          chainId: route.chainId,
          chainVersion: route.chainVersion,
          chunk: pageChunkAddress(ns, wanted),
          type: UpdateType.WRITE,
          offset: 0,
          data,
          dataCrc32c: crc32c(data),
          chunkSizeBytes: 64 * 1024 * KiB,
          channelId: 0,
          seqnum: 0,
        },
        'Storage.Write',
      );
    } finally {
      storage.close();
    }
    for (const replica of route.serving) {
      const got = await calls.get(replica, route, ns, [wanted]);
      expect(got.results[0]!.status).toBe(KvGetStatus.KV_GET_MISSING);
      expect((await calls.exists(replica, route, ns, [wanted])).present).toEqual([false]);
    }
  });
});
