// Chunk writes against fake storage nodes: striping to the placed chains' heads, a stale chain
// version refreshed, exactly-once retries (same channel, seqnum and tag, also to a new head), a
// non-retryable error named with its chunk, and RETRIES_EXHAUSTED after the deadline. Each test
// runs with chunk bytes inside gRPC and as bulk frames.
import { describe, expect, it } from 'vitest';
import { clientConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { fileChains } from '../common/placement.js';
import { ChunkStore } from './chunk-store.js';
import {
  CHAINS,
  CHUNK,
  DATA_TRANSPORTS,
  layout,
  randomBytes,
  useFakeStorageCluster,
} from './testing/fake-storage-nodes.js';

describe.each(DATA_TRANSPORTS)('ChunkStore writes over fake storage nodes (data over $transport)', ({ transport }) => {
  const nodes = useFakeStorageCluster(transport);

  it('writes striped chunks to the placed chains and reads them back', async () => {
    const data = randomBytes(5 * CHUNK + 123, 1);
    await nodes.store.write(7, layout, 100, data);
    const chains = fileChains(layout, CHAINS);
    for (let index = 0; index <= 5; index++) {
      expect(nodes.state.chunks.has(`${chains[index % 3]}/7/${index}`)).toBe(true);
    }
    // Writes went to each chain's head: node ((c-1) % 3) + 1.
    for (const write of nodes.state.writes) expect(write.nodeId).toBe(((write.chainId - 1) % 3) + 1);
    const back = await nodes.store.read(7, layout, 100, data.length, { fileLength: 100 + data.length });
    expect(back.equals(data)).toBe(true);
    const head = await nodes.store.read(7, layout, 0, 200, { fileLength: 100 + data.length });
    expect(head.subarray(0, 100).equals(Buffer.alloc(100))).toBe(true);
    expect(head.subarray(100).equals(data.subarray(0, 100))).toBe(true);
  });

  it('refreshes routing and retries when the chain version is stale', async () => {
    for (const chainId of CHAINS) nodes.state.chainVersions.set(chainId, 2);
    nodes.publish();
    const before = nodes.fetches;
    const data = randomBytes(3 * CHUNK, 3);
    await nodes.store.write(9, layout, 0, data);
    expect(nodes.fetches).toBeGreaterThan(before);
    expect(nodes.routing.chain(1)?.chainVersion).toBe(2);
    expect((await nodes.store.read(9, layout, 0, data.length, { fileLength: data.length })).equals(data)).toBe(true);
  });

  it('retries a write whose answer was lost with the same channel, seqnum and tag, applying it once', async () => {
    let dropped = false;
    nodes.state.afterWrite = () => {
      if (!dropped) {
        dropped = true;
        throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'connection reset after apply');
      }
    };
    await nodes.store.write(10, layout, 0, Buffer.from('hello'));
    expect(nodes.state.writes).toHaveLength(2);
    const [first, retry] = nodes.state.writes;
    expect(retry).toMatchObject({
      channelId: first!.channelId,
      seqnum: first!.seqnum,
      requestId: first!.requestId,
      applied: false,
    });
    expect(first!.applied).toBe(true);
    // The next write on that channel takes the next seqnum.
    await nodes.store.write(10, layout, 5, Buffer.from('!'));
    const next = nodes.state.writes[2]!;
    expect(next.seqnum).toBeGreaterThan(first!.seqnum);
    expect((await nodes.store.read(10, layout, 0, 6, { fileLength: 6 })).toString()).toBe('hello!');
  });

  it('re-sends a write to the new head once the manager moved the dead head to the end, applying it once', async () => {
    const attempts: Array<{ nodeId: number; chainVersion: number; channelId: number; seqnum: number }> = [];
    nodes.state.beforeWrite = (nodeId, request) => {
      if (request.chainId !== 1) return;
      attempts.push({
        nodeId,
        chainVersion: request.chainVersion,
        channelId: request.channelId,
        seqnum: request.seqnum,
      });
      if (nodeId === 1) {
        // The head's node is gone; the manager declares it failed: offline, chain version +1.
        nodes.state.chainVersions.set(1, 2);
        nodes.publish([1001]);
        throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'node 1 is down');
      }
    };
    const data = randomBytes(3 * CHUNK, 12);
    await nodes.store.write(12, layout, 0, data);
    expect(attempts.map((a) => [a.nodeId, a.chainVersion])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(attempts[1]).toMatchObject({ channelId: attempts[0]!.channelId, seqnum: attempts[0]!.seqnum });
    expect(nodes.state.writes.filter((w) => w.chainId === 1 && w.applied)).toHaveLength(1);
    expect(nodes.routing.head(1)?.targetId).toBe(2001);
    expect((await nodes.store.read(12, layout, 0, data.length, { fileLength: data.length })).equals(data)).toBe(true);
  });

  it('surfaces a non-retryable error at once, naming the chunk', async () => {
    let calls = 0;
    nodes.state.beforeWrite = () => {
      calls++;
      throw new SpindleError(ErrorCode.NO_SPACE, 'target full');
    };
    const error = (await nodes.store.write(13, layout, 0, Buffer.from('x')).then(
      () => undefined,
      (e: unknown) => e,
    )) as SpindleError;
    expect(error).toBeInstanceOf(SpindleError);
    expect(error.code).toBe('ENOSPC');
    expect(error.message).toMatch(/write of chunk 0 of inode 13 on chain \d+: target full/);
    expect(calls).toBe(1);
  });

  it('gives up after the retry deadline with RETRIES_EXHAUSTED', async () => {
    const short = new ChunkStore({
      routing: nodes.routing,
      clientId: 'short',
      config: clientConfig('test', { retryDeadlineMs: 100, retryBackoffInitialMs: 1, retryBackoffMaxMs: 10 }),
      bulkTransport: nodes.bulkTransport,
    });
    nodes.state.beforeWrite = () => {
      throw new SpindleError(ErrorCode.CHUNK_NOT_COMMITTED, 'busy');
    };
    await expect(short.write(14, layout, 0, Buffer.from('x'))).rejects.toMatchObject({
      errorCode: ErrorCode.RETRIES_EXHAUSTED,
    });
    short.close();
  });
});
