// Exactly-once across a head change (docs/3fs-notes.md §2.3): a client write carries its
// (client id, channel, seqnum) down the chain and every replica records it when it commits, so a
// retry sent to a new head after a failover — or to a restarted node — is answered from the record
// and does not overwrite a later write of another client to the same range.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.js';
import { crc32c } from '../common/crc32c.js';
import { ErrorCode, isSpindleError } from '../common/errors.js';
import { UpdateType, type StorageClient, type WriteRequest } from '../proto/index.js';
import { ChannelRecords } from './channel-records.js';
import {
  CHUNK_SIZE,
  batchRead,
  pattern,
  readIO,
  settleRouting,
  startTestCluster,
  write,
  type TestCluster,
} from './testing/cluster.js';

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

async function readAll(client: StorageClient, chainVersion: number, ino: number): Promise<Buffer> {
  const { results } = await batchRead(client, [readIO(1, chainVersion, { chunk: { ino, index: 0 } })]);
  expect(results[0]!.status!.code).toBe(0);
  return results[0]!.data;
}

describe('exactly-once writes across a head change', () => {
  let cluster: TestCluster;
  let targets: number[];

  beforeAll(async () => {
    cluster = await startTestCluster({ nodes: 3 });
    targets = cluster.nodes.map((n) => n.targetIds[0]!);
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it("a retry at the new head is answered from the record, leaving another client's later write in place", async () => {
    const ino = 21;
    const v1 = cluster.mgmt.setChain(1, targets).chainVersion;
    await settleRouting(cluster);
    // Client A's write commits on every replica; its answer is lost (the head then fails).
    const first = pattern(50_000, 1);
    const answered = await write(cluster.client(cluster.nodes[0]!), clientWrite('client-a', 7, v1, first, ino));
    // The manager drops the old head: node1 heads the chain.
    const v2 = cluster.mgmt.setChain(1, [targets[1]!, targets[2]!]).chainVersion;
    await settleRouting(cluster);
    const newHead = cluster.client(cluster.nodes[1]!);
    // Client B overwrites the same range through the new head.
    const second = pattern(50_000, 2);
    const later = await write(newHead, clientWrite('client-b', 1, v2, second, ino));
    expect(later.commitVersion).toBe(answered.commitVersion + 1);
    // Client A retries with the same channel and seqnum: the first result, nothing re-applied.
    const retry = await write(newHead, clientWrite('client-a', 7, v2, first, ino));
    expect(retry).toEqual(answered);
    for (const node of cluster.nodes.slice(1))
      expect(Buffer.compare(await readAll(cluster.client(node), v2, ino), second)).toBe(0);
    // The same seqnum with other bytes, and an older seqnum, are refused.
    const other = await write(newHead, clientWrite('client-a', 7, v2, pattern(50_000, 3), ino)).catch(
      (e: unknown) => e,
    );
    expect(isSpindleError(other, ErrorCode.DUPLICATE_REQUEST_MISMATCH)).toBe(true);
    const outdated = await write(newHead, clientWrite('client-a', 6, v2, first, ino)).catch((e: unknown) => e);
    expect(isSpindleError(outdated, ErrorCode.DUPLICATE_REQUEST_MISMATCH)).toBe(true);
  });

  it('the record survives a restart of the node that answers the retry', async () => {
    const ino = 22;
    const v1 = cluster.mgmt.setChain(1, [targets[1]!, targets[2]!]).chainVersion;
    await settleRouting(cluster);
    const first = pattern(40_000, 4);
    const answered = await write(cluster.client(cluster.nodes[1]!), clientWrite('client-c', 3, v1, first, ino));
    // node2 (the tail) restarts, then heads the chain; client D writes, client C retries.
    await cluster.nodes[2]!.close();
    await cluster.startNode(2);
    const v2 = cluster.mgmt.setChain(1, [targets[2]!]).chainVersion;
    await settleRouting(cluster);
    const head = cluster.client(cluster.nodes[2]!);
    const second = pattern(40_000, 5);
    await write(head, clientWrite('client-d', 1, v2, second, ino));
    expect(await write(head, clientWrite('client-c', 3, v2, first, ino))).toEqual(answered);
    expect(Buffer.compare(await readAll(head, v2, ino), second)).toBe(0);
  });
});

describe('ChannelRecords bounds', () => {
  const response = { length: 1, commitVersion: 1, chunkCrc32c: 0 };

  it('forgets the least recently used channel beyond its capacity', () => {
    const records = ChannelRecords.inMemory({ clock: new ManualClock(0), capacity: 2 });
    records.record('a', 1, 'fa', response);
    records.record('b', 1, 'fb', response);
    expect(records.lookup('a', 1, 'fa')).toEqual(response); // a is now the most recent
    records.record('c', 1, 'fc', response);
    expect(records.size).toBe(2);
    expect(records.lookup('b', 1, 'fb')).toBeUndefined();
    expect(records.lookup('a', 1, 'fa')).toEqual(response);
  });

  it('forgets channels idle for longer than idleMs, and keeps the newest seqnum', () => {
    const clock = new ManualClock(0);
    const records = ChannelRecords.inMemory({ clock, idleMs: 1_000 });
    records.record('a', 5, 'f5', response);
    records.record('a', 4, 'f4', response); // older: ignored
    expect(records.lookup('a', 5, 'f5')).toEqual(response);
    expect(records.lookup('a', 6, 'f6')).toBeUndefined(); // newer: runs
    clock.advance(1_000);
    expect(records.lookup('a', 5, 'f5')).toBeUndefined();
    expect(records.size).toBe(0);
  });
});
