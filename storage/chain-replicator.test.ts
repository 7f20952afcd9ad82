// Chain replication across three storage nodes in one process (loopback gRPC, fake manager).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../common/crc32c.js';
import { ErrorCode, isSpindleError } from '../common/errors.js';
import { callUnary } from '../common/rpc.js';
import { PublicTargetState, UpdateType, type StorageClient } from '../proto/index.js';
import {
  CHUNK_SIZE,
  batchRead,
  pattern,
  readIO,
  settleRouting,
  startTestCluster,
  write,
  writeRequest,
  type TestCluster,
} from './testing/cluster.js';

let cluster: TestCluster;
/** chain 1: node0 → node1 → node2 (head first). */
let chainVersion: number;
let head: StorageClient;

async function expectCode(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${ErrorCode[code]}`).toBeDefined();
  if (!isSpindleError(err, code)) throw new Error(`expected ${ErrorCode[code]}, got ${String(err)}`);
  if (message) expect(err.message).toMatch(message);
}

function dump(client: StorageClient, chainId = 1, ino = 0) {
  return callUnary(client, client.dumpChunkMeta, { chainId, chainVersion: 0, limit: 0, ino }, 'storage.DumpChunkMeta');
}

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 3 });
  const [a, b, c] = cluster.nodes.map((n) => n.targetIds[0]!);
  chainVersion = cluster.mgmt.setChain(1, [a!, b!, c!]).chainVersion;
  await settleRouting(cluster);
  head = cluster.client(cluster.nodes[0]!);
});

afterAll(async () => {
  await cluster?.close();
});

describe('chain replication', () => {
  it('a write at the head reaches every replica with the same bytes, version and CRC', async () => {
    const data = pattern(100_000, 1);
    const response = await write(head, writeRequest({ chainId: 1, chainVersion, chunk: { ino: 10, index: 0 }, data }));
    expect(response).toEqual({ length: data.length, commitVersion: 1, chunkCrc32c: crc32c(data) });
    for (const node of cluster.nodes) {
      const client = cluster.client(node);
      const { results } = await batchRead(client, [readIO(1, chainVersion, { chunk: { ino: 10, index: 0 } })]);
      expect(results[0]!.status!.code).toBe(0);
      expect(Buffer.compare(results[0]!.data, data)).toBe(0);
      const meta = (await dump(client, 1, 10)).chunks;
      expect(meta).toEqual([
        {
          chunk: { ino: 10, index: 0 },
          commitVersion: 1,
          updateVersion: 1,
          chainVersion,
          length: data.length,
          crc32c: crc32c(data),
        },
      ]);
    }
    // A partial overwrite and an append keep replicas identical.
    await write(
      head,
      writeRequest({ chainId: 1, chainVersion, chunk: { ino: 10, index: 0 }, offset: 500, data: Buffer.from('patch') }),
    );
    const second = await write(
      head,
      writeRequest({
        chainId: 1,
        chainVersion,
        chunk: { ino: 10, index: 0 },
        offset: 100_000,
        data: pattern(50_000, 2),
      }),
    );
    expect(second.commitVersion).toBe(3);
    expect(second.length).toBe(150_000);
    const expected = Buffer.concat([data, pattern(50_000, 2)]);
    Buffer.from('patch').copy(expected, 500);
    expect(second.chunkCrc32c).toBe(crc32c(expected));
    for (const node of cluster.nodes) {
      const [meta] = (await dump(cluster.client(node), 1, 10)).chunks;
      expect(meta).toMatchObject({ commitVersion: 3, length: 150_000, crc32c: crc32c(expected) });
    }
  });

  it('only the head accepts client writes', async () => {
    const request = writeRequest({ chainId: 1, chainVersion, chunk: { ino: 11, index: 0 }, data: Buffer.from('x') });
    await expectCode(write(cluster.client(cluster.nodes[1]!), request), ErrorCode.NOT_CHAIN_HEAD);
    await expectCode(write(cluster.client(cluster.nodes[2]!), request), ErrorCode.NOT_CHAIN_HEAD);
  });

  it('a retried write (same channel and seqnum) is applied once and answered with the first result', async () => {
    const request = writeRequest({
      chainId: 1,
      chainVersion,
      chunk: { ino: 12, index: 0 },
      data: pattern(1000, 3),
      channelId: 7,
      seqnum: 1,
    });
    // Two copies in flight at once, then a late retry.
    const [first, concurrent] = await Promise.all([write(head, request), write(head, request)]);
    const late = await write(head, request);
    expect(first).toEqual(concurrent);
    expect(late).toEqual(first);
    expect(first.commitVersion).toBe(1);
    const [meta] = (await dump(head, 1, 12)).chunks;
    expect(meta!.commitVersion).toBe(1);
    // The next seqnum applies; an older one is refused; a reused seqnum with other bytes is refused.
    const next = await write(head, {
      ...request,
      seqnum: 2,
      offset: 1000,
      data: Buffer.from('more'),
      dataCrc32c: crc32c(Buffer.from('more')),
    });
    expect(next.commitVersion).toBe(2);
    await expectCode(write(head, request), ErrorCode.DUPLICATE_REQUEST_MISMATCH, /outdated/);
    await expectCode(write(head, { ...request, seqnum: 2 }), ErrorCode.DUPLICATE_REQUEST_MISMATCH, /different write/);
    // Another channel of the same client is independent.
    const other = await write(head, { ...request, channelId: 8, seqnum: 1, offset: 0 });
    expect(other.commitVersion).toBe(3);
  });

  it('TRUNCATE and REMOVE go down the chain', async () => {
    const chunk = { ino: 13, index: 2 };
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk, data: pattern(5000, 4) }));
    const cut = await write(
      head,
      writeRequest({ chainId: 1, chainVersion, chunk, type: UpdateType.TRUNCATE, offset: 100 }),
    );
    expect(cut).toEqual({ length: 100, commitVersion: 2, chunkCrc32c: crc32c(pattern(5000, 4).subarray(0, 100)) });
    for (const node of cluster.nodes) {
      const [meta] = (await dump(cluster.client(node), 1, 13)).chunks;
      expect(meta).toMatchObject({ length: 100, commitVersion: 2 });
    }
    await expectCode(
      write(
        head,
        writeRequest({ chainId: 1, chainVersion, chunk: { ino: 13, index: 9 }, type: UpdateType.TRUNCATE, offset: 10 }),
      ),
      ErrorCode.CHUNK_NOT_FOUND,
    );
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk, type: UpdateType.REMOVE }));
    for (const node of cluster.nodes) {
      expect((await dump(cluster.client(node), 1, 13)).chunks).toEqual([]);
      const { results } = await batchRead(cluster.client(node), [readIO(1, chainVersion, { chunk })]);
      expect(results[0]!.status!.code).toBe(ErrorCode.CHUNK_NOT_FOUND);
    }
  });

  it('RemoveChunks removes a file range on every replica; QueryLastChunk finds the last chunk', async () => {
    for (const index of [0, 1, 2, 5, 8]) {
      await write(
        head,
        writeRequest({ chainId: 1, chainVersion, chunk: { ino: 14, index }, data: pattern(100 + index, index) }),
      );
    }
    const last = await callUnary(head, head.queryLastChunk, { chainId: 1, chainVersion, ino: 14 }, 'q');
    expect(last).toEqual({ found: true, index: 8, length: 108 });
    // RemoveChunks from a client must go to the head.
    await expectCode(
      callUnary(
        cluster.client(cluster.nodes[1]!),
        cluster.client(cluster.nodes[1]!).removeChunks,
        { chainId: 1, chainVersion, ino: 14, fromIndex: 2, fromTargetId: 0 },
        'r',
      ),
      ErrorCode.NOT_CHAIN_HEAD,
    );
    const removed = await callUnary(
      head,
      head.removeChunks,
      { chainId: 1, chainVersion, ino: 14, fromIndex: 2, fromTargetId: 0 },
      'r',
    );
    expect(removed.removed).toBe(3);
    for (const node of cluster.nodes) {
      const client = cluster.client(node);
      expect((await dump(client, 1, 14)).chunks.map((c) => c.chunk!.index)).toEqual([0, 1]);
      expect(await callUnary(client, client.queryLastChunk, { chainId: 1, chainVersion, ino: 14 }, 'q')).toEqual({
        found: true,
        index: 1,
        length: 101,
      });
    }
    expect(await callUnary(head, head.queryLastChunk, { chainId: 1, chainVersion, ino: 999 }, 'q')).toEqual({
      found: false,
      index: 0,
      length: 0,
    });
  });

  it('replicas classify updates: already committed → current state, a gap → MISSING_UPDATE', async () => {
    const chunk = { ino: 15, index: 0 };
    const data = pattern(300, 5);
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk, data }));
    const tail = cluster.client(cluster.nodes[2]!);
    const update = {
      chainId: 1,
      chainVersion,
      chunk,
      type: UpdateType.WRITE,
      offset: 0,
      data: Buffer.from('zz'),
      dataCrc32c: crc32c(Buffer.from('zz')),
      chunkSizeBytes: CHUNK_SIZE,
      updateVersion: 1,
      fromTargetId: cluster.nodes[1]!.targetIds[0]!,
    };
    // Version 1 is committed: the replica answers with its committed state and changes nothing.
    expect(await callUnary(tail, tail.update, update, 'u')).toEqual({
      length: 300,
      commitVersion: 1,
      chunkCrc32c: crc32c(data),
    });
    await expectCode(callUnary(tail, tail.update, { ...update, updateVersion: 3 }, 'u'), ErrorCode.MISSING_UPDATE);
    const [meta] = (await dump(tail, 1, 15)).chunks;
    expect(meta).toMatchObject({ commitVersion: 1, updateVersion: 1, crc32c: crc32c(data) });
  });
});

describe('chain versions', () => {
  it('a stale version is refused; a newer one makes the node refresh routing first', async () => {
    const request = writeRequest({ chainId: 1, chainVersion, chunk: { ino: 20, index: 0 }, data: Buffer.from('v') });
    await expectCode(
      write(head, { ...request, chainVersion: chainVersion - 1 }),
      ErrorCode.CHAIN_VERSION_MISMATCH,
      /refresh routing/,
    );
    await expectCode(write(head, { ...request, chainVersion: chainVersion + 5 }), ErrorCode.CHAIN_VERSION_MISMATCH);
    // The manager bumps the chain; a client that already knows the new version succeeds at once
    // even though the nodes have not heard of it yet (they refresh on seeing the newer version).
    const bumped = cluster.mgmt.bumpChain(1).chainVersion;
    // (Its own channel: every replica records channel 1's last seqnum, and later tests go on with
    // the shared counter's lower ones.)
    const response = await write(head, {
      ...request,
      chainVersion: bumped,
      channelId: 9,
      seqnum: request.seqnum + 1000,
    });
    expect(response.commitVersion).toBe(1);
    await expectCode(
      write(head, { ...request, chainVersion, channelId: 9, seqnum: request.seqnum + 1001 }),
      ErrorCode.CHAIN_VERSION_MISMATCH,
    );
    chainVersion = bumped;
    const { results } = await batchRead(cluster.client(cluster.nodes[2]!), [
      readIO(1, chainVersion, { chunk: { ino: 20, index: 0 } }),
      readIO(1, chainVersion - 1, { chunk: { ino: 20, index: 0 } }),
    ]);
    expect(results.map((r) => r.status!.code)).toEqual([0, ErrorCode.CHAIN_VERSION_MISMATCH]);
    expect(results[0]!.data.toString()).toBe('v');
  });

  it('a reordered chain moves the head; the old head refuses client writes', async () => {
    const [a, b, c] = cluster.mgmt.chain(1).targetIds;
    const version = cluster.mgmt.setChain(1, [b!, c!, a!]).chainVersion;
    await settleRouting(cluster);
    const request = writeRequest({
      chainId: 1,
      chainVersion: version,
      chunk: { ino: 21, index: 0 },
      data: pattern(4000, 6),
    });
    await expectCode(write(head, request), ErrorCode.NOT_CHAIN_HEAD);
    const response = await write(cluster.client(cluster.nodes[1]!), request);
    expect(response.commitVersion).toBe(1);
    for (const node of cluster.nodes) {
      const [meta] = (await dump(cluster.client(node), 1, 21)).chunks;
      expect(meta).toMatchObject({ commitVersion: 1, crc32c: crc32c(pattern(4000, 6)), chainVersion: version });
    }
    // Restore the original order for the other tests.
    chainVersion = cluster.mgmt.setChain(1, [a!, b!, c!]).chainVersion;
    await settleRouting(cluster);
  });

  it('a target that is not serving is skipped for writes and refuses reads', async () => {
    const [a, b, c] = cluster.mgmt.chain(1).targetIds;
    cluster.mgmt.setTargetState(c!, PublicTargetState.OFFLINE);
    chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    const chunk = { ino: 22, index: 0 };
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk, data: Buffer.from('two replicas') }));
    expect((await dump(cluster.client(cluster.nodes[1]!), 1, 22)).chunks).toHaveLength(1);
    expect((await dump(cluster.client(cluster.nodes[2]!), 1, 22)).chunks).toHaveLength(0);
    const { results } = await batchRead(cluster.client(cluster.nodes[2]!), [readIO(1, chainVersion, { chunk })]);
    expect(results[0]!.status!.code).toBe(ErrorCode.TARGET_NOT_SERVING);
    cluster.mgmt.setTargetState(c!, PublicTargetState.SERVING);
    chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    expect([a, b]).toHaveLength(2);
  });

  it('a syncing successor gets full-chunk replaces and catches up; it serves no reads meanwhile', async () => {
    const [, , c] = cluster.mgmt.chain(1).targetIds;
    const chunk = { ino: 23, index: 0 };
    const tail = cluster.client(cluster.nodes[2]!);
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk, data: pattern(3000, 7) }));
    // The tail misses version 2 while offline ...
    cluster.mgmt.setTargetState(c!, PublicTargetState.OFFLINE);
    chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk, offset: 3000, data: pattern(1000, 8) }));
    expect((await dump(tail, 1, 23)).chunks[0]).toMatchObject({ commitVersion: 1, length: 3000 });
    // ... and, syncing, receives version 3 as the whole chunk although it lacks version 2.
    cluster.mgmt.setTargetState(c!, PublicTargetState.SYNCING);
    chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    const response = await write(
      head,
      writeRequest({ chainId: 1, chainVersion, chunk, offset: 10, data: Buffer.from('sync') }),
    );
    const expected = Buffer.concat([pattern(3000, 7), pattern(1000, 8)]);
    Buffer.from('sync').copy(expected, 10);
    expect(response).toEqual({ length: 4000, commitVersion: 3, chunkCrc32c: crc32c(expected) });
    expect((await dump(tail, 1, 23)).chunks[0]).toMatchObject({
      commitVersion: 3,
      length: 4000,
      crc32c: crc32c(expected),
    });
    const { results } = await batchRead(tail, [readIO(1, chainVersion, { chunk })]);
    expect(results[0]!.status!.code).toBe(ErrorCode.TARGET_NOT_SERVING);
    cluster.mgmt.setTargetState(c!, PublicTargetState.SERVING);
    chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    const after = await batchRead(tail, [readIO(1, chainVersion, { chunk })]);
    expect(Buffer.compare(after.results[0]!.data, expected)).toBe(0);
  });

  it('the head repairs successors that diverged from it (ahead with other bytes, or behind)', async () => {
    const [a, b] = cluster.nodes;
    const middle = cluster.client(b!);
    const chunk = { ino: 24, index: 0 };
    const v1 = pattern(2000, 9);
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk, data: v1 }));
    const update = (version: number, type: UpdateType, data: Buffer) => ({
      chainId: 1,
      chainVersion,
      chunk,
      type,
      offset: 0,
      data,
      dataCrc32c: crc32c(data),
      chunkSizeBytes: CHUNK_SIZE,
      updateVersion: version,
      fromTargetId: a!.targetIds[0]!,
    });
    // Successors ahead: version 2 with bytes the head never committed (a write that failed at the head).
    await callUnary(middle, middle.update, update(2, UpdateType.WRITE, Buffer.from('lost write')), 'u');
    const response = await write(
      head,
      writeRequest({ chainId: 1, chainVersion, chunk, offset: 100, data: Buffer.from('acked') }),
    );
    const expected = Buffer.from(v1);
    Buffer.from('acked').copy(expected, 100);
    expect(response).toEqual({ length: 2000, commitVersion: 3, chunkCrc32c: crc32c(expected) });
    for (const node of cluster.nodes) {
      const { results } = await batchRead(cluster.client(node), [readIO(1, chainVersion, { chunk })]);
      expect(results[0]!.commitVersion).toBe(3);
      expect(Buffer.compare(results[0]!.data, expected)).toBe(0);
    }
    // Successors behind: they lost the chunk (removed behind the head's back).
    await callUnary(middle, middle.update, update(4, UpdateType.REMOVE, Buffer.alloc(0)), 'u');
    expect((await dump(middle, 1, 24)).chunks).toEqual([]);
    const again = await write(
      head,
      writeRequest({ chainId: 1, chainVersion, chunk, offset: 0, data: Buffer.from('X') }),
    );
    expected[0] = 'X'.charCodeAt(0);
    expect(again.chunkCrc32c).toBe(crc32c(expected));
    for (const node of cluster.nodes) {
      const [meta] = (await dump(cluster.client(node), 1, 24)).chunks;
      expect(meta).toMatchObject({ commitVersion: again.commitVersion, crc32c: crc32c(expected), length: 2000 });
    }
    const repairs = await a!.registry.getSingleMetricAsString('spindle_storage_chunk_repairs_total');
    expect(repairs).toMatch(/spindle_storage_chunk_repairs_total [2-9]/);
  });
});
