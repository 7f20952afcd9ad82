// Reads against writes: a replica with a pending update serves the last committed bytes without
// waiting; reads under a stream of writes are never partial. Uses a controllable fake successor
// (a Storage server whose Update handler the test holds and answers) to pin a write mid-flight.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../common/crc32c.js';
import { ErrorCode, SpindleError, isSpindleError } from '../common/errors.js';
import { callUnary, serviceImplementation, startGrpcServer, stopGrpcServer } from '../common/rpc.js';
import { StorageService, type UpdateRequest, type UpdateResponse } from '../proto/index.js';
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

interface HeldUpdate {
  request: UpdateRequest;
  answer(response: UpdateResponse | SpindleError): void;
}

/** A Storage server that hands every Update to the test. */
class FakeSuccessor {
  private waiting: Array<(held: HeldUpdate) => void> = [];
  private queue: HeldUpdate[] = [];
  /** When set, Update is answered at once by this function instead of being held. */
  auto: ((request: UpdateRequest) => UpdateResponse | SpindleError) | undefined;
  server!: Awaited<ReturnType<typeof startGrpcServer>>;

  async start(): Promise<this> {
    const refuse = async () => {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'fake successor');
    };
    this.server = await startGrpcServer(
      [
        {
          definition: StorageService,
          implementation: serviceImplementation({
            update: (request: UpdateRequest) =>
              new Promise<UpdateResponse>((resolve, reject) => {
                const answer = (response: UpdateResponse | SpindleError) =>
                  response instanceof SpindleError ? reject(response) : resolve(response);
                if (this.auto) return answer(this.auto(request));
                const held = { request, answer };
                const waiter = this.waiting.shift();
                if (waiter) waiter(held);
                else this.queue.push(held);
              }),
            write: refuse,
            batchRead: refuse,
            queryLastChunk: refuse,
            removeChunks: refuse,
            dumpChunkMeta: refuse,
          }),
        },
      ],
      '127.0.0.1',
      0,
    );
    return this;
  }

  next(): Promise<HeldUpdate> {
    const held = this.queue.shift();
    if (held) return Promise.resolve(held);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): Promise<void> {
    return stopGrpcServer(this.server.server, 100);
  }
}

let cluster: TestCluster;
let fake: FakeSuccessor;
let fakeChainVersion: number;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 3 });
  const [a, b, c] = cluster.nodes.map((n) => n.targetIds[0]!);
  cluster.mgmt.setChain(1, [a!, b!, c!]);
  // Chain 2: node 0's second... it has one target, so chain 2 is node 1's head with a fake tail.
  fake = await new FakeSuccessor().start();
  const fakeNode = cluster.mgmt.registerNode({
    nodeId: 0,
    address: fake.server.address,
    hostname: 'fake',
    targetPaths: ['/fake'],
  });
  fakeChainVersion = cluster.mgmt.setChain(2, [b!, fakeNode.nodeId * 1000]).chainVersion;
  await settleRouting(cluster);
});

afterAll(async () => {
  await cluster?.close();
  await fake?.close();
});

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isSpindleError(err, code)) throw new Error(`expected ${ErrorCode[code]}, got ${String(err)}`);
}

function okResponse(content: Buffer, version: number): UpdateResponse {
  return { length: content.length, commitVersion: version, chunkCrc32c: crc32c(content) };
}

describe('reads while a write is pending', () => {
  it('serve the last committed version without waiting, then the new one after commit', async () => {
    const node = cluster.nodes[1]!;
    const client = cluster.client(node);
    const chunk = { ino: 40, index: 0 };
    const v1 = pattern(70_000, 1);
    const first = write(client, writeRequest({ chainId: 2, chainVersion: fakeChainVersion, chunk, data: v1 }));
    const held1 = await fake.next();
    expect(held1.request).toMatchObject({ chainId: 2, updateVersion: 1, offset: 0, fromTargetId: node.targetIds[0] });
    held1.answer(okResponse(v1, 1));
    expect((await first).commitVersion).toBe(1);

    // Version 2 (a partial overwrite) is pending at the head while the fake successor holds it.
    const patch = Buffer.alloc(1000, 0xab);
    const second = write(
      client,
      writeRequest({ chainId: 2, chainVersion: fakeChainVersion, chunk, offset: 65_000, data: patch }),
    );
    const held2 = await fake.next();
    expect(held2.request.updateVersion).toBe(2);
    // The head writes its own copy while the update travels on: wait until it is pending there.
    const pendingMeta = async () =>
      (await callUnary(client, client.dumpChunkMeta, { chainId: 2, chainVersion: 0, limit: 10, ino: 40 }, 'd'))
        .chunks[0];
    for (let i = 0; i < 200 && (await pendingMeta())?.updateVersion !== 2; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await pendingMeta()).toMatchObject({ commitVersion: 1, updateVersion: 2 });
    const during = await batchRead(client, [readIO(2, fakeChainVersion, { chunk })]);
    expect(during.results[0]!.commitVersion).toBe(1);
    expect(Buffer.compare(during.results[0]!.data, v1)).toBe(0);
    const v2 = Buffer.from(v1);
    patch.copy(v2, 65_000);
    held2.answer(okResponse(v2, 2));
    expect(await second).toEqual({ length: v2.length, commitVersion: 2, chunkCrc32c: crc32c(v2) });
    const after = await batchRead(client, [readIO(2, fakeChainVersion, { chunk })]);
    expect(after.results[0]!.commitVersion).toBe(2);
    expect(Buffer.compare(after.results[0]!.data, v2)).toBe(0);
  });

  it('a successor reporting other bytes fails the write with CHECKSUM_MISMATCH; committed version intact', async () => {
    const client = cluster.client(cluster.nodes[1]!);
    const chunk = { ino: 41, index: 0 };
    fake.auto = (request) => okResponse(request.data, request.updateVersion);
    await write(client, writeRequest({ chainId: 2, chainVersion: fakeChainVersion, chunk, data: Buffer.from('good') }));
    fake.auto = (request) => ({ ...okResponse(request.data, request.updateVersion), chunkCrc32c: 12345 });
    await expectCode(
      write(client, writeRequest({ chainId: 2, chainVersion: fakeChainVersion, chunk, data: Buffer.from('evil') })),
      ErrorCode.CHECKSUM_MISMATCH,
    );
    fake.auto = undefined;
    const { results } = await batchRead(client, [readIO(2, fakeChainVersion, { chunk })]);
    expect(results[0]!.data.toString()).toBe('good');
    const meta = await callUnary(
      client,
      client.dumpChunkMeta,
      { chainId: 2, chainVersion: 0, limit: 10, ino: 41 },
      'd',
    );
    expect(meta.chunks[0]).toMatchObject({ commitVersion: 1, updateVersion: 1 });
  });

  it('a forward that fails with a retryable error is retried with the same version and bytes', async () => {
    const client = cluster.client(cluster.nodes[1]!);
    const chunk = { ino: 42, index: 0 };
    const seen: UpdateRequest[] = [];
    fake.auto = (request) => {
      seen.push(request);
      if (seen.length < 3) return new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'flaky');
      return okResponse(request.data, request.updateVersion);
    };
    const response = await write(
      client,
      writeRequest({ chainId: 2, chainVersion: fakeChainVersion, chunk, data: Buffer.from('retry me') }),
    );
    fake.auto = undefined;
    expect(response.commitVersion).toBe(1);
    expect(seen).toHaveLength(3);
    expect(new Set(seen.map((r) => `${r.updateVersion}:${r.dataCrc32c}`)).size).toBe(1);
    const metrics = await cluster.nodes[1]!.registry.getSingleMetricAsString('spindle_storage_forward_retries_total');
    expect(metrics).toMatch(/spindle_storage_forward_retries_total [1-9]/);
  });

  it('a non-retryable forward error fails the write and drops the pending update', async () => {
    const client = cluster.client(cluster.nodes[1]!);
    const chunk = { ino: 43, index: 0 };
    fake.auto = () => new SpindleError(ErrorCode.MISSING_UPDATE, 'gap');
    await expectCode(
      write(client, writeRequest({ chainId: 2, chainVersion: fakeChainVersion, chunk, data: Buffer.from('x') })),
      ErrorCode.MISSING_UPDATE,
    );
    fake.auto = undefined;
    const meta = await callUnary(
      client,
      client.dumpChunkMeta,
      { chainId: 2, chainVersion: 0, limit: 10, ino: 43 },
      'd',
    );
    expect(meta.chunks).toEqual([]);
    const { results } = await batchRead(client, [readIO(2, fakeChainVersion, { chunk })]);
    expect(results[0]!.status!.code).toBe(ErrorCode.CHUNK_NOT_FOUND);
  });
});

describe('reads under a stream of writes', () => {
  it('are never partial and never go back in time on any replica', async () => {
    const chainVersion = cluster.mgmt.chain(1).chainVersion;
    const head = cluster.client(cluster.nodes[0]!);
    const chunk = { ino: 50, index: 0 };
    const rounds = 15;
    let done = false;
    const writer = (async () => {
      try {
        for (let k = 1; k <= rounds; k++) {
          // Each version covers all earlier bytes (growing, moving to a larger block class midway).
          const length = CHUNK_SIZE / 2 + k * 1000;
          await write(head, writeRequest({ chainId: 1, chainVersion, chunk, data: Buffer.alloc(length, k) }));
        }
      } finally {
        done = true;
      }
    })();
    const readers = cluster.nodes.map(async (node) => {
      const client = cluster.client(node);
      let lastVersion = 0;
      let lastByte = 0;
      let reads = 0;
      while (!done) {
        const { results } = await batchRead(client, [readIO(1, chainVersion, { chunk })]);
        const result = results[0]!;
        reads++;
        if (result.status!.code === ErrorCode.CHUNK_NOT_FOUND) continue;
        expect(result.status!.code).toBe(0);
        const first = result.data[0]!;
        expect(
          result.data.every((x) => x === first),
          `replica ${node.nodeId} returned mixed bytes`,
        ).toBe(true);
        expect(result.data.length).toBe(CHUNK_SIZE / 2 + first * 1000);
        expect(result.commitVersion).toBeGreaterThanOrEqual(lastVersion);
        expect(first).toBeGreaterThanOrEqual(lastByte);
        expect(first).toBe(result.commitVersion);
        lastVersion = result.commitVersion;
        lastByte = first;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return reads;
    });
    const [, ...reads] = await Promise.all([writer, ...readers]);
    expect(reads.every((n) => n > 0)).toBe(true);
    for (const node of cluster.nodes) {
      const { results } = await batchRead(cluster.client(node), [readIO(1, chainVersion, { chunk })]);
      expect(results[0]!.commitVersion).toBe(rounds);
    }
  });
});
