// The KvCache service of a real `spindle agent` process against a real cluster (3 nodes, two chains
// of 3, so a prefix tree's placement by its root key matters), over gRPC as an inference engine in
// another language would call it: a chain of pages round trips (a suffix put under its root_key
// lands on its root's chain, a miss is MISSING), every put status an engine must handle
// (ALREADY_PRESENT, PARENT_MISSING, REJECTED_FULL with its reason and retry hint under a small
// capacity), a leasing match holds pages against removal, removal takes a subtree, a Get reply is
// bounded (DEFERRED past 96 MiB), and bad input is INVALID_ARGUMENT naming the field with nothing
// stored.
import { randomBytes } from 'node:crypto';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_MESSAGE_MAX_BYTES } from '../../agent/constants.js';
import { chainOfRoot } from '../../client/kvcache/kv-placement.js';
import type { SpindleClient } from '../../client/index.js';
import { GrpcStatus } from '../../common/grpc-status.js';
import {
  KvCacheClient,
  KvCacheGetStatus,
  type KvCacheNamespace,
  type KvCachePage,
  KvCachePutStatus,
  KvCacheRemoveStatus,
} from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import { type AgentProcess, startAgentProcess, agentChannelOptions } from './agent-process.js';

const KiB = 1024;
const PAGE_BYTES = 16 * KiB;
const getCluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 2 });
let agent: AgentProcess;
let kv: KvCacheClient;
let client: SpindleClient;

beforeAll(async () => {
  client = await getCluster().client();
  agent = await startAgentProcess(['--meta', getCluster().metaAddress, '--preset', 'test']);
  kv = new KvCacheClient(agent.ready.agent, credentials.createInsecure(), {
    ...agentChannelOptions(),
    'grpc.max_receive_message_length': AGENT_MESSAGE_MAX_BYTES,
    'grpc.max_send_message_length': AGENT_MESSAGE_MAX_BYTES,
  });
}, 120_000);

afterAll(async () => {
  kv?.close();
  if (agent !== undefined) expect(await agent.stop()).toBe(0);
});

function namespace(overrides: Partial<KvCacheNamespace> = {}): KvCacheNamespace {
  return {
    name: 'agent-llama',
    modelId: 'meta-llama/Llama-3.1-8B',
    kvDtype: 'bfloat16',
    layout: 'vllm-nhd',
    pageTokens: 16,
    tpRank: 0,
    tpSize: 1,
    replicas: 3,
    capacityBytes: 64 * 1024 * KiB,
    ...overrides,
  };
}

/** A unary call of the KvCache client as a promise (the ServiceError kept as it came). */
function call<Req, Res>(method: 'put' | 'get' | 'exists' | 'remove' | 'matchPrefix', request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    (kv[method] as any).call(kv, request, (err: ServiceError | null, response: Res) =>
      err ? reject(err) : resolve(response),
    );
  });
}

const put = (ns: KvCacheNamespace, pages: KvCachePage[], rootKey: Buffer = Buffer.alloc(0)) =>
  call<unknown, { results: { status: KvCachePutStatus; reason: string; retryAfterMs: number }[] }>('put', {
    namespace: ns,
    rootKey,
    pages,
  });
const get = (ns: KvCacheNamespace, keys: Buffer[], rootKey: Buffer = Buffer.alloc(0)) =>
  call<unknown, { results: { status: KvCacheGetStatus; value: Buffer }[] }>('get', { namespace: ns, rootKey, keys });
const exists = (ns: KvCacheNamespace, keys: Buffer[], rootKey: Buffer = Buffer.alloc(0)) =>
  call<unknown, { present: boolean[] }>('exists', { namespace: ns, rootKey, keys });
const remove = (ns: KvCacheNamespace, keys: Buffer[], rootKey: Buffer = Buffer.alloc(0)) =>
  call<unknown, { results: { status: KvCacheRemoveStatus; removedPages: number; retryAfterMs: number }[] }>('remove', {
    namespace: ns,
    rootKey,
    keys,
  });
const match = (ns: KvCacheNamespace, keys: Buffer[], leaseMs?: number) =>
  call<unknown, { matchedCount: number; leaseUntilMs?: number }>('matchPrefix', { namespace: ns, keys, leaseMs });

function chain(count: number, parentOfFirst?: Buffer): KvCachePage[] {
  const keys: Buffer[] = Array.from({ length: count }, () => randomBytes(32));
  return keys.map((key, i) => ({
    key,
    parentKey: i === 0 ? parentOfFirst : keys[i - 1],
    value: randomBytes(PAGE_BYTES),
  }));
}

/** A fresh key whose prefix tree is placed on the same chain as `root`'s (or, `same` false, on another). */
function keyPlaced(root: Buffer, same: boolean): Buffer {
  const chain = chainOfRoot(client.routing, 1, root);
  for (;;) {
    const key = randomBytes(32);
    if ((chainOfRoot(client.routing, 1, key) === chain) === same) return key;
  }
}

/** A chain of `count` pages whose first key is `first`. */
function chainFrom(first: Buffer, count: number): KvCachePage[] {
  const [page, ...rest] = chain(count);
  return [{ ...page!, key: first }, ...rest.map((p, i) => (i === 0 ? { ...p, parentKey: first } : p))];
}

async function refusal(promise: Promise<unknown>): Promise<ServiceError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err as ServiceError,
  );
  expect(error, 'the call should have failed').toBeDefined();
  return error!;
}

const statuses = (response: { results: { status: number }[] }) => response.results.map((r) => r.status);

describe('KvCache service (agent process)', () => {
  it('is served beside the Loader and Checkpoints', () => {
    expect(agent.ready.services).toEqual(['spindle.Loader', 'spindle.Checkpoints', 'spindle.KvCache']);
  });

  it('round trip: put a chain, get each page back, a miss is MISSING, match counts the prefix', async () => {
    const ns = namespace();
    const pages = chain(4);
    const keys = pages.map((p) => p.key);
    expect(statuses(await put(ns, pages))).toEqual(Array(4).fill(KvCachePutStatus.KV_CACHE_PUT_STORED));
    const absent = randomBytes(32);
    const got = await get(ns, [...keys, absent]);
    expect(statuses(got)).toEqual([...Array(4).fill(KvCacheGetStatus.KV_CACHE_GET_FOUND), 2]);
    got.results.slice(0, 4).forEach((r, i) => expect(r.value.equals(pages[i]!.value)).toBe(true));
    expect(got.results[4]).toEqual({ status: KvCacheGetStatus.KV_CACHE_GET_MISSING, value: Buffer.alloc(0) });
    expect((await exists(ns, [keys[2]!, absent], keys[0])).present).toEqual([true, false]);
    expect((await match(ns, [...keys, absent])).matchedCount).toBe(4);

    // A suffix of the chain is put under its root_key; without it, the agent cannot place it.
    // Its first key alone would place it on the other chain, where its parent is not.
    const suffix = chainFrom(keyPlaced(keys[0]!, false), 2);
    suffix[0] = { ...suffix[0]!, parentKey: keys[3] };
    const noRoot = await refusal(put(ns, suffix));
    expect(noRoot.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(noRoot.details).toMatch(/root_key is required when pages\[0\] has a parent_key/);
    expect(statuses(await put(ns, suffix, keys[0]))).toEqual([1, 1]);
    const all = [...keys, ...suffix.map((p) => p.key)];
    expect((await match(ns, all)).matchedCount).toBe(6);
    const tail = await get(ns, all.slice(4), keys[0]);
    tail.results.forEach((r, i) => expect(r.value.equals(suffix[i]!.value)).toBe(true));

    // Removing a page takes its subtree: the prefix before it is still matched.
    const removed = await remove(ns, [all[3]!], keys[0]);
    expect(removed.results).toEqual([
      { status: KvCacheRemoveStatus.KV_CACHE_REMOVE_REMOVED, removedPages: 3, retryAfterMs: 0 },
    ]);
    expect((await match(ns, all)).matchedCount).toBe(3);
    expect(statuses(await remove(ns, [all[3]!], keys[0]))).toEqual([KvCacheRemoveStatus.KV_CACHE_REMOVE_NOT_FOUND]);
  });

  it('ALREADY_PRESENT and PARENT_MISSING; REJECTED_FULL with a reason and retry hint when full', async () => {
    const ns = namespace({ name: 'agent-small', capacityBytes: 4 * PAGE_BYTES });
    const pages = chain(4);
    const keys = pages.map((p) => p.key);
    expect(statuses(await put(ns, pages))).toEqual(Array(4).fill(KvCachePutStatus.KV_CACHE_PUT_STORED));
    const again = await put(ns, pages.slice(0, 1));
    expect(again.results).toEqual([
      { status: KvCachePutStatus.KV_CACHE_PUT_ALREADY_PRESENT, reason: '', retryAfterMs: 0 },
    ]);

    const orphan = chain(1, randomBytes(32));
    const missing = await put(ns, orphan, keys[0]);
    expect(missing.results[0]).toMatchObject({ status: KvCachePutStatus.KV_CACHE_PUT_PARENT_MISSING });
    expect(missing.results[0]!.reason).toMatch(/parent page is not stored/);

    // The namespace is full and a lease holds every page: nothing is evictable, the put is refused.
    const leased = await match(ns, keys, 60_000);
    expect(leased.matchedCount).toBe(4);
    expect(leased.leaseUntilMs).toBeGreaterThan(0);
    const full = await put(ns, chainFrom(keyPlaced(keys[0]!, true), 1));
    expect(full.results[0]).toMatchObject({ status: KvCachePutStatus.KV_CACHE_PUT_REJECTED_FULL });
    expect(full.results[0]!.reason).toMatch(/namespace is full/);
    expect(full.results[0]!.retryAfterMs).toBeGreaterThan(0);
    // The lease also refuses removal, and the pages stay.
    const refused = await remove(ns, [keys[0]!]);
    expect(refused.results[0]!.status).toBe(KvCacheRemoveStatus.KV_CACHE_REMOVE_REJECTED_LEASED);
    expect(refused.results[0]!.retryAfterMs).toBeGreaterThan(0);
    expect((await match(ns, keys)).matchedCount).toBe(4);
  });

  it('a Get stops reading after 96 MiB of values: the pages after are DEFERRED, read when asked again', async () => {
    const ns = namespace({ name: 'agent-large', capacityBytes: 256 * 1024 * KiB });
    const pages = chain(5).map((page) => ({ ...page, value: randomBytes(24 * 1024 * KiB) }));
    const keys = pages.map((p) => p.key);
    expect(statuses(await put(ns, pages))).toEqual(Array(5).fill(KvCachePutStatus.KV_CACHE_PUT_STORED));
    // Read 4 at a time: the first 4 pages are 96 MiB, the bound.
    const first = await get(ns, keys);
    const found = Array(4).fill(KvCacheGetStatus.KV_CACHE_GET_FOUND);
    expect(statuses(first)).toEqual([...found, KvCacheGetStatus.KV_CACHE_GET_DEFERRED]);
    first.results.slice(0, 4).forEach((r, i) => expect(r.value.equals(pages[i]!.value)).toBe(true));
    const again = await get(ns, keys.slice(4), keys[0]);
    expect(again.results[0]!.value.equals(pages[4]!.value)).toBe(true);
  }, 120_000);

  it('bad input is INVALID_ARGUMENT naming the field, and nothing is stored', async () => {
    const ns = namespace({ name: 'agent-bad' });
    const pages = chain(3);
    const keys = pages.map((p) => p.key);
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['empty key', () => put(ns, [pages[0]!, { ...pages[1]!, key: Buffer.alloc(0) }]), /pages\[1\]\.key is empty/],
      ['short key', () => put(ns, [pages[0]!, { ...pages[1]!, key: randomBytes(31) }]), /pages\[1\]\.key has 31 bytes/],
      [
        'oversize value',
        () => put(ns, [pages[0]!, { ...pages[1]!, value: Buffer.alloc(32 * 1024 * KiB + 1) }]),
        /pages\[1\]\.value has 33554433 bytes: a page has 16384\.\.33554432/,
      ],
      ['small value', () => put(ns, [{ ...pages[0]!, value: Buffer.alloc(100) }]), /pages\[0\]\.value has 100 bytes/],
      ['129 pages', () => put(ns, [...pages, ...chain(126, keys[2])]), /pages has 129 entries: at most 128/],
      [
        '129 keys',
        () =>
          get(
            ns,
            Array.from({ length: 129 }, () => randomBytes(32)),
          ),
        /keys has 129 entries/,
      ],
      ['no keys', () => exists(ns, []), /keys is empty/],
      ['short root', () => get(ns, keys, randomBytes(8)), /root_key has 8 bytes/],
      ['lease', () => match(ns, keys, 3_600_000), /lease_ms must be 0\.\.600000/],
      [
        'inconsistent namespace',
        () => put(namespace({ name: 'agent-bad', kvDtype: 'float64', tpRank: 2, tpSize: 2 }), pages),
        /namespace\.kv_dtype must be one of .*; namespace\.tp_rank must be 0\.\.1 \(tp_size 2\), got 2/,
      ],
      ['no namespace', () => call('put', { rootKey: Buffer.alloc(0), pages }), /namespace is required/],
    ];
    for (const [what, send, message] of cases) {
      const error = await refusal(send());
      expect(error.code, `${what}: ${error.details}`).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(error.details, what).toMatch(message);
    }
    expect((await exists(ns, keys)).present).toEqual([false, false, false]);

    // Another meaning under a stored namespace's name is refused by the storage node.
    expect(statuses(await put(ns, pages))).toEqual([1, 1, 1]);
    const foreign = await refusal(put(namespace({ name: 'agent-bad', kvDtype: 'float16' }), pages.slice(0, 1)));
    expect(foreign.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(foreign.details).toMatch(/agent-bad/);
  });
});
