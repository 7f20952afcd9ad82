// The KV-cache store on the bulk data path, on real processes (3 nodes, one chain of 3): gets send
// each found page as a frame of its own into the caller's buffers, the same calls work over gRPC,
// a replica's hot pages follow the chunk's commit (a page removed and put again with other bytes
// reads its new bytes from every replica), and malformed frame ids are refused, changing nothing.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { KvCache } from '../../client/kvcache/index.js';
import { chainOfRoot } from '../../client/kvcache/kv-placement.js';
import { TcpBulkTransport } from '../../common/bulk/tcp-transport.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { StorageBulkMethod, decodeKvAnswer, encodeKvCall } from '../../common/storage-bulk-calls.js';
import { KvGetStatus, KvPutStatus, KvRemoveStatus, KvStoreClient } from '../../proto/index.js';
import { useCluster, testChannelOptions } from '../harness/cluster.js';
import { chainPages, keyChain, KiB, namespace } from './kv-calls.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
const closers: Array<() => void> = [];
afterAll(() => {
  for (const close of closers) close();
});

function fieldsOf(name: string) {
  const { fingerprint: _, ...fields } = namespace({ name });
  return fields;
}

async function bulkCache(name: string): Promise<KvCache> {
  const kv = (await cluster().client()).kvcache(fieldsOf(name));
  closers.push(() => kv.close());
  return kv;
}

async function grpcCache(name: string): Promise<KvCache> {
  const kv = new KvCache({
    routing: (await cluster().client()).routing,
    namespace: fieldsOf(name),
    token: cluster().clientToken,
  });
  closers.push(() => kv.close());
  return kv;
}

/** Bytes the storage nodes sent as bulk frames, summed over the nodes. */
async function bulkBytesOut(): Promise<number> {
  let sum = 0;
  for (const node of cluster().nodes) {
    const text = await (await fetch(`http://${node.metrics}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('spindle_storage_bulk_bytes_total{direction="out"}'));
    sum += line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function rejection(promise: Promise<unknown>): Promise<SpindleError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SpindleError);
  return err as SpindleError;
}

describe('KV cache on the bulk data path', () => {
  it('a get sends each found page as a frame into the buffers the caller gave', async () => {
    const kv = await bulkCache('frames');
    const pages = chainPages(keyChain(8), 64 * KiB);
    const keys = pages.map((p) => p.key);
    const stored = await kv.put(keys[0]!, pages);
    expect(stored.map((r) => r.status)).toEqual(Array(8).fill(KvPutStatus.KV_PUT_STORED));

    const before = await bulkBytesOut();
    const into = [...keys, randomBytes(32)].map(() => Buffer.alloc(80 * KiB, 0xee));
    const values = await kv.get(keys[0]!, [...keys, randomBytes(32)], { into });
    values.slice(0, 8).forEach((value, i) => {
      expect(value?.equals(pages[i]!.value)).toBe(true);
      expect(value?.buffer).toBe(into[i]!.buffer); // a view of the caller's buffer, not a copy
    });
    expect(values[8]).toBeUndefined();
    expect(into[8]!.every((b) => b === 0xee)).toBe(true); // a missing page leaves its buffer alone
    expect((await bulkBytesOut()) - before).toBeGreaterThanOrEqual(8 * 64 * KiB);

    const tooFew = await rejection(kv.get(keys[0]!, keys, { into: into.slice(0, 3) }));
    expect(tooFew.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    const small = await rejection(kv.get(keys[0]!, keys.slice(0, 1), { into: [Buffer.alloc(KiB)] }));
    expect(small.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    // The failed receive left the session usable.
    expect((await kv.get(keys[0]!, keys))[7]?.equals(pages[7]!.value)).toBe(true);
  });

  it('gRPC-only clients get the same pages, also into their buffers', async () => {
    const writer = await bulkCache('both');
    const reader = await grpcCache('both');
    const pages = chainPages(keyChain(4), 32 * KiB);
    const keys = pages.map((p) => p.key);
    await writer.put(keys[0]!, pages);
    const into = keys.map(() => Buffer.alloc(32 * KiB));
    const values = await reader.get(keys[0]!, keys, { into });
    values.forEach((value, i) => {
      expect(value?.equals(pages[i]!.value)).toBe(true);
      expect(value?.buffer).toBe(into[i]!.buffer);
    });
    expect(await reader.exists(keys[0]!, keys)).toEqual([true, true, true, true]);
    expect((await reader.matchPrefix(keys)).matchedCount).toBe(4);
  });

  it('a page removed and put again with other bytes reads its new bytes from every replica', async () => {
    const kv = await bulkCache('hot');
    const [page] = chainPages(keyChain(1), 16 * KiB);
    const key = page!.key;
    await kv.put(key, [page!]);
    // Many single-key gets start at random replicas: every replica reads and keeps the page.
    for (let i = 0; i < 12; i++) expect((await kv.get(key, [key]))[0]?.equals(page!.value)).toBe(true);
    expect((await kv.remove(key, [key]))[0]?.status).toBe(KvRemoveStatus.KV_REMOVE_REMOVED);
    const again = { key, value: randomBytes(16 * KiB) };
    expect((await kv.put(key, [again]))[0]?.status).toBe(KvPutStatus.KV_PUT_STORED);
    for (let i = 0; i < 12; i++) expect((await kv.get(key, [key]))[0]?.equals(again.value)).toBe(true);
  });

  it('frame ids that do not fit the keys are refused, and a gRPC get cannot ask for frames', async () => {
    const client = await cluster().client();
    const [page] = chainPages(keyChain(1), 16 * KiB);
    await (await bulkCache('bad-ids')).put(page!.key, [page!]);
    const chainId = chainOfRoot(client.routing, 1, page!.key);
    const chainVersion = client.routing.requireChain(chainId).chainVersion;
    const target = client.routing.servingTargets(chainId)[0]!;
    const request = { namespace: namespace({ name: 'bad-ids' }), chainId, chainVersion, keys: [page!.key] };

    const channel = await new TcpBulkTransport({ credential: cluster().clientToken }).connect(target.bulkAddress!);
    closers.push(() => channel.close());
    const ask = (bulkRequestIds: number[], keys = request.keys) =>
      channel.call(encodeKvCall(StorageBulkMethod.KV_GET, { ...request, keys, bulkRequestIds }), {
        timeoutMs: 10_000,
      });
    for (const [ids, keys] of [
      [[1, 2], request.keys],
      [
        [3, 3],
        [page!.key, page!.key],
      ],
      [[0], request.keys],
    ] as const) {
      const err = await rejection(ask([...ids], [...keys]));
      expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(err.message).toContain('bulk_request_ids');
    }
    // The session still answers, and the page comes as the frame its id names.
    const frame = channel.receive(7);
    const answer = decodeKvAnswer(StorageBulkMethod.KV_GET, await ask([7]));
    expect(answer.results[0]).toMatchObject({ status: KvGetStatus.KV_GET_FOUND, bulkLength: 16 * KiB });
    expect((await frame).equals(page!.value)).toBe(true);

    const grpc = new KvStoreClient(target.address!, insecureChannel(), testChannelOptions(target.address!));
    closers.push(() => grpc.close());
    const err = await rejection(
      callUnary(grpc, grpc.kvGet, { ...request, bulkRequestIds: [5] }, 'KvStore.KvGet', { timeoutMs: 10_000 }),
    );
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});
