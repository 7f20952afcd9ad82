// The double fault (docs/failures.md, "Corrupted replicas"): the only serving replica holds a chunk
// that fails its checksum while the replicas with good copies are out of the chain. The resync of a
// returning replica must not stop at that chunk (the chain would stay without it for good): the
// chunk is copied as damaged, under its recorded checksums, so reads of it fail on both replicas
// (never wrong bytes) while every other chunk serves; once a replica with a good copy serves again,
// the damaged copies are repaired from it. Three real storage nodes on loopback gRPC, real block
// files (a byte flipped on disk); the fake manager sets the public target states.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.js';
import { callUnary } from '../common/rpc.js';
import { LocalTargetState, PublicTargetState } from '../proto/index.js';
import { startTestCluster, write, writeRequest, type TestCluster } from './testing/cluster.js';
import { flipByteOf, readChunk, reportedState, setTargetState, waitFor } from './testing/chain-faults.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 3 });
});

afterAll(async () => {
  await cluster?.close();
});

const reported = (index: number) => reportedState(cluster, index);
const setState = (targetId: number, state: PublicTargetState) => setTargetState(cluster, targetId, state);

describe('a corrupt chunk on the only serving replica', () => {
  it('does not stop the resync; reads of it fail until a good copy returns and repairs it', async () => {
    const [a, b, c] = cluster.nodes.map((n) => n.targetIds[0]!) as [number, number, number];
    const [bad, good] = [60, 61];
    cluster.mgmt.setChain(1, [a, b, c]);
    let chainVersion = await setState(b, PublicTargetState.OFFLINE);
    // Two chunks written while b is out: a and c hold them.
    const badBytes = randomBytes(100_000);
    const goodBytes = randomBytes(50_000);
    const head = cluster.client(cluster.nodes[0]!);
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk: { ino: bad, index: 0 }, data: badBytes }));
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk: { ino: good, index: 0 }, data: goodBytes }));
    // c, with its good copies, goes out; then a's copy of the first chunk goes bad.
    chainVersion = await setState(c, PublicTargetState.OFFLINE);
    await flipByteOf(cluster.nodes[0]!.dataDir, badBytes.subarray(70_000, 70_064));
    expect((await readChunk(head, chainVersion, bad)).status?.code).toBe(ErrorCode.CHUNK_CORRUPT);

    // b returns: its resync completes, copying the bad chunk as damaged.
    await setState(b, PublicTargetState.SYNCING);
    await waitFor('the returning target reported up to date', () => reported(1) === LocalTargetState.UPTODATE);
    chainVersion = await setState(b, PublicTargetState.SERVING);
    const onB = cluster.client(cluster.nodes[1]!);
    expect((await readChunk(onB, chainVersion, bad)).status?.code).toBe(ErrorCode.CHUNK_CORRUPT);
    expect(Buffer.compare((await readChunk(onB, chainVersion, good)).data, goodBytes)).toBe(0);
    const metricsA = await cluster.nodes[0]!.registry.metrics();
    expect(metricsA).toMatch(/spindle_storage_resync_chunks_total\{action="damaged"\} 1/);
    // a's repair finds no good copy on a serving replica: the scrub view says lost.
    await waitFor('a repair of the bad chunk reported lost', async () => {
      await readChunk(head, chainVersion, bad);
      const status = await callUnary(head, head.scrubStatus, {}, 'storage.ScrubStatus');
      return status.recent.some((r) => r.chunk?.ino === bad && r.outcome === 'lost');
    });

    // c returns with its good copy (same version: nothing to copy) and serves: repairs use it.
    await setState(c, PublicTargetState.SYNCING);
    await waitFor('the target with the good copy reported up to date', () => reported(2) === LocalTargetState.UPTODATE);
    chainVersion = await setState(c, PublicTargetState.SERVING);
    for (const client of [head, onB]) {
      await waitFor('the damaged copy repaired', async () => {
        const result = await readChunk(client, chainVersion, bad);
        return result.status?.code === ErrorCode.OK && Buffer.compare(result.data, badBytes) === 0;
      });
    }
  });
});
