// The client's data path: a file's bytes as chunks on chains (docs/design.md §4–5). Writes are cut at
// chunk boundaries, placed with common/placement.ts and sent to each chain's head
// (chunk-writes.ts); reads are batched per storage node and spread over the serving replicas of
// each chain (chunk-reads.ts, read-plan.ts, replica-choice.ts, read-transports/). It also
// implements the StoragePort the metadata service uses for GC and truncate (removeChunks,
// truncateFile, queryLength), structurally, so meta need not import anything but this class.
//
// Guarantees:
// - Every write carries the CRC32C of its bytes and an exactly-once (channel, seqnum); a retry of
//   the same chunk write reuses them, so a write that reached the head before a timeout is not
//   applied twice.
// - Chunk I/Os in flight are bounded by ioConcurrencyMax; write channels by writeChannelsMax.
// - Retryable errors are retried with backoff inside retryDeadlineMs: a stale chain version or a
//   moved head refreshes routing first; an unreachable replica makes reads try the next one.
//   Non-retryable errors surface at once, named with the chunk they hit.
// - A read returns exactly the bytes in [offset, min(offset + length, fileLength)); chunks never
//   written and bytes past a chunk's end inside that range read as zeros.
// - close() fails later calls with CLIENT_CLOSED and aborts those in flight.
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { systemClock, systemRng, type Clock, type Rng } from '../common/clock.js';
import type { ClientConfig } from '../common/config.js';
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import { fileChains } from '../common/placement.js';
import { callUnary } from '../common/rpc.js';
import {
  UpdateType,
  type ChunkId,
  type DumpChunkMetaResponse,
  type Layout,
  type QueryLastChunkResponse,
} from '../proto/index.js';
import type { BulkTransport } from '../common/bulk/transport.js';
import { BulkSessions } from './bulk-sessions.js';
import { checkChunkSize, checkRange, splitRange, truncatePlan } from './chunk-math.js';
import type { ChunkIoContext } from './chunk-io-context.js';
import { ChunkReads, type FileRange } from './chunk-reads.js';
import { ChunkWrites } from './chunk-writes.js';
import { ReplicaChoice } from './replica-choice.js';
import type { RoutingCache } from './routing-cache.js';
import { runAll } from './run-all.js';
import { Semaphore } from './semaphore.js';
import { StorageConnections } from './storage-connections.js';
import { retryStorageRequest } from './storage-retry.js';
import { WriteChannelPool } from './write-channels.js';

export interface ChunkStoreOptions {
  routing: RoutingCache;
  /** Stable id of this client instance: the exactly-once key of its writes. */
  clientId: string;
  /** Channels to storage nodes; created (and closed by close()) when not given. */
  connections?: StorageConnections;
  /** Bearer token of the channels created here and of bulk sessions (docs/security.md). */
  token?: string;
  config: ClientConfig;
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
  /** Source of request ids for idempotency tags (shared with the meta client); a counter if absent. */
  nextRequestId?: () => number;
  /**
   * Transport of chunk bytes to nodes with a bulk listener when config.dataTransport is 'bulk'
   * (default: raw TCP). Tests pass an InProcessBulkTransport.
   */
  bulkTransport?: BulkTransport;
}

export interface IoOptions {
  signal?: AbortSignal;
}

export interface ReadOptions extends IoOptions {
  /**
   * The file's length as the caller knows it: the read stops there, and holes or short chunks
   * before it read as zeros. Without it, the read ends after the last byte any chunk returned.
   */
  fileLength?: number;
}

export class ChunkStore {
  private readonly ctx: ChunkIoContext;
  private readonly clientId: string;
  private readonly ownsConnections: boolean;
  private readonly nextRequestId: () => number;
  private readonly writes: ChunkWrites;
  private readonly reads: ChunkReads;
  /** Replica rotation of length queries. */
  private readRotation = 0;
  private isClosed = false;
  private readonly closer = new AbortController();

  constructor(options: ChunkStoreOptions) {
    const { routing, config, logger } = options;
    this.clientId = options.clientId;
    this.ownsConnections = options.connections === undefined;
    const connections = options.connections ?? new StorageConnections({ token: options.token });
    const rng = options.rng ?? systemRng();
    let counter = 0;
    this.nextRequestId = options.nextRequestId ?? (() => ++counter);
    this.readRotation = rng.nextInt(1 << 30);
    setMaxListeners(0, this.closer.signal);
    this.ctx = {
      routing,
      connections,
      config,
      clock: options.clock ?? systemClock,
      rng,
      logger,
      io: new Semaphore(config.ioConcurrencyMax),
      bulk:
        config.dataTransport === 'bulk'
          ? new BulkSessions({
              transport: options.bulkTransport,
              connectTimeoutMs: config.rpcTimeoutMs,
              credential: options.token,
              logger,
            })
          : undefined,
      replicas: new ReplicaChoice(routing, connections),
      refreshRouting: () => this.refreshRoutingQuietly(),
    };
    this.writes = new ChunkWrites(this.ctx, {
      clientId: this.clientId,
      nextRequestId: this.nextRequestId,
      channels: new WriteChannelPool(config.writeChannelsMax),
    });
    this.reads = new ChunkReads(this.ctx, this.closer.signal);
  }

  /** The bulk sessions to the storage nodes, shared with other users of the data path (the KV cache). */
  get bulkSessions(): BulkSessions | undefined {
    return this.ctx.bulk;
  }

  /** Bytes a sequential reader keeps in flight ahead of itself (config.readaheadBytes). */
  get readaheadBytes(): number {
    return this.ctx.config.readaheadBytes;
  }

  /** Writes `data` at byte `offset` of the file; resolves when every replica committed it. */
  async write(ino: number, layout: Layout, offset: number, data: Uint8Array, options: IoOptions = {}): Promise<void> {
    this.throwIfClosed();
    checkRange(offset, data.length, 'write');
    checkChunkSize(layout.chunkSizeBytes);
    if (data.length === 0) return;
    const table = await this.tableChainIds(layout);
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const pieces = splitRange(offset, data.length, layout.chunkSizeBytes);
    await runAll(
      pieces.map(
        (piece) => (signal: AbortSignal) =>
          this.writes.writeChunk(
            ino,
            layout,
            table,
            piece.chunkIndex,
            UpdateType.WRITE,
            piece.chunkOffset,
            bytes.subarray(piece.bufferOffset, piece.bufferOffset + piece.length),
            signal,
          ),
      ),
      this.linkSignal(options.signal),
    );
  }

  /** Reads [offset, offset + length) into a new buffer (shorter at the end of the file). */
  async read(ino: number, layout: Layout, offset: number, length: number, options: ReadOptions = {}): Promise<Buffer> {
    checkRange(offset, length, 'read');
    const wanted = options.fileLength === undefined ? length : clampLength(offset, length, options.fileLength);
    const buffer = Buffer.allocUnsafe(wanted);
    const got = await this.readInto(ino, layout, offset, buffer, options);
    return got === buffer.length ? buffer : buffer.subarray(0, got);
  }

  /**
   * Reads into `target` from byte `offset` of the file; resolves to the number of bytes filled
   * (target.length, or less at the end of the file).
   */
  async readInto(
    ino: number,
    layout: Layout,
    offset: number,
    target: Uint8Array,
    options: ReadOptions = {},
  ): Promise<number> {
    this.throwIfClosed();
    checkRange(offset, target.length, 'read');
    checkChunkSize(layout.chunkSizeBytes);
    const wanted =
      options.fileLength === undefined ? target.length : clampLength(offset, target.length, options.fileLength);
    if (wanted === 0) return 0;
    const table = await this.tableChainIds(layout);
    const signal = this.linkSignal(options.signal);
    const end = await this.reads.read(ino, layout, table, offset, target, wanted, signal, options.signal);
    return options.fileLength === undefined ? end : wanted;
  }

  /** Removes every chunk of `ino` with index >= fromChunkIndex on every chain of the layout. */
  /**
   * Reads every range of the file into its place in `target` as one read (one plan, one retry
   * loop). Ranges must lie inside `target` and before the file's end (`fileLength`); holes read
   * as zeros.
   */
  async readRangesInto(
    ino: number,
    layout: Layout,
    ranges: readonly FileRange[],
    target: Uint8Array,
    options: ReadOptions & { fileLength: number },
  ): Promise<void> {
    this.throwIfClosed();
    checkChunkSize(layout.chunkSizeBytes);
    for (const range of ranges) {
      checkRange(range.offset, range.length, 'read');
      if (range.offset + range.length > options.fileLength || range.targetOffset + range.length > target.length) {
        throw new SpindleError(
          ErrorCode.INVALID_ARGUMENT,
          `read range [${range.offset}, ${range.offset + range.length}) into buffer offset ${range.targetOffset} ` +
            `passes the end of the file (${options.fileLength}) or of the buffer (${target.length})`,
        );
      }
    }
    const wanted = ranges.filter((range) => range.length > 0);
    if (wanted.length === 0) return;
    const table = await this.tableChainIds(layout);
    const signal = this.linkSignal(options.signal);
    await this.reads.readRanges(ino, layout, table, wanted, target, signal, options.signal);
  }

  async removeChunks(ino: number, layout: Layout, fromChunkIndex: number, options: IoOptions = {}): Promise<void> {
    this.throwIfClosed();
    if (!Number.isSafeInteger(fromChunkIndex) || fromChunkIndex < 0) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `removeChunks: chunk index must be a non-negative integer, got ${fromChunkIndex}`,
      );
    }
    const { ctx } = this;
    const table = await this.tableChainIds(layout);
    const chains = [...new Set(fileChains(layout, table))];
    await runAll(
      chains.map((chainId) => (signal: AbortSignal) => {
        const requestId = this.nextRequestId();
        return retryStorageRequest(
          ctx,
          `remove chunks of inode ${ino} from index ${fromChunkIndex} on chain ${chainId}`,
          signal,
          async () => {
            const { client, chainVersion } = ctx.replicas.head(chainId);
            await ctx.io.run(
              () =>
                callUnary(
                  client,
                  client.removeChunks,
                  {
                    tag: { clientId: this.clientId, requestId },
                    chainId,
                    chainVersion,
                    ino,
                    fromIndex: fromChunkIndex,
                    fromTargetId: 0,
                  },
                  'storage.RemoveChunks',
                  { timeoutMs: ctx.config.rpcTimeoutMs, signal },
                ),
              signal,
            );
          },
        );
      }),
      this.linkSignal(options.signal),
    );
  }

  /** Cuts the file to `length` bytes: removes chunks past it and truncates the boundary chunk. */
  async truncateFile(ino: number, layout: Layout, length: number, options: IoOptions = {}): Promise<void> {
    this.throwIfClosed();
    const plan = truncatePlan(length, layout.chunkSizeBytes);
    await this.removeChunks(ino, layout, plan.removeFromIndex, options);
    if (plan.cut === undefined) return;
    const table = await this.tableChainIds(layout);
    try {
      await this.writes.writeChunk(
        ino,
        layout,
        table,
        plan.cut.chunkIndex,
        UpdateType.TRUNCATE,
        plan.cut.length,
        Buffer.alloc(0),
        this.linkSignal(options.signal),
      );
    } catch (err) {
      // The boundary chunk was never written: nothing to cut, reads see zeros already.
      if (asSpindleError(err).errorCode !== ErrorCode.CHUNK_NOT_FOUND) throw err;
    }
  }

  /** The file's length as stored: the end of its highest chunk over all chains (0 if none). */
  async queryLength(ino: number, layout: Layout, options: IoOptions = {}): Promise<number> {
    this.throwIfClosed();
    checkChunkSize(layout.chunkSizeBytes);
    const { ctx } = this;
    const table = await this.tableChainIds(layout);
    const chains = [...new Set(fileChains(layout, table))];
    const ends = await runAll(
      chains.map((chainId) => (signal: AbortSignal) => {
        let rotation = this.readRotation++;
        return retryStorageRequest(
          ctx,
          `query last chunk of inode ${ino} on chain ${chainId}`,
          signal,
          async () => {
            const { client, chainVersion } = ctx.replicas.byRotation(chainId, rotation);
            const response: QueryLastChunkResponse = await ctx.io.run(
              () =>
                callUnary(client, client.queryLastChunk, { chainId, chainVersion, ino }, 'storage.QueryLastChunk', {
                  timeoutMs: ctx.config.rpcTimeoutMs,
                  signal,
                }),
              signal,
            );
            return response.found ? response.index * layout.chunkSizeBytes + response.length : 0;
          },
          (action) => {
            if (action === 'failover') rotation++;
          },
        );
      }),
      this.linkSignal(options.signal),
    );
    return ends.reduce((max, end) => Math.max(max, end), 0);
  }

  /**
   * One page of the chunk metadata a chain's head holds, over every file, after `after` (meta's
   * orphan sweep lists chunks with it).
   */
  async dumpChunkMeta(
    chainId: number,
    after: ChunkId | undefined,
    limit: number,
    options: IoOptions = {},
  ): Promise<DumpChunkMetaResponse> {
    this.throwIfClosed();
    const { ctx } = this;
    const signal = this.linkSignal(options.signal);
    return retryStorageRequest(ctx, `list the chunks of chain ${chainId}`, signal, async () => {
      const { client } = ctx.replicas.head(chainId);
      return ctx.io.run(
        () =>
          callUnary(
            client,
            client.dumpChunkMeta,
            { chainId, chainVersion: 0, after, limit, ino: 0 },
            'storage.DumpChunkMeta',
            { timeoutMs: ctx.config.rpcTimeoutMs, signal },
          ),
        signal,
      );
    });
  }

  /** Fails later calls with CLIENT_CLOSED, aborts those in flight, closes owned connections. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closer.abort();
    this.ctx.bulk?.close();
    if (this.ownsConnections) this.ctx.connections.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** The chain ids of the layout's chain table version, refreshing routing once if unknown. */
  private async tableChainIds(layout: Layout): Promise<readonly number[]> {
    const { routing } = this.ctx;
    let table = routing.tableChainIds(layout.chainTableId, layout.chainTableVersion);
    if (table === undefined) {
      await this.refreshRoutingQuietly();
      table = routing.tableChainIds(layout.chainTableId, layout.chainTableVersion);
    }
    if (table === undefined) {
      throw new SpindleError(
        ErrorCode.CHAIN_TABLE_NOT_FOUND,
        `chain table ${layout.chainTableId} version ${layout.chainTableVersion} ` +
          `is not in routing version ${routing.version}`,
      );
    }
    return table;
  }

  private async refreshRoutingQuietly(): Promise<void> {
    try {
      await this.ctx.routing.refresh();
    } catch (err) {
      this.ctx.logger?.debug({ err }, 'routing refresh failed');
    }
  }

  private linkSignal(signal: AbortSignal | undefined): AbortSignal {
    if (signal === undefined) return this.closer.signal;
    const linked = AbortSignal.any([signal, this.closer.signal]);
    // Every chunk request of one operation listens on it: the count is bounded by the semaphores.
    setMaxListeners(0, linked);
    return linked;
  }

  private throwIfClosed(): void {
    if (this.isClosed) throw new SpindleError(ErrorCode.CLIENT_CLOSED, 'the chunk store is closed');
  }
}

/** Bytes of [offset, offset + length) that lie before `fileLength`. */
export function clampLength(offset: number, length: number, fileLength: number): number {
  return Math.max(0, Math.min(length, fileLength - offset));
}
