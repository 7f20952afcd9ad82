// How long a storage node retries forwarding to its chain successor (storage/chain-replicator.ts,
// in the common retry loop): an update it has sent is forwarded until the successor answers, past
// forwardTimeoutMs (it must never drop an update a successor may have committed); a RemoveChunks
// gives up after forwardTimeoutMs with the successor's own error, retryable, so the client
// retries it (not a RETRIES_EXHAUSTED, which the client would take as final).
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, type SpindleError, isSpindleError } from '../common/errors.js';
import { callUnary } from '../common/rpc.js';
import { type TestCluster, pattern, settleRouting, startTestCluster, write, writeRequest } from './testing/cluster.js';

const FORWARD_TIMEOUT_MS = 500;

let cluster: TestCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Two nodes, chain 1 = node0 → node1; node1 is then stopped. */
async function headWithDeadSuccessor() {
  const started = await startTestCluster({ nodes: 2, config: { forwardTimeoutMs: `${FORWARD_TIMEOUT_MS}ms` } });
  cluster = started;
  const [a, b] = started.nodes.map((n) => n.targetIds[0]!);
  const { chainVersion } = started.mgmt.setChain(1, [a!, b!]);
  await settleRouting(started);
  await started.nodes[1]!.close();
  return { cluster: started, head: started.client(started.nodes[0]!), chainVersion };
}

describe('forwarding to a chain successor that does not answer', () => {
  it("RemoveChunks gives up after forwardTimeoutMs with the successor's retryable error", async () => {
    const { head, chainVersion } = await headWithDeadSuccessor();
    const startedMs = performance.now();
    const outcome = await callUnary(
      head,
      head.removeChunks,
      { chainId: 1, chainVersion, ino: 5, fromIndex: 0, fromTargetId: 0 },
      'storage.RemoveChunks',
      { timeoutMs: 10_000 },
    ).catch((e: unknown) => e);
    const tookMs = performance.now() - startedMs;

    expect(isSpindleError(outcome, ErrorCode.RPC_UNAVAILABLE), String(outcome)).toBe(true);
    expect((outcome as SpindleError).retryable).toBe(true);
    expect(tookMs).toBeLessThan(FORWARD_TIMEOUT_MS + 2_000);
  });

  it('an update goes on past forwardTimeoutMs until the successor is back, then commits on both', async () => {
    const { cluster, head, chainVersion } = await headWithDeadSuccessor();
    const data = pattern(1000, 3);
    const written = write(head, writeRequest({ chainId: 1, chainVersion, chunk: { ino: 6, index: 0 }, data }));
    let settled = false;
    void written.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((resolve) => setTimeout(resolve, 3 * FORWARD_TIMEOUT_MS));
    expect(settled).toBe(false);

    const back = await cluster.startNode(1);
    await expect(written).resolves.toMatchObject({ length: 1000, commitVersion: 1, chunkCrc32c: expect.any(Number) });
    const successor = cluster.client(back);
    const stored = await callUnary(
      successor,
      successor.dumpChunkMeta,
      { chainId: 1, chainVersion: 0, limit: 0, ino: 6 },
      'storage.DumpChunkMeta',
    );
    expect(stored.chunks.map((c) => [c.chunk?.index, c.commitVersion, c.length])).toEqual([[0, 1, 1000]]);
  }, 30_000);
});
