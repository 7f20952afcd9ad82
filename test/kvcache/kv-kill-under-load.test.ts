// kill -9 of the chain head in the middle of a put/get load through the client library (bulk data
// path, 3 nodes, one chain of 3): no get ever returns wrong bytes or loses an acknowledged page,
// puts go on at the new head, and after the node restarts and resyncs every acknowledged page is
// on every replica, the restarted one included.
import { afterAll, describe, expect, it } from 'vitest';
import { isSpindleError } from '../../common/errors.js';
import { KvGetStatus, KvPutStatus } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import { chainPages, keyChain, KiB, KvCalls, namespace, routeOf, type PageToPut } from './kv-calls.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
const calls = new KvCalls();
afterAll(() => calls.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ACKNOWLEDGED = new Set([KvPutStatus.KV_PUT_STORED, KvPutStatus.KV_PUT_ALREADY_PRESENT]);

describe('KV cache under kill -9', () => {
  it('a head killed mid-load loses no acknowledged page and returns no wrong bytes', async () => {
    const ns = namespace({ name: 'under-load' });
    const { fingerprint: _, ...fields } = ns;
    const kv = (await cluster().client()).kvcache(fields);
    const acknowledged: PageToPut[][] = [];
    let stop = false;
    let getsChecked = 0;

    const writer = async () => {
      while (!stop) {
        const pages = chainPages(keyChain(2), 96 * KiB);
        try {
          const results = await kv.put(pages[0]!.key, pages);
          if (results.every((r) => ACKNOWLEDGED.has(r.status))) acknowledged.push(pages);
        } catch (err) {
          // A put that gave up mid-failover acknowledged nothing; it must be a retryable error.
          expect(isSpindleError(err) && err.retryable).toBe(true);
        }
      }
    };
    const reader = async () => {
      while (!stop) {
        if (acknowledged.length === 0) {
          await sleep(10);
          continue;
        }
        const pages = acknowledged[Math.floor(Math.random() * acknowledged.length)]!;
        const values = await kv
          .get(
            pages[0]!.key,
            pages.map((p) => p.key),
          )
          .catch((err: unknown) => {
            expect(isSpindleError(err) && err.retryable).toBe(true);
            return undefined;
          });
        if (values === undefined) continue;
        // An acknowledged page is on every replica: never a miss, never other bytes.
        values.forEach((value, i) => expect(value?.equals(pages[i]!.value)).toBe(true));
        getsChecked++;
      }
    };

    const load = Promise.all([writer(), writer(), reader(), reader()]);
    try {
      await sleep(1_500);
      const route = await routeOf(cluster().metaAddress);
      const victim = cluster().nodes.find((n) => n.addr === route.serving[0])!;
      const ackedBeforeKill = acknowledged.length;
      await cluster().killNode(victim.id, 'SIGKILL');
      await sleep(4_000);
      await cluster().restartNode(victim.id);
      const deadline = Date.now() + 60_000;
      while ((await routeOf(cluster().metaAddress)).serving.length < 3) {
        if (Date.now() > deadline) throw new Error('the restarted node did not serve again');
        await sleep(100);
      }
      await sleep(500);
      stop = true;
      await load;
      expect(acknowledged.length).toBeGreaterThan(ackedBeforeKill); // puts went on after the kill
    } finally {
      stop = true;
      await load.catch(() => undefined);
      kv.close();
    }
    expect(getsChecked).toBeGreaterThan(0);

    const route = await routeOf(cluster().metaAddress);
    expect(route.serving).toHaveLength(3);
    for (const address of route.serving) {
      for (const pages of acknowledged) {
        const got = await calls.get(
          address,
          route,
          ns,
          pages.map((p) => p.key),
        );
        expect(got.results.map((r) => r.status)).toEqual([KvGetStatus.KV_GET_FOUND, KvGetStatus.KV_GET_FOUND]);
        got.results.forEach((r, i) => expect(Buffer.from(r.value).equals(pages[i]!.value)).toBe(true));
      }
    }
  });
});
