// Bad input sent straight to the Storage gRPC service: every request gets a clear typed error and
// changes nothing.
import { makeGenericClientConstructor, type Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ID_MAX_BYTES } from '../../common/constants.js';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { CHANNEL_OPTIONS, callUnary, insecureChannel } from '../../common/rpc.js';
import { UpdateType, type StorageClient } from '../../proto/index.js';
import {
  CHUNK_SIZE,
  batchRead,
  readIO,
  settleRouting,
  startTestCluster,
  write,
  writeRequest,
  type TestCluster,
} from '../testing/cluster.js';

let cluster: TestCluster;
let client: StorageClient;
let chainVersion: number;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 1 });
  chainVersion = cluster.mgmt.setChain(1, [cluster.nodes[0]!.targetIds[0]!]).chainVersion;
  await settleRouting(cluster);
  client = cluster.client(cluster.nodes[0]!);
});

afterAll(async () => {
  await cluster?.close();
});

async function expectCode(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isSpindleError(err, code)) {
    const got = err instanceof Error ? `${(err as { codeName?: string }).codeName}: ${err.message}` : String(err);
    throw new Error(`expected ${ErrorCode[code]}, got ${got}`);
  }
  if (message) expect(err.message).toMatch(message);
}

async function nothingStored(): Promise<void> {
  const dump = await callUnary(client, client.dumpChunkMeta, { chainId: 1, chainVersion: 0, limit: 0, ino: 0 }, 'd');
  expect(dump.chunks).toEqual([]);
}

/** A client that sends raw bytes to a Storage method (for undecodable requests). */
function rawClient(): Client & { send(method: string, body: Buffer): Promise<Buffer> } {
  const methods = ['Write', 'Update', 'BatchRead', 'QueryLastChunk', 'RemoveChunks', 'DumpChunkMeta'];
  const definition = Object.fromEntries(
    methods.map((m) => [
      m,
      {
        path: `/spindle.Storage/${m}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    ]),
  );
  const Ctor = makeGenericClientConstructor(definition, 'spindle.Storage');
  const raw = new Ctor(cluster.nodes[0]!.address, insecureChannel(), CHANNEL_OPTIONS) as unknown as Client &
    Record<string, Function>;
  return Object.assign(raw, {
    send: (method: string, body: Buffer) =>
      callUnary(raw, raw[method] as never, body, `raw ${method}`) as Promise<Buffer>,
  });
}

describe('Storage service refuses bad input', () => {
  it('writes with bad fields', async () => {
    const data = Buffer.from('hello');
    const base = writeRequest({ chainId: 1, chainVersion, chunk: { ino: 1, index: 0 }, data });
    const cases: Array<[Partial<typeof base>, ErrorCode, RegExp]> = [
      [{ offset: CHUNK_SIZE - 2 }, ErrorCode.INVALID_ARGUMENT, /past the chunk size/],
      [{ offset: 2 ** 40 }, ErrorCode.INVALID_ARGUMENT, /offset/],
      [{ chunkSizeBytes: 1000 }, ErrorCode.INVALID_ARGUMENT, /power of two/],
      [{ chunkSizeBytes: 2 ** 27 }, ErrorCode.INVALID_ARGUMENT, /chunk_size_bytes/],
      [{ chunkSizeBytes: 0 }, ErrorCode.INVALID_ARGUMENT, /chunk_size_bytes/],
      [{ dataCrc32c: (crc32c(data) ^ 1) >>> 0 }, ErrorCode.CHECKSUM_MISMATCH, /damaged/],
      [{ type: UpdateType.REPLACE }, ErrorCode.INVALID_ARGUMENT, /not accepted/],
      [{ type: UpdateType.UPDATE_TYPE_INVALID }, ErrorCode.INVALID_ARGUMENT, /not accepted/],
      [{ type: 77 as UpdateType }, ErrorCode.INVALID_ARGUMENT, /not accepted/],
      [{ type: UpdateType.TRUNCATE }, ErrorCode.INVALID_ARGUMENT, /no data/],
      [
        { type: UpdateType.TRUNCATE, data: Buffer.alloc(0), dataCrc32c: 0, offset: CHUNK_SIZE + 1 },
        ErrorCode.INVALID_ARGUMENT,
        /exceeds the chunk size/,
      ],
      [{ chunk: undefined }, ErrorCode.INVALID_ARGUMENT, /no chunk id/],
      [{ chainId: 0 }, ErrorCode.INVALID_ARGUMENT, /chain_id/],
      [{ chainId: 77 }, ErrorCode.TARGET_NOT_FOUND, /no target of chain 77/],
      [{ tag: { clientId: '', requestId: 1 } }, ErrorCode.INVALID_ARGUMENT, /client_id/],
      [
        { tag: { clientId: 'c'.repeat(CLIENT_ID_MAX_BYTES + 1), requestId: 1 } },
        ErrorCode.INVALID_ARGUMENT,
        /client_id is \d+ bytes; the limit/,
      ],
      [{ seqnum: 0 }, ErrorCode.INVALID_ARGUMENT, /seqnum/],
    ];
    for (const [fields, code, message] of cases) {
      await expectCode(write(client, { ...base, ...fields }), code, message);
    }
    await nothingStored();
  });

  it('updates with bad fields', async () => {
    const data = Buffer.from('x');
    const update = {
      chainId: 1,
      chainVersion,
      chunk: { ino: 1, index: 0 },
      type: UpdateType.WRITE,
      offset: 0,
      data,
      dataCrc32c: crc32c(data),
      chunkSizeBytes: CHUNK_SIZE,
      updateVersion: 1,
      fromTargetId: 0,
    };
    await expectCode(
      callUnary(client, client.update, { ...update, updateVersion: 0 }, 'u'),
      ErrorCode.INVALID_ARGUMENT,
      /update_version/,
    );
    await expectCode(
      callUnary(client, client.update, { ...update, type: UpdateType.REPLACE, offset: 5 }, 'u'),
      ErrorCode.INVALID_ARGUMENT,
      /offset 0/,
    );
    await expectCode(
      callUnary(client, client.update, { ...update, chainVersion: chainVersion + 100 }, 'u'),
      ErrorCode.CHAIN_VERSION_MISMATCH,
    );
    await expectCode(callUnary(client, client.update, { ...update, updateVersion: 5 }, 'u'), ErrorCode.MISSING_UPDATE);
    await nothingStored();
  });

  it('reads: per-item errors, whole-request limits', async () => {
    const { results } = await batchRead(client, [
      readIO(1, chainVersion, { chunk: { ino: 1, index: 0 }, length: 1000 }),
      readIO(77, 1, { length: 1000 }),
      readIO(1, chainVersion, { chunk: undefined, length: 1000 }),
      readIO(1, chainVersion, { offset: 2 ** 40, length: 1000 }),
      readIO(1, chainVersion + 1, { length: 1000 }),
      readIO(0, 1, { length: 1000 }),
    ]);
    expect(results.map((r) => ErrorCode[r.status!.code])).toEqual([
      'CHUNK_NOT_FOUND',
      'TARGET_NOT_FOUND',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'CHAIN_VERSION_MISMATCH',
      'INVALID_ARGUMENT',
    ]);
    expect(results[2]!.status!.message).toMatch(/no chunk id/);
    await expectCode(
      batchRead(
        client,
        Array.from({ length: 5 }, () => readIO(1, chainVersion, { length: 512 * 1024 })),
      ),
      ErrorCode.RPC_TOO_LARGE,
      /at most/,
    );
    await expectCode(
      batchRead(
        client,
        Array.from({ length: 1025 }, () => readIO(1, chainVersion, { length: 1 })),
      ),
      ErrorCode.INVALID_ARGUMENT,
      /at most 1024 per call/,
    );
    expect((await batchRead(client, [])).results).toEqual([]);
  });

  it('reads past the end of a chunk return no bytes, not an error', async () => {
    await write(
      client,
      writeRequest({ chainId: 1, chainVersion, chunk: { ino: 9, index: 0 }, data: Buffer.from('abc') }),
    );
    const { results } = await batchRead(client, [
      readIO(1, chainVersion, { chunk: { ino: 9, index: 0 }, offset: 1, length: 100 }),
      readIO(1, chainVersion, { chunk: { ino: 9, index: 0 }, offset: 1000, length: 100 }),
    ]);
    expect(results[0]!.data.toString()).toBe('bc');
    expect(results[1]!).toMatchObject({ status: { code: 0 }, chunkLength: 3 });
    expect(results[1]!.data.length).toBe(0);
    await callUnary(
      client,
      client.removeChunks,
      { chainId: 1, chainVersion, ino: 9, fromIndex: 0, fromTargetId: 0 },
      'r',
    );
  });

  it('range operations with bad fields', async () => {
    await expectCode(
      callUnary(
        client,
        client.removeChunks,
        { chainId: 77, chainVersion: 1, ino: 1, fromIndex: 0, fromTargetId: 0 },
        'r',
      ),
      ErrorCode.TARGET_NOT_FOUND,
    );
    await expectCode(
      callUnary(client, client.queryLastChunk, { chainId: 0, chainVersion: 1, ino: 1 }, 'q'),
      ErrorCode.INVALID_ARGUMENT,
    );
    const dump = await callUnary(
      client,
      client.dumpChunkMeta,
      { chainId: 1, chainVersion: 0, limit: 2 ** 31, ino: 0 },
      'd',
    );
    expect(dump.chunks).toEqual([]);
  });

  it('undecodable requests are RPC_MALFORMED (integers above 2^53 INVALID_ARGUMENT)', async () => {
    const raw = rawClient();
    try {
      // Field 1 (chain_id) as a truncated varint.
      await expectCode(raw.send('Write', Buffer.from([0x10, 0xff])), ErrorCode.RPC_MALFORMED);
      // An integer no JS number holds exactly is a clear INVALID_ARGUMENT naming the limit.
      await expectCode(
        raw.send('Write', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
        ErrorCode.INVALID_ARGUMENT,
      );
      await expectCode(raw.send('BatchRead', Buffer.from([0x0a, 0x05, 0x01])), ErrorCode.RPC_MALFORMED);
      // An empty message decodes to all defaults: refused as invalid, not as a crash.
      await expectCode(raw.send('Write', Buffer.alloc(0)), ErrorCode.INVALID_ARGUMENT);
      await expectCode(raw.send('Update', Buffer.alloc(0)), ErrorCode.INVALID_ARGUMENT);
      await expectCode(raw.send('RemoveChunks', Buffer.alloc(0)), ErrorCode.INVALID_ARGUMENT);
    } finally {
      raw.close();
    }
    await nothingStored();
  });
});
