// A resync waits for the updates its node admitted before the chain named the syncing successor.
// An update admitted when this node was the chain's last writing target has no successor to
// forward to; if the chain changes while it is in flight, it commits here after the new successor
// was made SYNCING. The resync must not compare the chunk while that update still runs (it would
// look equal on both sides, and the successor would never get it): the simulator found it, seeds
// 2566 and 3254 (docs/simulation.md). Two real storage nodes on loopback gRPC, real lmdb and block
// files; the test holds the chunk lock of the predecessor's target for the update in flight.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../common/crc32c.js';
import { callUnary } from '../common/rpc.js';
import { LocalTargetState, PublicTargetState, UpdateType, type StorageClient } from '../proto/index.js';
import { chunkLockKey } from './resync-receiver.js';
import { pattern, settleRouting, startTestCluster, type TestCluster } from './testing/cluster.js';
import { reportedState, waitFor } from './testing/chain-faults.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 2 });
});

afterAll(async () => {
  await cluster?.close();
});

const reported = (index: number) => reportedState(cluster, index);

async function versionsOf(client: StorageClient, ino: number): Promise<number[]> {
  const { chunks } = await callUnary(
    client,
    client.dumpChunkMeta,
    { chainId: 1, chainVersion: 0, limit: 10, ino, after: undefined },
    'storage.DumpChunkMeta',
  );
  return chunks.map((c) => c.commitVersion);
}

describe('a resync and an update admitted before the chain named the syncing successor', () => {
  it('the resync waits for the update, then copies the chunk it committed', async () => {
    const [a, b] = cluster.nodes.map((n) => n.targetIds[0]!) as [number, number];
    const ino = 52;
    cluster.mgmt.setChain(1, [a, b]);
    cluster.mgmt.setTargetState(b, PublicTargetState.OFFLINE);
    const admittedAt = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    await waitFor('the offline target reported online', () => reported(1) === LocalTargetState.ONLINE);

    const nodeA = cluster.nodes[0]!;
    const engineA = nodeA.targets[0]!.engine;
    // The update holds the chunk lock from its version check (target a the chain's only writer,
    // no successor) to its commit; the chain names b SYNCING meanwhile.
    await nodeA.locks.withLock(chunkLockKey(a, ino, 0), async () => {
      cluster.mgmt.setTargetState(b, PublicTargetState.SYNCING);
      await settleRouting(cluster);
      // Time for a resync that does not wait to finish (b would report up to date without the chunk).
      await waitFor('b reported up to date', () => reported(1) === LocalTargetState.UPTODATE, 2_000).catch(() => false);
      const data = pattern(20_000, 3);
      await engineA.applyUpdate(ino, 0, 1, { type: UpdateType.WRITE, offset: 0, data, dataCrc32c: crc32c(data) });
      await engineA.commit(ino, 0, 1, admittedAt);
    });

    await waitFor('b reported up to date', () => reported(1) === LocalTargetState.UPTODATE);
    expect(await versionsOf(cluster.client(nodeA), ino)).toEqual([1]);
    expect(await versionsOf(cluster.client(cluster.nodes[1]!), ino)).toEqual([1]);
  });
});
