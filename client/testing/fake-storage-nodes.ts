// Fake storage nodes for the chunk store's tests: three in-process nodes served over real gRPC (and,
// with transport 'bulk', announcing an InProcessBulkTransport listener, so large reads and writes
// move their bytes as bulk frames), a routing that a test can republish, and a ChunkStore over
// them. The fake keeps one copy of each chain's chunks (replication itself is storage's business
// and is tested there) and applies each write exactly once per (client, chain, channel, seqnum),
// as a real head does. Test-only.
import type { Server } from '@grpc/grpc-js';
import { afterEach, beforeEach } from 'vitest';
import { InProcessBulkTransport } from '../../common/bulk/in-process-transport.js';
import type { BulkListener } from '../../common/bulk/transport.js';
import { clientConfig } from '../../common/config.js';
import { createRng } from '../../common/clock.js';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { serviceImplementation, startGrpcServer, stopGrpcServer } from '../../common/rpc.js';
import { StorageBulkMethod, decodeStorageBulkCall, encodeBatchReadAnswer } from '../../common/storage-bulk-calls.js';
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
} from '../../proto/index.js';
import { ChunkStore } from '../chunk-store.js';
import { RoutingCache } from '../routing-cache.js';

/** Chunk size of `layout`. */
export const CHUNK = 64 * 1024;
/** The chains of chain table 1: chain c's head is node ((c-1) % 3) + 1. */
export const CHAINS = [1, 2, 3];

/** The fake nodes' shared state: what a test inspects and the hooks it sets to inject failures. */
interface FakeStorageState {
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

async function startNode(cluster: FakeStorageState, nodeId: number, bulk: () => BulkListener | undefined) {
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
          const data = chunk.subarray(io.offset, io.offset + io.length);
          return {
            status: { code: 0, message: '' },
            data,
            chunkLength: chunk.length,
            commitVersion: 1,
            dataCrc32c: crc32c(data),
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
  // As a real node: BatchReads also come as calls on a bulk session (every listener it starts).
  const serveBulkCalls = (): void =>
    bulk()?.handleRequests(async (payload) => {
      cluster.bulkCalls++;
      const call = decodeStorageBulkCall(payload);
      if (call.method !== StorageBulkMethod.BATCH_READ) {
        throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'the fake storage node has no KV-cache store');
      }
      return encodeBatchReadAnswer(await handlers.batchRead(call.request));
    });
  serveBulkCalls();
  const started = await startGrpcServer(
    [{ definition: StorageService, implementation: serviceImplementation(handlers) }],
    '127.0.0.1',
    0,
  );
  return { ...started, serveBulkCalls };
}

/** Routing: node n hosts target n*1000+c for chain c; chain c's head is node ((c-1) % 3) + 1. */
export function routingFor(
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

/** A layout striping a file over the three chains. */
export const layout: Layout = {
  chunkSizeBytes: CHUNK,
  stripeWidth: 3,
  chainTableId: 1,
  chainTableVersion: 1,
  chainBase: 0,
  shuffleSeed: 11,
};

/** Deterministic pseudo-random bytes (xorshift32 from `seed`). */
export function randomBytes(length: number, seed: number): Buffer {
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

export type DataTransport = 'grpc' | 'bulk';

/** The transports every data-path test runs over (describe.each). */
export const DATA_TRANSPORTS: Array<{ transport: DataTransport }> = [{ transport: 'grpc' }, { transport: 'bulk' }];

/** What a test sees of the fake cluster; set afresh before each test. */
export interface FakeStorageFixture {
  state: FakeStorageState;
  routing: RoutingCache;
  /** A ChunkStore over the nodes (test preset, 3 s retry deadline, 1–20 ms backoff). */
  store: ChunkStore;
  bulkTransport: InProcessBulkTransport;
  /** Routing fetches the client made so far. */
  fetches: number;
  /** Publishes the next routing version (chain versions from `state`), with `offline` target ids offline. */
  publish(offline?: number[]): void;
  /** Closes every node's bulk listener (every session ends, as on a node restart) and listens again. */
  restartBulkListeners(): Promise<void>;
}

/**
 * Starts three fake nodes and a ChunkStore before each test of the calling describe block, and
 * stops them after it. The returned object's fields are those of the current test.
 */
export function useFakeStorageCluster(transport: DataTransport): FakeStorageFixture {
  const fixture = {} as FakeStorageFixture;
  let servers: Server[] = [];
  let addresses: string[] = [];
  let bulkListeners: BulkListener[] = [];
  let bulkAddresses: Array<string | undefined> = [];
  let published: RoutingInfo;

  beforeEach(async () => {
    const state: FakeStorageState = {
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
    const bulkTransport = new InProcessBulkTransport();
    bulkListeners =
      transport === 'bulk' ? await Promise.all([1, 2, 3].map(() => bulkTransport.listen('127.0.0.1', 0))) : [];
    bulkAddresses = bulkListeners.map((listener) => listener.address);
    const started = await Promise.all(
      [1, 2, 3].map((nodeId) => startNode(state, nodeId, () => bulkListeners[nodeId - 1])),
    );
    servers = started.map((s) => s.server);
    const serveBulkCalls = started.map((s) => s.serveBulkCalls);
    addresses = started.map((s) => s.address);
    published = routingFor(1, addresses, state.chainVersions, [], bulkAddresses);
    const routing = new RoutingCache({
      fetch: async (known): Promise<GetRoutingInfoResponse> => {
        fixture.fetches++;
        return { routing: known === published.version ? undefined : published, version: published.version };
      },
      refreshIntervalMs: 0,
    });
    Object.assign(fixture, {
      state,
      routing,
      bulkTransport,
      fetches: 0,
      publish: (offline: number[] = []) => {
        published = routingFor(published.version + 1, addresses, state.chainVersions, offline, bulkAddresses);
      },
      restartBulkListeners: async () => {
        for (const listener of bulkListeners) await listener.close();
        bulkListeners = await Promise.all(
          bulkAddresses.map((address) => bulkTransport.listen('127.0.0.1', Number(address!.split(':')[1]))),
        );
        for (const serve of serveBulkCalls) serve();
      },
    });
    await routing.ready();
    fixture.store = new ChunkStore({
      routing,
      clientId: 'test-client',
      config: clientConfig('test', { retryDeadlineMs: 3_000, retryBackoffInitialMs: 1, retryBackoffMaxMs: 20 }),
      bulkTransport,
      // Replica rotations are random: seeded, a test that counts where reads went is the same every run.
      rng: createRng(1),
    });
  });

  afterEach(async () => {
    fixture.store?.close();
    fixture.routing?.close();
    await Promise.all(servers.map((server) => stopGrpcServer(server, 100)));
    await Promise.all(bulkListeners.map((listener) => listener.close()));
  });

  return fixture;
}
