// A write onto a chunk whose bytes went bad on a middle replica, while the tail is syncing: the
// middle's forward to a syncing successor is the whole chunk as a REPLACE, and its bytes fail their
// checksums. Sent as a damaged copy, it overwrote the tail's own intact copy, so one corrupt block
// ended on two replicas under an acknowledged version (simulator seeds 1522, 2441, 3232:
// docs/simulation.md). The write must fail instead (CHUNK_CORRUPT, retryable), the syncing tail
// keep its intact copy, and the retry succeed once the middle's copy is repaired from a good one.
// Three real storage nodes on loopback gRPC, real block files (a byte flipped on disk); the fake
// manager sets the public target states.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, asSpindleError } from '../common/errors.js';
import { LocalTargetState, PublicTargetState } from '../proto/index.js';
import { settleRouting, startTestCluster, write, writeRequest, type TestCluster } from './testing/cluster.js';
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

describe('a write onto a chunk that is corrupt on the replica before a syncing successor', () => {
  it('fails, and the syncing successor keeps its intact copy', async () => {
    const [a, b, c] = cluster.nodes.map((n) => n.targetIds[0]!) as [number, number, number];
    const ino = 70;
    cluster.mgmt.setChain(1, [a, b, c]);
    let chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    const head = cluster.client(cluster.nodes[0]!);
    const first = randomBytes(10_000);
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk: { ino, index: 0 }, data: first }));
    // c leaves and comes back syncing, holding v1 intact; then b's copy of v1 goes bad.
    await setState(c, PublicTargetState.OFFLINE);
    chainVersion = await setState(c, PublicTargetState.SYNCING);
    await flipByteOf(cluster.nodes[1]!.dataDir, first.subarray(100, 164));

    // An append: a and b apply it in place; b's chunk now fails its checksums, so b must not copy
    // it over c's.
    const appended = randomBytes(1_000);
    const append = () =>
      write(
        head,
        writeRequest({ chainId: 1, chainVersion, chunk: { ino, index: 0 }, offset: first.length, data: appended }),
      );
    const failed = await append().then(
      () => undefined,
      (err: unknown) => asSpindleError(err).errorCode,
    );
    expect(failed).toBe(ErrorCode.CHUNK_CORRUPT);

    // c's resync finds its v1 equal to b's (same version and checksum): nothing copied over it.
    await waitFor('the syncing target reported up to date', () => reported(2) === LocalTargetState.UPTODATE);
    chainVersion = await setState(c, PublicTargetState.SERVING);
    const onC = await readChunk(cluster.client(cluster.nodes[2]!), chainVersion, ino);
    expect(onC.status?.code).toBe(ErrorCode.OK);
    expect(Buffer.compare(onC.data, first)).toBe(0);

    // A read on b finds its copy bad and repairs it from a serving replica; the retry then succeeds
    // and every replica serves the whole chunk.
    const onB = cluster.client(cluster.nodes[1]!);
    await waitFor('b repaired', async () => (await readChunk(onB, chainVersion, ino)).status?.code === ErrorCode.OK);
    const ack = await append();
    expect(ack.commitVersion).toBe(2);
    const whole = Buffer.concat([first, appended]);
    for (const node of cluster.nodes) {
      const result = await readChunk(cluster.client(node), chainVersion, ino);
      expect(Buffer.compare(result.data, whole)).toBe(0);
    }
  });
});
