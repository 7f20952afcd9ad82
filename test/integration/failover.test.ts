// Failure and recovery with real processes (docs/design.md §4, issue 3): kill -9 a storage node while a
// client streams writes — the manager declares it failed within the timeout, moves its targets to
// the ends of their chains, and writes and reads go on; restart it on its old data — it resyncs
// from its predecessors and becomes serving; afterwards every replica of every chain holds the same
// chunks (same version, length, CRC and bytes). With 3 nodes × 3 targets and 3 replicas, the killed
// node is the head of one chain, the middle of another and the tail of the third.
//
// A second case freezes a node (SIGSTOP: it neither heartbeats nor answers, like a host cut off):
// the manager moves on without it; when it thaws, a write sent to it as the old head with the old
// chain version is refused (its lease ran out, then its successors fence the old version), and it
// resyncs back to serving.
//
// The measured times (failure detected, chains reconfigured, resync done) are printed as one JSON
// line (`failover-timings`) for docs/failures.md.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, asSpindleError } from '../../common/errors.js';
import { callUnary } from '../../common/rpc.js';
import { PublicTargetState, UpdateType, type RoutingInfo } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import {
  addressOfTarget,
  dumpFileChunks,
  readChunkFrom,
  routingOf,
  StorageClients,
  tableChains,
} from '../harness/replicas.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 3 });

const MiB = 1024 * 1024;
/** Bytes written before the kill, while the node is down, and while it resyncs. */
const BEFORE_BYTES = 6 * MiB;
const DOWN_BYTES = 8 * MiB;
const RESYNC_BYTES = 4 * MiB;
const BLOCK_BYTES = 512 * 1024;

async function waitForRouting(
  what: string,
  predicate: (routing: RoutingInfo) => boolean,
  timeoutMs = 30_000,
): Promise<RoutingInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const routing = await routingOf(cluster().metaAddress);
    if (predicate(routing)) return routing;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Equal bytes; on a difference, says where (a bare `false` helps nobody). */
function expectSame(got: Buffer, want: Buffer): void {
  if (got.equals(want)) return;
  let at = 0;
  while (at < Math.min(got.length, want.length) && got[at] === want[at]) at++;
  expect({ length: got.length, firstDifference: at }).toEqual({ length: want.length, firstDifference: want.length });
}

const targetsOfNode = (routing: RoutingInfo, nodeId: number) => routing.targets.filter((t) => t.nodeId === nodeId);

describe('failover and resync', () => {
  it('survives kill -9 of a storage node during writes and resyncs it after a restart', async () => {
    const client = await cluster().client();
    const total = BEFORE_BYTES + DOWN_BYTES;
    const expected = randomBytes(total);
    const handle = await client.open('/failover.bin', 'w+');
    const ino = handle.ino;
    const victim = cluster().nodes[1]!.id;
    const before = await routingOf(cluster().metaAddress);
    const victimTargets = targetsOfNode(before, victim).map((t) => t.targetId);
    const roles = tableChains(before).map((c) => c.targetIds.findIndex((id) => victimTargets.includes(id)));
    expect(roles.sort()).toEqual([0, 1, 2]); // head, middle and tail of one chain each

    // Stream writes; kill the node after BEFORE_BYTES acknowledged.
    let killedAtMs = 0;
    let written = 0;
    const killed = (async () => {
      while (written < BEFORE_BYTES) await new Promise((resolve) => setTimeout(resolve, 5));
      killedAtMs = Date.now();
      await cluster().killNode(victim, 'SIGKILL');
    })();
    const writing = (async () => {
      for (let at = 0; at < total; at += BLOCK_BYTES) {
        await handle.writeBytes(expected.subarray(at, at + BLOCK_BYTES), at);
        written = at + BLOCK_BYTES;
      }
    })();
    // The manager declares it failed and reconfigures its chains while writes go on.
    const down = await waitForRouting('the killed node to be declared failed', (r) =>
      targetsOfNode(r, victim).every((t) => t.publicState === PublicTargetState.OFFLINE),
    );
    const detectedMs = Date.now() - killedAtMs;
    for (const chain of tableChains(down)) {
      const last = chain.targetIds.at(-1)!;
      expect(victimTargets.includes(last), `chain ${chain.chainId} ends with the failed target`).toBe(true);
      expect(chain.chainVersion).toBeGreaterThan(before.chains.find((c) => c.chainId === chain.chainId)!.chainVersion);
    }
    expect(down.nodes.find((n) => n.nodeId === victim)!.alive).toBe(false);
    await killed;
    await writing;
    const writesDoneMs = Date.now() - killedAtMs;
    // Every acknowledged byte reads back from the remaining replicas.
    await handle.sync();
    expectSame(await client.readFile('/failover.bin'), expected);

    // Restart on the old data: waiting/syncing as the tail, then serving after the resync; writes go on meanwhile.
    const restartedAtMs = Date.now();
    await cluster().restartNode(victim);
    const overwrite = randomBytes(RESYNC_BYTES);
    const resyncWrites = (async () => {
      for (let at = 0; at < RESYNC_BYTES; at += BLOCK_BYTES) {
        await handle.writeBytes(overwrite.subarray(at, at + BLOCK_BYTES), at);
      }
    })();
    const serving = await waitForRouting(
      'the restarted node to serve again',
      (r) => targetsOfNode(r, victim).every((t) => t.publicState === PublicTargetState.SERVING),
      60_000,
    );
    const resyncMs = Date.now() - restartedAtMs;
    await resyncWrites;
    overwrite.copy(expected, 0);
    await handle.close();
    for (const chain of tableChains(serving))
      expect(chain.targetIds.at(-1)).toSatisfy((id: number) => victimTargets.includes(id));
    // The predecessors report their finished resyncs with their next heartbeat.
    const reported = await waitForRouting(
      'the resyncs reported done',
      (r) => targetsOfNode(r, victim).every((t) => t.resync?.done === true),
      10_000,
    );
    const resyncs = targetsOfNode(reported, victim).map((t) => t.resync!);
    const bytesCopied = resyncs.reduce((sum, r) => sum + r.bytesCopied, 0);
    expect(resyncs.map((r) => r.chunksCopied).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);

    expectSame(await client.readFile('/failover.bin'), expected);
    // Every replica of every chain holds the same chunks, with the file's bytes.
    const storage = new StorageClients();
    try {
      const routing = await routingOf(cluster().metaAddress);
      const rows = await dumpFileChunks(storage, routing, ino);
      const byChunk = new Map<string, typeof rows>();
      for (const row of rows) {
        const key = `${row.meta.chunk!.index}`;
        byChunk.set(key, [...(byChunk.get(key) ?? []), row]);
      }
      const stat = await client.stat('/failover.bin');
      const chunkSize = stat.layout!.chunkSizeBytes;
      expect(byChunk.size).toBe(Math.ceil(total / chunkSize));
      for (const [index, replicas] of byChunk) {
        expect(replicas, `chunk ${index} on every replica`).toHaveLength(3);
        const [first, ...others] = replicas;
        for (const other of others) {
          expect(
            { v: other.meta.commitVersion, len: other.meta.length, crc: other.meta.crc32c },
            `chunk ${index} on target ${other.targetId}`,
          ).toEqual({
            v: first!.meta.commitVersion,
            len: first!.meta.length,
            crc: first!.meta.crc32c,
          });
        }
        const chain = routing.chains.find((c) => c.chainId === first!.chainId)!;
        const want = expected.subarray(Number(index) * chunkSize, (Number(index) + 1) * chunkSize);
        for (const replica of replicas) {
          const bytes = await readChunkFrom(storage, replica.address, chain, { ino, index: Number(index) }, chunkSize);
          expect(bytes.equals(want), `bytes of chunk ${index} on target ${replica.targetId}`).toBe(true);
        }
      }
    } finally {
      storage.close();
    }
    console.log(
      'failover-timings',
      JSON.stringify({
        detectedMs,
        writesDoneAfterKillMs: writesDoneMs,
        resyncMs,
        bytesCopied,
        fileBytes: total,
        resyncWriteBytes: RESYNC_BYTES,
      }),
    );
  }, 180_000);

  it('a frozen node loses its chains, refuses writes as the old head when it thaws, and resyncs', async () => {
    const client = await cluster().client();
    const victim = cluster().nodes[2]!;
    const before = await routingOf(cluster().metaAddress);
    expect(before.targets.every((t) => t.publicState === PublicTargetState.SERVING)).toBe(true);
    const headed = tableChains(before).find((c) =>
      targetsOfNode(before, victim.id).some((t) => t.targetId === c.targetIds[0]),
    )!;
    const data = randomBytes(6 * MiB);
    await client.writeFile('/frozen.bin', data.subarray(0, 2 * MiB));
    const handle = await client.open('/frozen.bin', 'r+');
    const storage = new StorageClients();
    process.kill(victim.pid, 'SIGSTOP');
    let thawed = false;
    const thaw = () => {
      if (!thawed) process.kill(victim.pid, 'SIGCONT');
      thawed = true;
    };
    try {
      const frozenAtMs = Date.now();
      const detected = waitForRouting('the frozen node to be declared failed', (r) =>
        targetsOfNode(r, victim.id).every((t) => t.publicState === PublicTargetState.OFFLINE),
      ).then(() => Date.now() - frozenAtMs);
      // Writes go on without it.
      for (let at = 2 * MiB; at < data.length; at += BLOCK_BYTES)
        await handle.writeBytes(data.subarray(at, at + BLOCK_BYTES), at);
      await handle.sync();
      const detectedMs = await detected;
      thaw();
      // A client with the old routing writes to the old head: refused, never acknowledged.
      const stale = storage.get(addressOfTarget(before, headed.targetIds[0]!).address);
      const bytes = Buffer.from('split brain?');
      const outcome = await callUnary(
        stale,
        stale.write,
        {
          tag: { clientId: 'stale-client', requestId: 1 },
          chainId: headed.chainId,
          chainVersion: headed.chainVersion,
          chunk: { ino: 987_654_321, index: 0 },
          type: UpdateType.WRITE,
          offset: 0,
          data: bytes,
          dataCrc32c: crc32c(bytes),
          chunkSizeBytes: 65_536,
          channelId: 1,
          seqnum: 1,
        },
        'storage.Write',
        { timeoutMs: 20_000 },
      ).then(
        () => 'acknowledged',
        (err: unknown) => ErrorCode[asSpindleError(err).errorCode],
      );
      expect([
        'TARGET_NOT_SERVING',
        'CHAIN_VERSION_MISMATCH',
        'NOT_CHAIN_HEAD',
        'RPC_UNAVAILABLE',
        'TIMEOUT',
      ]).toContain(outcome);
      const thawedAtMs = Date.now();
      await waitForRouting(
        'the thawed node to serve again',
        (r) => targetsOfNode(r, victim.id).every((t) => t.publicState === PublicTargetState.SERVING),
        60_000,
      );
      const resyncMs = Date.now() - thawedAtMs;
      await handle.close();
      expectSame(await client.readFile('/frozen.bin'), data);
      const routing = await routingOf(cluster().metaAddress);
      const rows = await dumpFileChunks(storage, routing, handle.ino);
      const stale987 = await dumpFileChunks(storage, routing, 987_654_321);
      expect(stale987, 'the refused write left no chunk anywhere').toEqual([]);
      const byChunk = new Map<number, string[]>();
      for (const row of rows)
        byChunk.set(row.meta.chunk!.index, [
          ...(byChunk.get(row.meta.chunk!.index) ?? []),
          `${row.meta.commitVersion}:${row.meta.length}:${row.meta.crc32c}`,
        ]);
      for (const [index, replicas] of byChunk) {
        expect(replicas, `chunk ${index}`).toHaveLength(3);
        expect(new Set(replicas).size, `chunk ${index} identical on every replica`).toBe(1);
      }
      console.log('freeze-timings', JSON.stringify({ detectedMs, staleWrite: outcome, resyncMs }));
    } finally {
      thaw();
      storage.close();
    }
  }, 180_000);
});
