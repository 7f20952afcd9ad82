// ChunkStore against in-process fake storage nodes served over real gRPC: striping, zero-filled
// holes, routing refresh on a stale chain version, exactly-once retries, read failover, spreading
// reads over replicas, and non-retryable errors. The fake keeps one copy of each chain's chunks
// (replication itself is storage's business and is tested there). Every test runs twice: with
// chunk bytes inside gRPC messages, and with the fake nodes announcing a bulk listener
// (InProcessBulkTransport) so large reads and writes move their bytes as bulk frames.
import { decodeStorageBulkCall, encodeBatchReadAnswer } from '../common/storage-bulk-calls.js';
import type { Server } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../common/config.js';
import { crc32c } from '../common/crc32c.js';
import { InProcessBulkTransport } from '../common/bulk/in-process-transport.js';
import type { BulkListener } from '../common/bulk/transport.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { fileChains } from '../common/placement.js';
import { serviceImplementation, startGrpcServer, stopGrpcServer } from '../common/rpc.js';
import {
  PublicTargetState,
  StorageService,
  UpdateType,
  type BatchReadRequest,
  type BatchReadResponse,
  type GetRoutingInfoResponse,
  type Layout,
  type QueryLastChunkRequest,
  type ReadIO,
  type RemoveChunksRequest,
  type RoutingInfo,
  type WriteRequest,
  type WriteResponse,
} from '../proto/index.js';
import { ChunkStore } from './chunk-store.js';
import { RoutingCache } from './routing-cache.js';

const CHUNK = 64 * 1024;
const CHAINS = [1, 2, 3];

interface Cluster {
  chainVersions: Map<number, number>;
  chunks: Map<string, Buffer>; // `${chainId}/${ino}/${index}`
  writes: Array<{
    nodeId: number;
    chainId: number;
    channelId: number;
    seqnum: number;
    requestId: number;
    applied: boolean;
  }>;
  readsByNode: Map<number, number>;
  dedupe: Map<string, WriteResponse>;
  /** Hooks a test sets to inject failures; throwing fails the request. */
  beforeWrite?: (nodeId: number, request: WriteRequest) => void;
  afterWrite?: (nodeId: number, request: WriteRequest) => void;
  beforeRead?: (nodeId: number, request: BatchReadRequest) => void;
  /** Per-item failure a test injects: a status for that item instead of its bytes. */
  readItemError?: (nodeId: number, io: ReadIO) => { code: number; message: string } | undefined;
  /** Every BatchRead a node answered: its items' inos. */
  batches: Array<{ nodeId: number; inos: number[] }>;
  /** Frames the nodes received (writes) and sent (reads) on bulk sessions. */
  bulkFramesIn: number;
  bulkFramesOut: number;
  /** Batches of small reads the nodes answered as bulk-session calls. */
  bulkCalls: number;
}

async function startNode(cluster: Cluster, nodeId: number, bulk: () => BulkListener | undefined) {
  const checkVersion = (chainId: number, version: number) => {
    const current = cluster.chainVersions.get(chainId);
    if (current === undefined) throw new SpindleError(ErrorCode.CHAIN_NOT_FOUND, `no chain ${chainId}`);
    if (version !== current) {
      throw new SpindleError(
        ErrorCode.CHAIN_VERSION_MISMATCH,
        `chain ${chainId} is at version ${current}, request has ${version}`,
      );
    }
  };
  const handlers = {
    write: async (message: WriteRequest): Promise<WriteResponse> => {
      let request = message;
      if (message.bulk !== undefined) {
        const channel = await bulk()!.channel(message.bulk.sessionId, 1_000);
        const data = await channel.receive(message.bulk.requestId, { maxBytes: message.bulk.length, timeoutMs: 2_000 });
        cluster.bulkFramesIn++;
        request = { ...message, data, bulk: undefined };
      }
      cluster.beforeWrite?.(nodeId, request);
      checkVersion(request.chainId, request.chainVersion);
      if (crc32c(request.data) !== request.dataCrc32c) throw new SpindleError(ErrorCode.CHECKSUM_MISMATCH, 'crc');
      const dedupeKey = `${request.tag!.clientId}/${request.chainId}/${request.channelId}/${request.seqnum}`;
      const replay = cluster.dedupe.get(dedupeKey);
      cluster.writes.push({
        nodeId,
        chainId: request.chainId,
        channelId: request.channelId,
        seqnum: request.seqnum,
        requestId: request.tag!.requestId,
        applied: replay === undefined,
      });
      if (replay) return replay;
      const key = `${request.chainId}/${request.chunk!.ino}/${request.chunk!.index}`;
      let chunk = cluster.chunks.get(key) ?? Buffer.alloc(0);
      if (request.type === UpdateType.WRITE) {
        const end = request.offset + request.data.length;
        if (end > chunk.length) chunk = Buffer.concat([chunk, Buffer.alloc(end - chunk.length)]);
        request.data.copy(chunk, request.offset);
      } else if (request.type === UpdateType.TRUNCATE) {
        if (!cluster.chunks.has(key)) throw new SpindleError(ErrorCode.CHUNK_NOT_FOUND, 'no chunk');
        chunk =
          request.offset <= chunk.length
            ? chunk.subarray(0, request.offset)
            : Buffer.concat([chunk, Buffer.alloc(request.offset - chunk.length)]);
      }
      cluster.chunks.set(key, chunk);
      const response = { length: chunk.length, commitVersion: 1, chunkCrc32c: crc32c(chunk) };
      cluster.dedupe.set(dedupeKey, response);
      cluster.afterWrite?.(nodeId, request);
      return response;
    },
    update: async () => {
      throw new SpindleError(ErrorCode.INTERNAL, 'not used');
    },
    batchRead: async (request: BatchReadRequest): Promise<BatchReadResponse> => {
      cluster.beforeRead?.(nodeId, request);
      cluster.readsByNode.set(nodeId, (cluster.readsByNode.get(nodeId) ?? 0) + 1);
      cluster.batches.push({ nodeId, inos: request.ios.map((io) => io.chunk!.ino) });
      const response: BatchReadResponse = {
        results: request.ios.map((io) => {
          const injected = cluster.readItemError?.(nodeId, io);
          if (injected !== undefined)
            return { status: injected, data: Buffer.alloc(0), chunkLength: 0, commitVersion: 0 };
          if (cluster.chainVersions.get(io.chainId) !== io.chainVersion) {
            return {
              status: { code: ErrorCode.CHAIN_VERSION_MISMATCH, message: 'stale' },
              data: Buffer.alloc(0),
              chunkLength: 0,
              commitVersion: 0,
            };
          }
          const chunk = cluster.chunks.get(`${io.chainId}/${io.chunk!.ino}/${io.chunk!.index}`);
          if (chunk === undefined) {
            return {
              status: { code: ErrorCode.CHUNK_NOT_FOUND, message: 'hole' },
              data: Buffer.alloc(0),
              chunkLength: 0,
              commitVersion: 0,
            };
          }
          return {
            status: { code: 0, message: '' },
            data: chunk.subarray(io.offset, io.offset + io.length),
            chunkLength: chunk.length,
            commitVersion: 1,
          };
        }),
      };
      if (request.bulkSessionId !== undefined && request.bulkSessionId !== '') {
        // As a real node: each OK result's bytes go as the frame its item names, before the answer.
        const channel = await bulk()!.channel(request.bulkSessionId, 1_000);
        for (const [i, result] of response.results.entries()) {
          if (result.status?.code !== 0) continue;
          await channel.send(request.ios[i]!.bulkRequestId!, result.data);
          cluster.bulkFramesOut++;
          result.bulkLength = result.data.length;
          result.data = Buffer.alloc(0);
        }
      }
      return response;
    },
    queryLastChunk: async (request: QueryLastChunkRequest) => {
      checkVersion(request.chainId, request.chainVersion);
      let best: { index: number; length: number } | undefined;
      for (const [key, chunk] of cluster.chunks) {
        const [chain, ino, index] = key.split('/').map(Number);
        if (chain === request.chainId && ino === request.ino && (best === undefined || index! > best.index))
          best = { index: index!, length: chunk.length };
      }
      return { found: best !== undefined, index: best?.index ?? 0, length: best?.length ?? 0 };
    },
    removeChunks: async (request: RemoveChunksRequest) => {
      checkVersion(request.chainId, request.chainVersion);
      let removed = 0;
      for (const key of [...cluster.chunks.keys()]) {
        const [chain, ino, index] = key.split('/').map(Number);
        if (chain === request.chainId && ino === request.ino && index! >= request.fromIndex) {
          cluster.chunks.delete(key);
          removed++;
        }
      }
      return { removed };
    },
    dumpChunkMeta: async () => ({ chunks: [], hasMore: false }),
  };
  // As a real node: batches of small reads also come as calls on a bulk session.
  bulk()?.handleRequests(async (payload) => {
    cluster.bulkCalls++;
    return encodeBatchReadAnswer(await handlers.batchRead(decodeStorageBulkCall(payload).request));
  });
  return startGrpcServer(
    [{ definition: StorageService, implementation: serviceImplementation(handlers) }],
    '127.0.0.1',
    0,
  );
}

/** Routing: node n hosts target n*1000+c for chain c; chain c's head is node ((c-1) % 3) + 1. */
function routingFor(
  version: number,
  addresses: string[],
  chainVersions: Map<number, number>,
  offline: number[] = [],
  bulkAddresses: Array<string | undefined> = [],
): RoutingInfo {
  return {
    version,
    nodes: addresses.map((address, i) => ({
      nodeId: i + 1,
      address,
      hostname: 'h',
      lastHeartbeatUs: 0,
      alive: true,
      bulkAddress: bulkAddresses[i],
    })),
    targets: CHAINS.flatMap((chainId) =>
      [1, 2, 3].map((nodeId) => ({
        targetId: nodeId * 1000 + chainId,
        nodeId,
        chainId,
        publicState: offline.includes(nodeId * 1000 + chainId) ? PublicTargetState.OFFLINE : PublicTargetState.SERVING,
        localState: 1,
        path: '',
        usedBytes: 0,
        capacityBytes: 0,
      })),
    ),
    chains: CHAINS.map((chainId) => ({
      chainId,
      chainVersion: chainVersions.get(chainId)!,
      targetIds: [0, 1, 2].map((k) => (((chainId - 1 + k) % 3) + 1) * 1000 + chainId),
    })),
    chainTables: [{ tableId: 1, version: 1, chainIds: CHAINS }],
  };
}

const layout: Layout = {
  chunkSizeBytes: CHUNK,
  stripeWidth: 3,
  chainTableId: 1,
  chainTableVersion: 1,
  chainBase: 0,
  shuffleSeed: 11,
};

function randomBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

describe.each([{ transport: 'grpc' as const }, { transport: 'bulk' as const }])(
  'ChunkStore over fake storage nodes (data over $transport)',
  ({ transport }) => {
    let cluster: Cluster;
    let servers: Server[];
    let addresses: string[];
    let bulkTransport: InProcessBulkTransport;
    let bulkListeners: BulkListener[];
    let bulkAddresses: Array<string | undefined>;
    let published: RoutingInfo;
    let routing: RoutingCache;
    let store: ChunkStore;
    let fetches: number;

    const publish = (offline: number[] = []) => {
      published = routingFor(published.version + 1, addresses, cluster.chainVersions, offline, bulkAddresses);
    };

    beforeEach(async () => {
      cluster = {
        chainVersions: new Map(CHAINS.map((c) => [c, 1])),
        chunks: new Map(),
        writes: [],
        readsByNode: new Map(),
        dedupe: new Map(),
        batches: [],
        bulkFramesIn: 0,
        bulkFramesOut: 0,
        bulkCalls: 0,
      };
      bulkTransport = new InProcessBulkTransport();
      bulkListeners =
        transport === 'bulk' ? await Promise.all([1, 2, 3].map(() => bulkTransport.listen('127.0.0.1', 0))) : [];
      bulkAddresses = bulkListeners.map((listener) => listener.address);
      const started = await Promise.all(
        [1, 2, 3].map((nodeId) => startNode(cluster, nodeId, () => bulkListeners[nodeId - 1])),
      );
      servers = started.map((s) => s.server);
      addresses = started.map((s) => s.address);
      published = routingFor(1, addresses, cluster.chainVersions, [], bulkAddresses);
      fetches = 0;
      routing = new RoutingCache({
        fetch: async (known): Promise<GetRoutingInfoResponse> => {
          fetches++;
          return { routing: known === published.version ? undefined : published, version: published.version };
        },
        refreshIntervalMs: 0,
      });
      await routing.ready();
      store = new ChunkStore({
        routing,
        clientId: 'test-client',
        config: clientConfig('test', { retryDeadlineMs: 3_000, retryBackoffInitialMs: 1, retryBackoffMaxMs: 20 }),
        bulkTransport,
      });
    });

    afterEach(async () => {
      store.close();
      routing.close();
      await Promise.all(servers.map((server) => stopGrpcServer(server, 100)));
      await Promise.all(bulkListeners.map((listener) => listener.close()));
    });

    it('writes striped chunks to the placed chains and reads them back', async () => {
      const data = randomBytes(5 * CHUNK + 123, 1);
      await store.write(7, layout, 100, data);
      const chains = fileChains(layout, CHAINS);
      for (let index = 0; index <= 5; index++) {
        expect(cluster.chunks.has(`${chains[index % 3]}/7/${index}`)).toBe(true);
      }
      // Writes went to each chain's head: node ((c-1) % 3) + 1.
      for (const write of cluster.writes) expect(write.nodeId).toBe(((write.chainId - 1) % 3) + 1);
      const back = await store.read(7, layout, 100, data.length, { fileLength: 100 + data.length });
      expect(back.equals(data)).toBe(true);
      const head = await store.read(7, layout, 0, 200, { fileLength: 100 + data.length });
      expect(head.subarray(0, 100).equals(Buffer.alloc(100))).toBe(true);
      expect(head.subarray(100).equals(data.subarray(0, 100))).toBe(true);
    });

    it('reads holes and short chunks as zeros up to the file length, and stops there', async () => {
      const data = randomBytes(1000, 2);
      await store.write(8, layout, 2 * CHUNK + 10, data);
      const fileLength = 4 * CHUNK;
      const all = await store.read(8, layout, 0, 10 * CHUNK, { fileLength });
      expect(all.length).toBe(fileLength);
      const expected = Buffer.alloc(fileLength);
      data.copy(expected, 2 * CHUNK + 10);
      expect(all.equals(expected)).toBe(true);
      // Without a file length the read ends after the last byte stored.
      const unbounded = await store.read(8, layout, 0, 10 * CHUNK);
      expect(unbounded.length).toBe(2 * CHUNK + 10 + 1000);
      expect(await store.read(8, layout, fileLength, 100, { fileLength })).toHaveLength(0);
    });

    it('refreshes routing and retries when the chain version is stale', async () => {
      for (const chainId of CHAINS) cluster.chainVersions.set(chainId, 2);
      publish();
      const before = fetches;
      const data = randomBytes(3 * CHUNK, 3);
      await store.write(9, layout, 0, data);
      expect(fetches).toBeGreaterThan(before);
      expect(routing.chain(1)?.chainVersion).toBe(2);
      expect((await store.read(9, layout, 0, data.length, { fileLength: data.length })).equals(data)).toBe(true);
    });

    it('retries a write whose answer was lost with the same channel, seqnum and tag, applying it once', async () => {
      let dropped = false;
      cluster.afterWrite = () => {
        if (!dropped) {
          dropped = true;
          throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'connection reset after apply');
        }
      };
      await store.write(10, layout, 0, Buffer.from('hello'));
      expect(cluster.writes).toHaveLength(2);
      const [first, retry] = cluster.writes;
      expect(retry).toMatchObject({
        channelId: first!.channelId,
        seqnum: first!.seqnum,
        requestId: first!.requestId,
        applied: false,
      });
      expect(first!.applied).toBe(true);
      // The next write on that channel takes the next seqnum.
      await store.write(10, layout, 5, Buffer.from('!'));
      const next = cluster.writes[2]!;
      expect(next.seqnum).toBeGreaterThan(first!.seqnum);
      expect((await store.read(10, layout, 0, 6, { fileLength: 6 })).toString()).toBe('hello!');
    });

    it('fails over to another replica when a node does not answer reads', async () => {
      const data = randomBytes(6 * CHUNK, 4);
      await store.write(11, layout, 0, data);
      cluster.beforeRead = (nodeId) => {
        if (nodeId === 2) throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'node 2 is down');
      };
      for (let i = 0; i < 4; i++) {
        expect((await store.read(11, layout, 0, data.length, { fileLength: data.length })).equals(data)).toBe(true);
      }
    });

    it('re-sends a write to the new head once the manager moved the dead head to the chain end, applying it once', async () => {
      const attempts: Array<{ nodeId: number; chainVersion: number; channelId: number; seqnum: number }> = [];
      cluster.beforeWrite = (nodeId, request) => {
        if (request.chainId !== 1) return;
        attempts.push({
          nodeId,
          chainVersion: request.chainVersion,
          channelId: request.channelId,
          seqnum: request.seqnum,
        });
        if (nodeId === 1) {
          // The head's node is gone; the manager declares it failed: offline, chain version +1.
          cluster.chainVersions.set(1, 2);
          publish([1001]);
          throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'node 1 is down');
        }
      };
      const data = randomBytes(3 * CHUNK, 12);
      await store.write(12, layout, 0, data);
      expect(attempts.map((a) => [a.nodeId, a.chainVersion])).toEqual([
        [1, 1],
        [2, 2],
      ]);
      expect(attempts[1]).toMatchObject({ channelId: attempts[0]!.channelId, seqnum: attempts[0]!.seqnum });
      expect(cluster.writes.filter((w) => w.chainId === 1 && w.applied)).toHaveLength(1);
      expect(routing.head(1)?.targetId).toBe(2001);
      expect((await store.read(12, layout, 0, data.length, { fileLength: data.length })).equals(data)).toBe(true);
    });

    it('adapts to a node that answers smaller batch reads than the client asks', async () => {
      const greedy = new ChunkStore({
        routing,
        clientId: 'greedy',
        config: clientConfig('production', { retryDeadlineMs: 3_000, retryBackoffInitialMs: 1, retryBackoffMaxMs: 5 }),
        bulkTransport,
      });
      const data = randomBytes(6 * CHUNK + 77, 9);
      await greedy.write(17, layout, 0, data);
      let refused = 0;
      cluster.beforeRead = (_nodeId, request) => {
        const total = request.ios.reduce((sum, io) => sum + io.length, 0);
        if (total > 20_000) {
          refused++;
          throw new SpindleError(
            ErrorCode.RPC_TOO_LARGE,
            `a batch read asks for ${total} bytes; this node answers at most 20000 per call`,
          );
        }
      };
      for (let i = 0; i < 2; i++) {
        const back = await greedy.read(17, layout, 0, data.length, { fileLength: data.length });
        expect(back.equals(data)).toBe(true);
      }
      expect(refused).toBeGreaterThan(0);
      greedy.close();
    });

    it("spreads a sequential reader over every node whatever the order of the file's chains", async () => {
      // A rotation counter that advances with the chunk index can stay in step with the chains'
      // target order (chain c starts at node c): some shuffles then send every chunk to one node.
      for (const shuffleSeed of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const shuffled: Layout = { ...layout, shuffleSeed };
        const ino = 200 + shuffleSeed;
        await store.write(ino, shuffled, 0, randomBytes(9 * CHUNK, shuffleSeed));
        cluster.readsByNode.clear();
        for (let pass = 0; pass < 4; pass++) {
          for (let chunk = 0; chunk < 9; chunk++)
            await store.read(ino, shuffled, chunk * CHUNK, CHUNK, { fileLength: 9 * CHUNK });
        }
        for (const node of [1, 2, 3])
          expect(cluster.readsByNode.get(node) ?? 0, `seed ${shuffleSeed}, node ${node}`).toBeGreaterThanOrEqual(4);
      }
    });

    it('spreads reads over the serving replicas and skips offline ones', async () => {
      const data = randomBytes(CHUNK, 5);
      await store.write(12, layout, 0, data);
      for (let i = 0; i < 30; i++) await store.read(12, layout, 0, 100, { fileLength: CHUNK });
      expect([...cluster.readsByNode.keys()].sort()).toEqual([1, 2, 3]);
      const chainId = fileChains(layout, CHAINS)[0]!;
      publish([2000 + chainId]);
      await routing.refresh();
      cluster.readsByNode.clear();
      for (let i = 0; i < 30; i++) await store.read(12, layout, 0, 100, { fileLength: CHUNK });
      expect(cluster.readsByNode.get(2) ?? 0).toBe(0);
    });

    it('batches concurrent small reads of different callers per storage node, each getting its own bytes', async () => {
      const files = [21, 22, 23];
      const contents = new Map(files.map((ino) => [ino, randomBytes(3 * CHUNK, ino)]));
      for (const ino of files) await store.write(ino, layout, 0, contents.get(ino)!);
      cluster.batches.length = 0;
      const reads: Array<{ ino: number; offset: number; promise: Promise<Buffer> }> = [];
      for (let i = 0; i < 90; i++) {
        const ino = files[i % 3]!;
        const offset = (i * 997) % (3 * CHUNK - 200);
        reads.push({ ino, offset, promise: store.read(ino, layout, offset, 200, { fileLength: 3 * CHUNK }) });
      }
      for (const read of reads) {
        expect((await read.promise).equals(contents.get(read.ino)!.subarray(read.offset, read.offset + 200))).toBe(
          true,
        );
      }
      // Fewer calls than reads, some carrying several callers' reads (of different files), and
      // still spread over every node (replicas in rotation).
      expect(cluster.batches.length).toBeLessThan(reads.length / 2);
      expect(cluster.batches.some((batch) => new Set(batch.inos).size > 1)).toBe(true);
      expect(new Set(cluster.batches.map((batch) => batch.nodeId)).size).toBe(3);
    });

    it('fails a read over to another replica than the one that just failed, whichever replica it started on', async () => {
      const data = randomBytes(3 * CHUNK, 81);
      await store.write(81, layout, 0, data);
      // Node 2 is unreachable for reads; concurrent reads make first attempts land on every replica
      // (least busy), and each read must reach node 2 at most once.
      const attemptsOnNode2 = new Map<string, number>();
      cluster.readItemError = (nodeId, io) => {
        if (nodeId !== 2) return undefined;
        const key = `${io.chunk!.index}:${io.offset}`;
        attemptsOnNode2.set(key, (attemptsOnNode2.get(key) ?? 0) + 1);
        return { code: ErrorCode.RPC_UNAVAILABLE, message: 'node 2 is unreachable' };
      };
      const reads = Array.from({ length: 60 }, (_, i) => {
        const offset = (i * 4_099) % (3 * CHUNK - 300);
        return store.read(81, layout, offset, 300, { fileLength: 3 * CHUNK }).then((got) => ({ got, offset }));
      });
      for (const { got, offset } of await Promise.all(reads))
        expect(got.equals(data.subarray(offset, offset + 300))).toBe(true);
      expect(attemptsOnNode2.size).toBeGreaterThan(0);
      for (const [key, count] of attemptsOnNode2) expect(count, `read ${key} went to node 2 ${count} times`).toBe(1);
    });

    it('fails only the caller whose item failed in a shared batch', async () => {
      const good = randomBytes(CHUNK, 31);
      await store.write(31, layout, 0, good);
      await store.write(32, layout, 0, randomBytes(CHUNK, 32));
      cluster.batches.length = 0;
      cluster.readItemError = (_nodeId, io) =>
        io.chunk!.ino === 32 ? { code: ErrorCode.INVALID_ARGUMENT, message: 'bad item' } : undefined;
      const reads = Array.from({ length: 12 }, (_, i) => {
        const ino = i % 2 === 0 ? 31 : 32;
        return store.read(ino, layout, i * 100, 100, { fileLength: CHUNK }).then(
          (data) => ({ ino, i, data }),
          (error: unknown) => ({ ino, i, error }),
        );
      });
      const outcomes = await Promise.all(reads);
      expect(cluster.batches.some((batch) => batch.inos.includes(31) && batch.inos.includes(32))).toBe(true);
      for (const outcome of outcomes) {
        if (outcome.ino === 31) {
          expect('data' in outcome && outcome.data.equals(good.subarray(outcome.i * 100, outcome.i * 100 + 100))).toBe(
            true,
          );
        } else {
          expect('error' in outcome && (outcome.error as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
        }
      }
    });

    it('retries a failed item of a shared batch on its own, leaving the others as they were', async () => {
      const data = randomBytes(CHUNK, 41);
      await store.write(41, layout, 0, data);
      await store.write(42, layout, 0, data);
      let failures = 0;
      cluster.readItemError = (nodeId, io) => {
        if (io.chunk!.ino === 42 && nodeId === 1) {
          failures++;
          return { code: ErrorCode.RPC_UNAVAILABLE, message: 'replica busy' };
        }
        return undefined;
      };
      const reads = Array.from({ length: 30 }, (_, i) =>
        store.read(i % 2 === 0 ? 41 : 42, layout, i * 50, 50, { fileLength: CHUNK }),
      );
      const results = await Promise.all(reads);
      results.forEach((result, i) => expect(result.equals(data.subarray(i * 50, i * 50 + 50))).toBe(true));
      expect(failures).toBeGreaterThan(0);
    });

    it('drops a cancelled read from its batch without touching its buffer, and serves the others', async () => {
      const data = randomBytes(CHUNK, 51);
      await store.write(51, layout, 0, data);
      const controller = new AbortController();
      const cancelledTarget = Buffer.alloc(100, 0xee);
      const cancelled = store.readInto(51, layout, 0, cancelledTarget, {
        fileLength: CHUNK,
        signal: controller.signal,
      });
      const others = Array.from({ length: 5 }, (_, i) =>
        store.read(51, layout, 100 * (i + 1), 100, { fileLength: CHUNK }),
      );
      controller.abort();
      await expect(cancelled).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
      const results = await Promise.all(others);
      results.forEach((result, i) => expect(result.equals(data.subarray(100 * (i + 1), 100 * (i + 2)))).toBe(true));
      expect(cancelledTarget.equals(Buffer.alloc(100, 0xee))).toBe(true);
    });

    it.runIf(transport === 'bulk')(
      'moves large reads and writes as bulk frames, small reads as one bulk call, small writes inside gRPC',
      async () => {
        const data = randomBytes(3 * CHUNK, 61);
        await store.write(61, layout, 0, data);
        expect(cluster.bulkFramesIn).toBe(3);
        await store.write(61, layout, 10, Buffer.from('small'));
        expect(cluster.bulkFramesIn).toBe(3);
        data.write('small', 10);
        expect((await store.read(61, layout, 0, 3 * CHUNK, { fileLength: 3 * CHUNK })).equals(data)).toBe(true);
        expect(cluster.bulkFramesOut).toBe(3);
        expect(cluster.bulkCalls).toBe(0);
        expect((await store.read(61, layout, 5, 100, { fileLength: 3 * CHUNK })).equals(data.subarray(5, 105))).toBe(
          true,
        );
        expect(cluster.bulkFramesOut).toBe(3);
        expect(cluster.bulkCalls).toBe(1);
        // A hole inside a bulk batch reads as zeros (no frame comes for it).
        const holes = await store.read(62, layout, 0, 2 * CHUNK, { fileLength: 2 * CHUNK });
        expect(holes.equals(Buffer.alloc(2 * CHUNK))).toBe(true);
      },
    );

    it.runIf(transport === 'bulk')('reconnects after a bulk session closed, retrying reads and writes', async () => {
      const data = randomBytes(3 * CHUNK, 71);
      await store.write(71, layout, 0, data);
      // Every node's end of every session goes away (a node restart, a broken connection).
      const closeAll = async () => {
        for (const listener of bulkListeners) await listener.close();
        bulkListeners = await Promise.all(
          bulkAddresses.map((address) => bulkTransport.listen('127.0.0.1', Number(address!.split(':')[1]))),
        );
      };
      await closeAll();
      expect((await store.read(71, layout, 0, data.length, { fileLength: data.length })).equals(data)).toBe(true);
      await closeAll();
      const next = randomBytes(3 * CHUNK, 72);
      await store.write(71, layout, 0, next);
      expect((await store.read(71, layout, 0, next.length, { fileLength: next.length })).equals(next)).toBe(true);
    });

    it('surfaces a non-retryable error at once, naming the chunk', async () => {
      let calls = 0;
      cluster.beforeWrite = () => {
        calls++;
        throw new SpindleError(ErrorCode.NO_SPACE, 'target full');
      };
      const error = (await store.write(13, layout, 0, Buffer.from('x')).then(
        () => undefined,
        (e: unknown) => e,
      )) as SpindleError;
      expect(error).toBeInstanceOf(SpindleError);
      expect(error.code).toBe('ENOSPC');
      expect(error.message).toMatch(/write of chunk 0 of inode 13 on chain \d+: target full/);
      expect(calls).toBe(1);
    });

    it('gives up after the retry deadline with RETRIES_EXHAUSTED', async () => {
      const short = new ChunkStore({
        routing,
        clientId: 'short',
        config: clientConfig('test', { retryDeadlineMs: 100, retryBackoffInitialMs: 1, retryBackoffMaxMs: 10 }),
        bulkTransport,
      });
      cluster.beforeWrite = () => {
        throw new SpindleError(ErrorCode.CHUNK_NOT_COMMITTED, 'busy');
      };
      await expect(short.write(14, layout, 0, Buffer.from('x'))).rejects.toMatchObject({
        errorCode: ErrorCode.RETRIES_EXHAUSTED,
      });
      short.close();
    });

    it('removes, truncates and measures a file (the StoragePort used by meta)', async () => {
      const data = randomBytes(4 * CHUNK + 500, 6);
      await store.write(15, layout, 0, data);
      expect(await store.queryLength(15, layout)).toBe(data.length);
      await store.truncateFile(15, layout, CHUNK + 10);
      expect(await store.queryLength(15, layout)).toBe(CHUNK + 10);
      const back = await store.read(15, layout, 0, data.length, { fileLength: CHUNK + 10 });
      expect(back.equals(data.subarray(0, CHUNK + 10))).toBe(true);
      // A boundary chunk that was never written is not an error.
      await store.truncateFile(16, layout, 100);
      await store.removeChunks(15, layout, 0);
      expect(await store.queryLength(15, layout)).toBe(0);
      expect([...cluster.chunks.keys()].filter((k) => k.includes('/15/'))).toEqual([]);
    });

    it('refuses bad ranges and calls after close', async () => {
      await expect(store.write(1, layout, -1, Buffer.from('x'))).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(store.read(1, layout, 2 ** 53, 1)).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(store.write(1, { ...layout, chunkSizeBytes: 1000 }, 0, Buffer.from('x'))).rejects.toThrow(
        /power of two/,
      );
      await expect(store.read(1, { ...layout, chainTableVersion: 9 }, 0, 1)).rejects.toMatchObject({
        errorCode: ErrorCode.CHAIN_TABLE_NOT_FOUND,
      });
      store.close();
      await expect(store.write(1, layout, 0, Buffer.from('x'))).rejects.toMatchObject({
        errorCode: ErrorCode.CLIENT_CLOSED,
      });
    });
  },
);
