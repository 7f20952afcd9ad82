// A resync copy carries the exactly-once records of its chunk (docs/simulation.md K2): a replica
// that got a chunk only through a resync, and then heads the chain, answers a client's retry of a
// write in that chunk from the record instead of running it a second time. Two real storage nodes
// on loopback gRPC, real lmdb and block files; the fake manager sets the public target states.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../common/crc32c.js';
import { callUnary } from '../common/rpc.js';
import { LocalTargetState, PublicTargetState, UpdateType, type WriteRequest } from '../proto/index.js';
import { CHUNK_SIZE, pattern, settleRouting, startTestCluster, write, type TestCluster } from './testing/cluster.js';
import { reportedState, waitFor } from './testing/chain-faults.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 2 });
});

afterAll(async () => {
  await cluster?.close();
});

function clientWrite(clientId: string, seqnum: number, chainVersion: number, data: Buffer, ino: number): WriteRequest {
  return {
    tag: { clientId, requestId: seqnum },
    chainId: 1,
    chainVersion,
    chunk: { ino, index: 0 },
    type: UpdateType.WRITE,
    offset: 0,
    data,
    dataCrc32c: crc32c(data),
    chunkSizeBytes: CHUNK_SIZE,
    channelId: 1,
    seqnum,
  };
}

const reported = (index: number) => reportedState(cluster, index);

describe('a resync copy carries the exactly-once records of its chunk', () => {
  it('a retry at a head that got the chunk by resync is answered from the record, run once', async () => {
    const [a, b] = cluster.nodes.map((n) => n.targetIds[0]!) as [number, number];
    const ino = 31;
    cluster.mgmt.setChain(1, [a, b]);
    cluster.mgmt.setTargetState(b, PublicTargetState.OFFLINE);
    let chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    // The write commits on target a alone; its answer is lost, so the client will retry it.
    const data = pattern(30_000, 7);
    const answered = await write(
      cluster.client(cluster.nodes[0]!),
      clientWrite('client-r', 5, chainVersion, data, ino),
    );

    // Target b returns: the resync copies the chunk (b never saw the write itself).
    cluster.mgmt.setTargetState(b, PublicTargetState.SYNCING);
    await settleRouting(cluster);
    await waitFor('the returning target reported up to date', () => reported(1) === LocalTargetState.UPTODATE);
    cluster.mgmt.setTargetState(b, PublicTargetState.SERVING);
    // Then a fails and b heads the chain.
    chainVersion = cluster.mgmt.setChain(1, [b]).chainVersion;
    await settleRouting(cluster);

    const newHead = cluster.client(cluster.nodes[1]!);
    const retry = await write(newHead, clientWrite('client-r', 5, chainVersion, data, ino));
    expect(retry).toEqual(answered);
    const { chunks } = await callUnary(
      newHead,
      newHead.dumpChunkMeta,
      { chainId: 1, chainVersion: 0, limit: 10, ino, after: undefined },
      'storage.DumpChunkMeta',
    );
    expect(chunks.map((c) => c.commitVersion)).toEqual([answered.commitVersion]);
    const metrics = await cluster.nodes[0]!.registry.metrics();
    expect(metrics).toMatch(/spindle_storage_resync_chunks_total\{action="copied"\} [1-9]/);
  });
});
