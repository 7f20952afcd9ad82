// KvCache messages ↔ the client's KvCache: namespace checks (every bad field listed), key batches,
// the root of a put, and the mapping of the storage nodes' statuses (every one has a reason).
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import {
  type KvCacheNamespace,
  KvCachePutStatus,
  KvCacheRemoveStatus,
  KvPutStatus,
  KvRemoveStatus,
} from '../proto/index.js';
import {
  batchKeys,
  leaseMs,
  namespaceFields,
  putPages,
  putResult,
  removeResult,
  rootOfKeys,
} from './kvcache-messages.js';

const namespace: KvCacheNamespace = {
  name: 'llama',
  modelId: 'meta-llama/Llama-3.1-8B',
  kvDtype: 'bfloat16',
  layout: 'vllm-nhd',
  pageTokens: 16,
  tpRank: 0,
  tpSize: 2,
  replicas: 3,
  capacityBytes: 1 << 30,
};
const key = (byte: number) => Buffer.alloc(32, byte);
const value = Buffer.alloc(16 * 1024);

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    return (err as SpindleError).message;
  }
  throw new Error('expected a refusal');
}

describe('kvcache messages', () => {
  it('takes a good namespace as client fields and lists every bad field of a bad one', () => {
    expect(namespaceFields(namespace)).toEqual(namespace);
    expect(refusal(() => namespaceFields(undefined))).toMatch(/namespace is required/);
    const bad = { ...namespace, name: 'a/b', kvDtype: 'fp4', pageTokens: 0, tpRank: 2, replicas: 17, capacityBytes: 1 };
    const message = refusal(() => namespaceFields(bad));
    for (const field of ['name', 'kv_dtype', 'page_tokens', 'tp_rank', 'replicas', 'capacity_bytes']) {
      expect(message).toContain(`namespace.${field}`);
    }
    expect(message).not.toContain('namespace.model_id');
  });

  it('checks key batches and roots under their proto names', () => {
    expect(batchKeys([key(1), key(2)])).toEqual([key(1), key(2)]);
    expect(refusal(() => batchKeys([]))).toMatch(/^keys is empty/);
    expect(refusal(() => batchKeys([key(1), Buffer.alloc(0)]))).toMatch(/^keys\[1\] is empty/);
    expect(refusal(() => batchKeys(Array(129).fill(key(1))))).toMatch(/^keys has 129 entries: at most 128/);
    expect(rootOfKeys(Buffer.alloc(0), [key(3)])).toEqual(key(3));
    expect(rootOfKeys(key(4), [key(3)])).toEqual(key(4));
    expect(refusal(() => rootOfKeys(Buffer.alloc(33), [key(3)]))).toMatch(/^root_key has 33 bytes/);
    expect(leaseMs(undefined)).toBeUndefined();
    expect(refusal(() => leaseMs(600_001))).toMatch(/^lease_ms must be 0\.\.600000/);
  });

  it('places a put by root_key, or by its first page when that is a root', () => {
    const chain = [
      { key: key(1), value },
      { key: key(2), parentKey: key(1), value, ttlMs: 5 },
    ];
    expect(putPages(Buffer.alloc(0), chain).root).toEqual(key(1));
    const suffix = chain.slice(1);
    expect(putPages(key(1), suffix)).toEqual({ root: key(1), pages: suffix });
    expect(refusal(() => putPages(Buffer.alloc(0), suffix))).toMatch(/^root_key is required when pages\[0\]/);
    expect(refusal(() => putPages(key(1), [{ key: key(2), parentKey: key(2), value }]))).toMatch(
      /pages\[0\]\.parent_key equals its key/,
    );
    expect(refusal(() => putPages(key(1), [{ ...chain[1]!, ttlMs: 0 }]))).toMatch(/pages\[0\]\.ttl_ms must be 1\.\./);
  });

  it('maps every storage status, with a reason for each refusal and the retry hint only when full', () => {
    for (const status of Object.values(KvPutStatus).filter((s): s is KvPutStatus => typeof s === 'number')) {
      if (status === KvPutStatus.KV_PUT_STATUS_INVALID || status === KvPutStatus.UNRECOGNIZED) continue;
      const mapped = putResult({ status, retryAfterMs: 7 });
      expect(mapped.status, KvPutStatus[status]).not.toBe(KvCachePutStatus.KV_CACHE_PUT_STATUS_INVALID);
      const stored = status === KvPutStatus.KV_PUT_STORED || status === KvPutStatus.KV_PUT_ALREADY_PRESENT;
      expect(mapped.reason === '', KvPutStatus[status]).toBe(stored);
      expect(mapped.retryAfterMs).toBe(status === KvPutStatus.KV_PUT_REJECTED_FULL ? 7 : 0);
    }
    expect(
      removeResult({ status: KvRemoveStatus.KV_REMOVE_REJECTED_LEASED, removedPages: 0, retryAfterMs: 9 }),
    ).toEqual({ status: KvCacheRemoveStatus.KV_CACHE_REMOVE_REJECTED_LEASED, removedPages: 0, retryAfterMs: 9 });
  });
});
