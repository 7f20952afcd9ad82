// The storage node's bulk data path on real nodes (raw TCP bulk listeners, gRPC on loopback):
// writes whose bytes come as frames, reads answered with frames, large updates forwarded down a
// 3-replica chain as frames, and refusals of bad descriptors that change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpBulkTransport } from '../common/bulk/tcp-transport.js';
import type { BulkChannel } from '../common/bulk/transport.js';
import { crc32c } from '../common/crc32c.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { StorageBulkMethod, decodeBatchReadAnswer, encodeBatchReadCall } from '../common/storage-bulk-calls.js';
import { callUnary } from '../common/rpc.js';
import type { BatchReadResponse, ReadIO, StorageClient, WriteRequest, WriteResponse } from '../proto/index.js';
import { BULK_FORWARD_MIN_BYTES } from './bulk-data.js';
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
let chainVersion: number;
const transport = new TcpBulkTransport();
const CHAIN = 7;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 3 });
  const [a, b, c] = cluster.nodes.map((n) => n.targetIds[0]!);
  chainVersion = cluster.mgmt.setChain(CHAIN, [a!, b!, c!]).chainVersion;
  await settleRouting(cluster);
});

afterAll(async () => {
  await cluster?.close();
});

const head = () => cluster.nodes[0]!;

async function session(index = 0): Promise<BulkChannel> {
  const address = cluster.nodes[index]!.bulkAddress;
  expect(address, 'the node announces a bulk listener').toBeDefined();
  return transport.connect(address!);
}

/** A Write whose bytes travel as a frame on `channel`. */
async function bulkWrite(
  client: StorageClient,
  channel: BulkChannel,
  fields: Partial<WriteRequest> & { data: Buffer },
): Promise<WriteResponse> {
  const request = writeRequest({ chainId: CHAIN, chainVersion, ...fields });
  const requestId = channel.nextRequestId();
  const sent = channel.send(requestId, request.data, request.dataCrc32c);
  const answer = write(client, {
    ...request,
    data: Buffer.alloc(0),
    bulk: { sessionId: channel.sessionId, requestId, length: request.data.length },
  });
  const [, response] = await Promise.all([sent, answer]);
  return response;
}

/** A BatchRead whose result bytes come back as frames on `channel`. */
async function bulkRead(
  client: StorageClient,
  channel: BulkChannel,
  ios: ReadIO[],
): Promise<{ response: BatchReadResponse; bytes: Buffer[] }> {
  const withIds = ios.map((io) => ({ ...io, bulkRequestId: channel.nextRequestId() }));
  const frames = withIds.map((io) => channel.receive(io.bulkRequestId, { timeoutMs: 10_000 }));
  const response = await callUnary(
    client,
    client.batchRead,
    { ios: withIds, bulkSessionId: channel.sessionId },
    'storage.BatchRead',
    { timeoutMs: 10_000 },
  );
  const bytes = await Promise.all(
    frames.map((frame, i) => {
      if (response.results[i]?.status?.code === ErrorCode.OK) return frame;
      frame.catch(() => undefined);
      return Buffer.alloc(0);
    }),
  );
  return { response, bytes };
}

async function bulkBytes(node: TestCluster['nodes'][number], direction: 'in' | 'out'): Promise<number> {
  const metric = await node.registry.getSingleMetric('spindle_storage_bulk_bytes_total')!.get();
  return metric.values.find((v) => v.labels['direction'] === direction)?.value ?? 0;
}

async function refusal(promise: Promise<unknown>): Promise<SpindleError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(SpindleError);
  return err as SpindleError;
}

describe('storage bulk data path', () => {
  it('takes write bytes from a frame, forwards them down the chain; all replicas answer reads in frames', async () => {
    const channel = await session(0);
    const data = pattern(CHUNK_SIZE, 1);
    expect(data.length).toBeGreaterThanOrEqual(BULK_FORWARD_MIN_BYTES);
    const written = await bulkWrite(cluster.client(head()), channel, { chunk: { ino: 11, index: 0 }, data });
    expect(written).toMatchObject({ length: CHUNK_SIZE, chunkCrc32c: crc32c(data) });
    // The update travelled down the chain as frames too: each successor took its bytes from one.
    for (const successor of cluster.nodes.slice(1))
      expect(await bulkBytes(successor, 'in')).toBeGreaterThanOrEqual(CHUNK_SIZE);

    for (const [i, node] of cluster.nodes.entries()) {
      const reader = i === 0 ? channel : await session(i);
      const { response, bytes } = await bulkRead(cluster.client(node), reader, [
        readIO(CHAIN, chainVersion, { chunk: { ino: 11, index: 0 } }),
      ]);
      const result = response.results[0]!;
      expect(result.status?.code).toBe(ErrorCode.OK);
      expect(result.data.length).toBe(0);
      expect(result.bulkLength).toBe(CHUNK_SIZE);
      expect(bytes[0]!.equals(data), `replica ${i} holds the bytes`).toBe(true);
      // The same read over gRPC only agrees.
      const inline = await batchRead(cluster.client(node), [
        readIO(CHAIN, chainVersion, { chunk: { ino: 11, index: 0 } }),
      ]);
      expect(inline.results[0]!.data.equals(data)).toBe(true);
      if (i !== 0) reader.close();
    }
    channel.close();
  });

  it('reads a mix of present ranges, holes and a short tail in one batch, each with its own frame', async () => {
    const channel = await session(1);
    const data = pattern(100_000, 2);
    await write(
      cluster.client(head()),
      writeRequest({ chainId: CHAIN, chainVersion, chunk: { ino: 12, index: 0 }, data }),
    );
    const { response, bytes } = await bulkRead(cluster.client(cluster.nodes[1]!), channel, [
      readIO(CHAIN, chainVersion, { chunk: { ino: 12, index: 0 }, offset: 10, length: 1000 }),
      readIO(CHAIN, chainVersion, { chunk: { ino: 12, index: 5 } }),
      readIO(CHAIN, chainVersion, { chunk: { ino: 12, index: 0 }, offset: 90_000, length: 50_000 }),
    ]);
    expect(response.results.map((r) => r.status?.code)).toEqual([
      ErrorCode.OK,
      ErrorCode.CHUNK_NOT_FOUND,
      ErrorCode.OK,
    ]);
    expect(bytes[0]!.equals(data.subarray(10, 1010))).toBe(true);
    expect(bytes[2]!.equals(data.subarray(90_000))).toBe(true);
    expect(response.results[2]!.bulkLength).toBe(10_000);
    channel.close();
  });

  it('answers batches of small reads made as calls on a bulk session, and refuses malformed calls', async () => {
    const channel = await session(2);
    const data = pattern(20_000, 6);
    await write(
      cluster.client(head()),
      writeRequest({ chainId: CHAIN, chainVersion, chunk: { ino: 14, index: 0 }, data }),
    );
    const answer = await channel.call(
      encodeBatchReadCall({
        ios: [
          readIO(CHAIN, chainVersion, { chunk: { ino: 14, index: 0 }, offset: 4096, length: 4096 }),
          readIO(CHAIN, chainVersion, { chunk: { ino: 14, index: 9 }, length: 4096 }),
          readIO(CHAIN, chainVersion + 1, { chunk: { ino: 14, index: 0 }, length: 4096 }),
        ],
      }),
      { timeoutMs: 10_000 },
    );
    const response = decodeBatchReadAnswer(answer);
    expect(response.results.map((r) => r.status?.code)).toEqual([
      ErrorCode.OK,
      ErrorCode.CHUNK_NOT_FOUND,
      ErrorCode.CHAIN_VERSION_MISMATCH,
    ]);
    expect(response.results[0]!.data.equals(data.subarray(4096, 8192))).toBe(true);

    let err = await refusal(channel.call(Buffer.from([9, 1, 2]), { timeoutMs: 10_000 }));
    expect(err.errorCode).toBe(ErrorCode.RPC_MALFORMED);
    expect(err.message).toMatch(/unknown storage bulk call method 9/);
    err = await refusal(
      channel.call(Buffer.from([StorageBulkMethod.BATCH_READ, 0xff, 0xff, 0xff]), { timeoutMs: 10_000 }),
    );
    expect(err.errorCode).toBe(ErrorCode.RPC_MALFORMED);
    // A batch over its item limit is refused from its raw bytes, before it is decoded (as over gRPC).
    const item = encodeBatchReadCall({ ios: [readIO(CHAIN, chainVersion, { chunk: { ino: 14, index: 0 } })] });
    const manyItems = Buffer.concat([item, ...Array.from({ length: 200_000 }, () => item.subarray(1))]);
    err = await refusal(channel.call(manyItems, { timeoutMs: 10_000 }));
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toMatch(/more than 1024 read items/);
    // The session still answers afterwards.
    expect(
      decodeBatchReadAnswer(
        await channel.call(
          encodeBatchReadCall({ ios: [readIO(CHAIN, chainVersion, { chunk: { ino: 14, index: 0 }, length: 10 })] }),
        ),
      ).results[0]!.data.equals(data.subarray(0, 10)),
    ).toBe(true);
    channel.close();
  });

  it('refuses bad descriptors with clear errors and changes nothing', async () => {
    const client = cluster.client(head());
    const channel = await session(0);
    const chunk = { ino: 13, index: 0 };
    const base = writeRequest({ chainId: CHAIN, chainVersion, chunk, data: pattern(1000, 3) });

    let err = await refusal(
      write(client, {
        ...base,
        bulk: { sessionId: channel.sessionId, requestId: channel.nextRequestId(), length: 1000 },
      }),
    );
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toMatch(/must have empty data/);

    err = await refusal(
      write(client, {
        ...base,
        data: Buffer.alloc(0),
        bulk: { sessionId: channel.sessionId, requestId: 1, length: CHUNK_SIZE + 1 },
      }),
    );
    expect(err.message).toMatch(/not within the chunk size/);

    err = await refusal(
      write(client, {
        ...base,
        data: Buffer.alloc(0),
        bulk: { sessionId: '0'.repeat(32), requestId: 1, length: 1000 },
      }),
    );
    expect(err.errorCode).toBe(ErrorCode.RPC_UNAVAILABLE);
    expect(err.retryable).toBe(true);

    // Not a session id at all (a megabyte of it): refused at once, and not echoed whole.
    err = await refusal(
      write(client, {
        ...base,
        data: Buffer.alloc(0),
        bulk: { sessionId: 'x'.repeat(1024 * 1024), requestId: 1, length: 1000 },
      }),
    );
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toMatch(/is not a session id/);
    expect(err.message.length).toBeLessThan(300);

    // A frame shorter than the descriptor says (its CRC is the one the request names).
    const requestId = channel.nextRequestId();
    const short = pattern(999, 3);
    await channel.send(requestId, short);
    err = await refusal(
      write(client, {
        ...base,
        data: Buffer.alloc(0),
        dataCrc32c: crc32c(short),
        bulk: { sessionId: channel.sessionId, requestId, length: 1000 },
      }),
    );
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toMatch(/has 999 bytes but the request says 1000/);

    // Bytes that do not match data_crc32c (sent as a well-formed frame of other bytes).
    const wrongId = channel.nextRequestId();
    await channel.send(wrongId, pattern(1000, 4));
    err = await refusal(
      write(client, {
        ...base,
        data: Buffer.alloc(0),
        bulk: { sessionId: channel.sessionId, requestId: wrongId, length: 1000 },
      }),
    );
    expect(err.errorCode).toBe(ErrorCode.CHECKSUM_MISMATCH);

    err = await refusal(
      callUnary(
        client,
        client.batchRead,
        { ios: [{ ...readIO(CHAIN, chainVersion, { chunk }), bulkRequestId: 1 }], bulkSessionId: 'f'.repeat(32) },
        'storage.BatchRead',
      ),
    );
    expect(err.errorCode).toBe(ErrorCode.RPC_UNAVAILABLE);
    err = await refusal(
      callUnary(
        client,
        client.batchRead,
        { ios: [{ ...readIO(CHAIN, chainVersion, { chunk }), bulkRequestId: 1 }], bulkSessionId: 'gone' },
        'storage.BatchRead',
      ),
    );
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);

    const after = await batchRead(client, [readIO(CHAIN, chainVersion, { chunk })]);
    expect(after.results[0]!.status?.code, 'no refused write left a chunk').toBe(ErrorCode.CHUNK_NOT_FOUND);
    channel.close();
  });
});

describe('a storage node with data transport grpc', () => {
  it('has no bulk listener, announces none, and refuses bulk descriptors', async () => {
    const grpcOnly = await startTestCluster({ nodes: 1, config: { dataTransport: 'grpc' } });
    try {
      const node = grpcOnly.nodes[0]!;
      expect(node.bulkAddress).toBeUndefined();
      expect(node.readyLine().bulk).toBeNull();
      expect(grpcOnly.mgmt.routing().nodes[0]!.bulkAddress).toBe('');
      const version = grpcOnly.mgmt.setChain(1, [node.targetIds[0]!]).chainVersion;
      await settleRouting(grpcOnly);
      const request = writeRequest({ chainId: 1, chainVersion: version, data: pattern(100, 5) });
      const err = await refusal(
        write(grpcOnly.client(node), {
          ...request,
          data: Buffer.alloc(0),
          bulk: { sessionId: 's', requestId: 1, length: 100 },
        }),
      );
      expect(err.errorCode).toBe(ErrorCode.RPC_UNAVAILABLE);
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/no bulk listener \(data transport grpc\): refresh routing/);
      // Inline bytes still work.
      await write(grpcOnly.client(node), request);
      const read = await batchRead(grpcOnly.client(node), [readIO(1, version)]);
      expect(read.results[0]!.data.equals(request.data)).toBe(true);
    } finally {
      await grpcOnly.close();
    }
  });
});
