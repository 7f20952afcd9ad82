// MetaRpc's failures are SpindleErrors naming the call, with or without retries: what the transport
// or a bug throws untyped comes out typed (INTERNAL for a bug), and a call that gives up says which.
import { afterEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../common/config.js';
import { ErrorCode, type SpindleError, isSpindleError } from '../common/errors.js';
import { MetaRpc } from './meta-rpc.js';

const rpcs: MetaRpc[] = [];

afterEach(() => {
  for (const rpc of rpcs.splice(0)) rpc.close();
});

/** A MetaRpc to an address where nothing listens (port 1), with quick timeouts and retries. */
function unreachableMeta(): MetaRpc {
  const rpc = new MetaRpc({
    address: '127.0.0.1:1',
    clientId: 'test-client',
    config: clientConfig('test', { rpcTimeoutMs: 200, retryDeadlineMs: 400, retryBackoffMaxMs: 50 }),
  });
  rpcs.push(rpc);
  return rpc;
}

describe('MetaRpc errors', () => {
  it('types an error the call threw untyped, naming the call, with and without retries', async () => {
    const rpc = unreachableMeta();
    const bug = new Error('serializer exploded');
    (rpc.client as unknown as Record<string, unknown>).truncate = () => {
      throw bug;
    };
    for (const options of [undefined, { retry: false }]) {
      const outcome = await rpc.truncate({ at: { parentIno: 7, path: '' }, length: 0 }, options).catch((e) => e);
      expect(isSpindleError(outcome, ErrorCode.INTERNAL), String(outcome)).toBe(true);
      expect((outcome as SpindleError).message).toBe('meta.Truncate: serializer exploded');
      expect((outcome as SpindleError).cause).toBe(bug);
    }
  });

  it('names the call when it gives up on an unreachable meta', async () => {
    const outcome = await unreachableMeta()
      .readDir({ at: { parentIno: 1, path: '' }, afterName: '', limit: 0, withAttributes: false })
      .catch((e) => e);
    expect(isSpindleError(outcome, ErrorCode.RETRIES_EXHAUSTED), String(outcome)).toBe(true);
    expect((outcome as SpindleError).message).toMatch(/^meta\.ReadDir: gave up after \d+ attempts? in \d+ ms/);
  });
});
