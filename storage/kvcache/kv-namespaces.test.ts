// Namespace configs and the per-target namespace registry: every bad field named, fingerprints
// that cover a page's meaning and nothing else, unknown namespaces and foreign writers refused.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { KvNamespaces } from './kv-namespaces.js';
import { type KvNamespaceConfig, namespaceFingerprint, validateNamespaceConfig } from './namespace-config.js';
import { PutStatus } from './statuses.js';
import { chainKeys, chainPuts } from './testing/chains.js';

const llama: KvNamespaceConfig = {
  name: 'llama-8b.tp0',
  modelId: 'meta-llama/Llama-3.1-8B',
  kvDtype: 'bfloat16',
  layout: 'vllm-nhd',
  pageTokens: 16,
  tpRank: 0,
  tpSize: 2,
  replicas: 3,
  capacityBytes: 1 << 30,
};

function caught(action: () => unknown): SpindleError {
  try {
    action();
  } catch (err) {
    if (err instanceof SpindleError) return err;
    throw err;
  }
  throw new Error('expected a SpindleError');
}

describe('namespace config', () => {
  it('names every bad field in one error', () => {
    const bad = { ...llama, name: 'a/b', kvDtype: 'fp13', pageTokens: 0, tpRank: 2, capacityBytes: 10 };
    const err = caught(() => validateNamespaceConfig(bad as unknown as KvNamespaceConfig));
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    for (const field of ['name', 'kvDtype', 'pageTokens', 'tpRank must be an integer in 0..1', 'capacityBytes']) {
      expect(err.message).toContain(field);
    }
    expect(err.message).not.toContain('modelId');
  });

  it('fingerprints what pages mean, not how they are kept', () => {
    const base = namespaceFingerprint(llama);
    expect(base).toMatch(/^[0-9a-f]{32}$/);
    expect(namespaceFingerprint({ ...llama, replicas: 1, capacityBytes: 1 << 20, name: 'other' })).toBe(base);
    for (const change of [{ kvDtype: 'float16' }, { layout: 'sglang' }, { pageTokens: 32 }, { tpRank: 1 }] as const) {
      expect(namespaceFingerprint({ ...llama, ...change })).not.toBe(base);
    }
  });
});

describe('namespaces of a target', () => {
  it('opens a namespace only for a writer of the same configuration', () => {
    const dropped: string[] = [];
    const namespaces = new KvNamespaces<number>({
      clock: new ManualClock(0),
      onPageDropped: (namespace) => dropped.push(namespace),
    });
    const fingerprint = namespaces.create(llama);
    expect(namespaces.create({ ...llama })).toBe(fingerprint);
    const resized = caught(() => namespaces.create({ ...llama, capacityBytes: 1 << 20 }));
    expect(resized.errorCode).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(resized.message).toContain(
      `exists with replicas=3 capacityBytes=${1 << 30}; changing them is not supported`,
    );
    const index = namespaces.open(llama.name, fingerprint);
    expect(index.put(chainPuts(chainKeys('p', 2))).map((r) => r.status)).toEqual([PutStatus.STORED, PutStatus.STORED]);
    expect(namespaces.open(llama.name, fingerprint).pageCount).toBe(2);

    const unknown = caught(() => namespaces.open('mistral', fingerprint));
    expect([unknown.errorCode, unknown.message]).toEqual([
      ErrorCode.NOT_FOUND,
      'namespace: unknown KV-cache namespace "mistral"',
    ]);
    const foreign = caught(() => namespaces.open(llama.name, namespaceFingerprint({ ...llama, kvDtype: 'float16' })));
    expect(foreign.errorCode).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(foreign.message).toContain('kvDtype=bfloat16');
    const clash = caught(() => namespaces.create({ ...llama, tpRank: 1 }));
    expect([clash.errorCode, clash.message.includes('tp=0/2') && clash.message.includes('tp=1/2')]).toEqual([
      ErrorCode.EXISTS,
      true,
    ]);
    expect(namespaces.names()).toEqual([llama.name]);
    index.remove(chainKeys('p', 1));
    expect(dropped).toEqual([llama.name, llama.name]);
  });
});
