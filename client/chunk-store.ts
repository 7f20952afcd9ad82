// The client's data path: a file's bytes as chunks on chains (docs/design.md §4–5). Writes are cut at
// chunk boundaries, placed with common/placement.ts and sent to each chain's head; reads are
// batched per storage node and spread over the serving replicas of each chain. It also implements
// the StoragePort the metadata service uses for GC and truncate (removeChunks, truncateFile,
// queryLength), structurally, so meta need not import anything but this class.
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
import { decodeBatchReadAnswer, encodeBatchReadCall } from '../common/storage-bulk-calls.js';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { systemClock, systemRng, type Clock, type Rng } from '../common/clock.js';
import type { ClientConfig } from '../common/config.js';
import { crc32c } from '../common/crc32c.js';
import { ErrorCode, SpindleError, asSpindleError, assert, isKnownErrorCode } from '../common/errors.js';
import { chainForChunk, fileChains } from '../common/placement.js';
import { retryWithBackoff, throwIfAborted } from '../common/retry.js';
import { callUnary } from '../common/rpc.js';
import {
  UpdateType,
  type BatchReadResponse,
  type Layout,
  type QueryLastChunkResponse,
  type ReadIO,
  type StorageClient,
  type WriteRequest,
  type WriteResponse,
} from '../proto/index.js';
import { checkChunkSize, checkRange, splitRange, truncatePlan } from './chunk-math.js';
import type { BulkChannel, BulkTransport } from '../common/bulk/transport.js';
import { BulkSessions } from './bulk-sessions.js';
import {
  BATCH_READ_IOS_MAX,
  READ_BATCHES_PER_NODE_MAX,
  READ_BUDGET_MIN_BYTES,
  READ_BULK_MIN_BYTES,
  READ_COALESCE_ALONE_MIN_BYTES,
  WRITE_BULK_MIN_BYTES,
} from './constants.js';
import { ReadCoalescer, type CoalescedEntry } from './read-coalescer.js';
import { clientRetryBudget, storageRetryAction, type RetryAction } from './retry-policy.js';
import type { RoutingCache, RouteTarget } from './routing-cache.js';
import { Semaphore } from './semaphore.js';
import { StorageConnections } from './storage-connections.js';
import { WriteChannelPool } from './write-channels.js';

export interface ChunkStoreOptions {
  routing: RoutingCache;
  /** Stable id of this client instance: the exactly-once key of its writes. */
  clientId: string;
  /** Channels to storage nodes; created (and closed by close()) when not given. */
  connections?: StorageConnections;
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

/** One chunk range of a read, with its retry state. */
interface ReadItem {
  readonly chainId: number;
  readonly chunkIndex: number;
  readonly chunkOffset: number;
  /** Bytes wanted (shrinks when the item is split for a node with a smaller batch limit). */
  length: number;
  /** Offset in the caller's buffer. */
  readonly targetOffset: number;
  /** Replica preference: serving[rotation % n]; bumped to fail over. */
  rotation: number;
  /** Failovers in a row without a success (to know when every replica was tried). */
  failovers: number;
  error?: SpindleError;
  /** End (in the caller's buffer) of the bytes a replica returned. */
  dataEnd: number;
  /** The item's range of the caller's buffer is filled (data or zeros). */
  done: boolean;
  /** Storage node the current attempt reads from. */
  address?: string;
  /** That node's bulk listener, when it has one. */
  bulkAddress?: string;
}

/** One item of one caller's read, as it travels in a (possibly shared) BatchRead. */
interface ReadEntry extends CoalescedEntry {
  readonly ino: number;
  readonly item: ReadItem;
  /** The caller's buffer (item.targetOffset is relative to it). */
  readonly target: Uint8Array;
  /** Set by a bulk batch: stops the receive writing into `target` (its caller gave up). */
  onAbandoned?: () => void;
}

/** The failures of one read round and what they call for (the read's retry policy). */
interface FailedReadRound {
  readonly items: ReadItem[];
  readonly action: RetryAction;
  /** The error the round ends with: a retry's RETRIES_EXHAUSTED names it. */
  readonly last: SpindleError;
}

const EMPTY = Buffer.alloc(0);

/** Range of the random replica rotation of a read item (any multiple of every replica count works). */
const READ_ROTATION_SPAN = 1 << 30;

export class ChunkStore {
  private readonly routing: RoutingCache;
  private readonly clientId: string;
  private readonly connections: StorageConnections;
  private readonly ownsConnections: boolean;
  private readonly config: ClientConfig;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly logger: Logger | undefined;
  private readonly io: Semaphore;
  private readonly channels: WriteChannelPool;
  private readonly nextRequestId: () => number;
  private readRotation = 0;
  /** Read bytes this client has asked of each node (host:port) and not yet received. */
  private readonly readBytesInFlight = new Map<string, number>();
  /** Learned per-node limits of BatchRead bytes (nodes configured below our readBatchMaxBytes). */
  private readonly readBudgets = new Map<string, number>();
  /** Small reads of all callers, batched per storage node. */
  private readonly reads: ReadCoalescer<ReadEntry>;
  /** Bulk sessions to storage nodes (undefined: dataTransport 'grpc', bytes inside gRPC only). */
  private readonly bulk: BulkSessions | undefined;
  private isClosed = false;
  private readonly closer = new AbortController();

  constructor(options: ChunkStoreOptions) {
    this.routing = options.routing;
    this.clientId = options.clientId;
    this.ownsConnections = options.connections === undefined;
    this.connections = options.connections ?? new StorageConnections();
    this.config = options.config;
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? systemRng();
    this.logger = options.logger;
    this.io = new Semaphore(options.config.ioConcurrencyMax);
    this.channels = new WriteChannelPool(options.config.writeChannelsMax);
    let counter = 0;
    this.nextRequestId = options.nextRequestId ?? (() => ++counter);
    this.readRotation = this.rng.nextInt(1 << 30);
    setMaxListeners(0, this.closer.signal);
    this.bulk =
      options.config.dataTransport === 'bulk'
        ? new BulkSessions({
            transport: options.bulkTransport,
            connectTimeoutMs: options.config.rpcTimeoutMs,
            logger: options.logger,
          })
        : undefined;
    this.reads = new ReadCoalescer<ReadEntry>({
      send: (address, entries, signal) => this.sendBatch(address, entries, signal),
      budgetBytes: (address) => this.readBudget(address),
      itemsMax: BATCH_READ_IOS_MAX,
      batchesPerNodeMax: READ_BATCHES_PER_NODE_MAX,
      aloneMinBytes: READ_COALESCE_ALONE_MIN_BYTES,
      slots: this.io,
      signal: this.closer.signal,
    });
  }

  /** Bytes a sequential reader keeps in flight ahead of itself (config.readaheadBytes). */
  get readaheadBytes(): number {
    return this.config.readaheadBytes;
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
          this.writeChunk(
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
    const items: ReadItem[] = [];
    const subLength = Math.max(1, Math.min(layout.chunkSizeBytes, this.config.readBatchMaxBytes));
    for (const piece of splitRange(offset, wanted, layout.chunkSizeBytes)) {
      const chainId = chainForChunk(layout, table, piece.chunkIndex);
      // A piece bigger than one batch's byte budget is read in parts.
      for (let done = 0; done < piece.length; done += subLength) {
        items.push({
          chainId,
          chunkIndex: piece.chunkIndex,
          chunkOffset: piece.chunkOffset + done,
          length: Math.min(subLength, piece.length - done),
          targetOffset: piece.bufferOffset + done,
          // Random, not a counter: a counter advancing with the chunk index can stay in step with
          // the chains' target order and pick the same node for every chunk of a sequential read.
          rotation: this.rng.nextInt(READ_ROTATION_SPAN),
          failovers: 0,
          dataEnd: 0,
          done: false,
        });
      }
    }
    await this.readItems(ino, items, target, options.signal, `read of inode ${ino}`);
    // Every byte of the range must have been filled: a gap would hand the caller stale memory.
    let filled = 0;
    for (const item of items) {
      assert(item.done, `read item at ${item.targetOffset} of inode ${ino} was never completed`);
      filled += item.length;
    }
    assert(filled === wanted, `read of inode ${ino} filled ${filled} of ${wanted} bytes`);
    if (options.fileLength !== undefined) return wanted;
    let end = 0;
    for (const item of items) end = Math.max(end, item.dataEnd);
    return end;
  }

  /** Removes every chunk of `ino` with index >= fromChunkIndex on every chain of the layout. */
  async removeChunks(ino: number, layout: Layout, fromChunkIndex: number, options: IoOptions = {}): Promise<void> {
    this.throwIfClosed();
    if (!Number.isSafeInteger(fromChunkIndex) || fromChunkIndex < 0) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `removeChunks: chunk index must be a non-negative integer, got ${fromChunkIndex}`,
      );
    }
    const table = await this.tableChainIds(layout);
    const chains = [...new Set(fileChains(layout, table))];
    await runAll(
      chains.map((chainId) => (signal: AbortSignal) => {
        const requestId = this.nextRequestId();
        return this.retrying(
          `remove chunks of inode ${ino} from index ${fromChunkIndex} on chain ${chainId}`,
          signal,
          async () => {
            const { client, chainVersion } = this.headOf(chainId);
            await this.io.run(
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
                  { timeoutMs: this.config.rpcTimeoutMs, signal },
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
      await this.writeChunk(
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
    const table = await this.tableChainIds(layout);
    const chains = [...new Set(fileChains(layout, table))];
    const ends = await runAll(
      chains.map((chainId) => (signal: AbortSignal) => {
        let rotation = this.readRotation++;
        return this.retrying(
          `query last chunk of inode ${ino} on chain ${chainId}`,
          signal,
          async () => {
            const { client, chainVersion } = this.replicaOf(chainId, rotation);
            const response: QueryLastChunkResponse = await this.io.run(
              () =>
                callUnary(client, client.queryLastChunk, { chainId, chainVersion, ino }, 'storage.QueryLastChunk', {
                  timeoutMs: this.config.rpcTimeoutMs,
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

  /** Fails later calls with CLIENT_CLOSED, aborts those in flight, closes owned connections. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closer.abort();
    this.bulk?.close();
    if (this.ownsConnections) this.connections.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  // --- internals -------------------------------------------------------------------------------

  /** One chunk write (or TRUNCATE) to the chain head, exactly once across its retries. */
  private async writeChunk(
    ino: number,
    layout: Layout,
    table: readonly number[],
    chunkIndex: number,
    type: UpdateType,
    offset: number,
    data: Buffer,
    signal: AbortSignal,
  ): Promise<WriteResponse> {
    const chainId = chainForChunk(layout, table, chunkIndex);
    const lease = await this.channels.acquire(signal);
    const dataCrc32c = data.length > 0 ? crc32c(data) : 0;
    const requestId = this.nextRequestId();
    try {
      return await this.retrying(
        `${type === UpdateType.TRUNCATE ? 'truncate' : 'write'} of chunk ${chunkIndex} of inode ${ino} on chain ${chainId}`,
        signal,
        async () => {
          const { client, chainVersion, bulkAddress } = this.headOf(chainId);
          const request: WriteRequest = {
            tag: { clientId: this.clientId, requestId },
            chainId,
            chainVersion,
            chunk: { ino, index: chunkIndex },
            type,
            offset,
            data,
            dataCrc32c,
            chunkSizeBytes: layout.chunkSizeBytes,
            channelId: lease.channelId,
            seqnum: lease.seqnum,
          };
          if (this.bulk !== undefined && bulkAddress !== undefined && data.length >= WRITE_BULK_MIN_BYTES) {
            return this.io.run(() => this.writeViaBulk(client, bulkAddress, request, signal), signal);
          }
          return this.io.run(
            () =>
              callUnary(client, client.write, request, 'storage.Write', {
                timeoutMs: this.config.rpcTimeoutMs,
                signal,
              }),
            signal,
          );
        },
      );
    } finally {
      lease.release();
    }
  }

  /**
   * One Write whose bytes travel as a frame on the bulk session to the head: frame and call go out
   * together (the node pairs them by the BulkRef). A frame that cannot be sent (the session broke)
   * cancels the call and fails the attempt with the send's error (RPC_UNAVAILABLE: retried).
   */
  private async writeViaBulk(
    client: StorageClient,
    bulkAddress: string,
    request: WriteRequest,
    signal: AbortSignal,
  ): Promise<WriteResponse> {
    const channel = await this.bulk!.get(bulkAddress, signal);
    const frameId = channel.nextRequestId();
    const call = new AbortController();
    const onAbort = () => call.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      let sendError: unknown;
      const sent = channel.send(frameId, request.data, request.dataCrc32c).catch((err: unknown) => {
        sendError = err;
        call.abort();
      });
      const answered = callUnary(
        client,
        client.write,
        {
          ...request,
          data: EMPTY,
          bulk: { sessionId: channel.sessionId, requestId: frameId, length: request.data.length },
        },
        'storage.Write',
        { timeoutMs: this.config.rpcTimeoutMs, signal: call.signal },
      );
      const [, outcome] = await Promise.allSettled([sent, answered]);
      if (outcome.status === 'fulfilled') return outcome.value;
      if (sendError !== undefined && !signal.aborted) throw sendError;
      throw outcome.reason;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Runs one storage request with the retry policy; routing is refreshed before retries that need it. */
  private retrying<T>(
    what: string,
    signal: AbortSignal,
    attempt: () => Promise<T>,
    onAction?: (action: RetryAction) => void,
  ): Promise<T> {
    return retryWithBackoff(attempt, {
      ...clientRetryBudget(this.config, this.clock, this.rng),
      what,
      signal,
      classify: storageRetryAction,
      onRetry: async (err, { action }) => {
        const error = asSpindleError(err);
        this.logger?.debug({ err: error.message, code: error.codeName, action }, 'storage request retried');
        onAction?.(action);
        if (action === 'refresh-routing' || action === 'failover') await this.refreshRoutingQuietly();
      },
    }).catch((err: unknown) => {
      throw inContext(err, what);
    });
  }

  /**
   * Reads every item, each in a BatchRead to the node of its replica (shared with other callers'
   * reads to that node), round after round until all succeeded or one failed for good. A round
   * whose failures only need another replica goes again at once; one that needs the chain to
   * settle (every replica tried, a stale routing) backs off first.
   */
  private async readItems(
    ino: number,
    items: ReadItem[],
    target: Uint8Array,
    callerSignal: AbortSignal | undefined,
    what: string,
  ): Promise<void> {
    const signal = this.linkSignal(callerSignal);
    let pending = items;
    let failedRound: FailedReadRound | undefined;
    await retryWithBackoff(
      async () => {
        failedRound = await this.readRound(ino, pending, items, target, callerSignal, signal, what);
        if (failedRound === undefined) return;
        pending = failedRound.items;
        throw failedRound.last;
      },
      {
        ...clientRetryBudget(this.config, this.clock, this.rng),
        what,
        signal,
        // The round decided what its failures call for; any other error ends the read.
        classify: (err) => (failedRound !== undefined && err === failedRound.last ? failedRound.action : 'fail'),
        retriesAtOnce: (action) => action === 'failover',
        onRetry: async (_err, { action }) => {
          if (action === 'refresh-routing') await this.refreshRoutingQuietly();
        },
      },
    );
  }

  /**
   * One round of readItems: sends every pending item and waits until each batch settled. Returns
   * undefined when all succeeded, else the failed items (moved on to their next replica) and what
   * they call for; throws when one failed for good.
   */
  private async readRound(
    ino: number,
    pending: ReadItem[],
    all: ReadItem[],
    target: Uint8Array,
    callerSignal: AbortSignal | undefined,
    signal: AbortSignal,
    what: string,
  ): Promise<FailedReadRound | undefined> {
    const planned = this.planReads(pending, all);
    const sent: Array<Promise<void>> = [];
    for (const item of planned) {
      if (item.error !== undefined) continue;
      // planReads counted these bytes in flight to `address`; they leave when the batch settles.
      const address = item.address!;
      const bytes = item.length;
      sent.push(
        this.reads.submit(address, { ino, item, target, bytes, abandoned: false }, callerSignal).finally(() => {
          const left = (this.readBytesInFlight.get(address) ?? bytes) - bytes;
          if (left > 0) this.readBytesInFlight.set(address, left);
          else this.readBytesInFlight.delete(address);
        }),
      );
    }
    // Settled, not all: no batch may still write into `target` once this call returned.
    const outcomes = await Promise.allSettled(sent);
    throwIfAborted(signal, what);
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw inContext(outcome.reason, what);
    const failed = planned.filter((item) => item.error !== undefined);
    if (failed.length === 0) return undefined;
    let action: RetryAction = 'failover';
    let last: SpindleError | undefined;
    for (const item of failed) {
      const error = item.error!;
      last = error;
      const itemAction = storageRetryAction(error);
      if (itemAction === 'fail')
        throw inContext(error, `read of chunk ${item.chunkIndex} of inode ${ino} on chain ${item.chainId}`);
      if (itemAction === 'failover') {
        item.rotation++;
        item.failovers++;
        // Every replica tried once without success: the chain may be changing; wait and refresh.
        if (item.failovers >= Math.max(1, this.routing.servingTargets(item.chainId).length)) {
          action = 'refresh-routing';
          item.failovers = 0;
        }
      } else if (itemAction === 'refresh-routing') {
        action = 'refresh-routing';
      } else if (action === 'failover') {
        action = 'retry';
      }
      item.error = undefined;
    }
    return { items: failed, action, last: last! };
  }

  /**
   * Picks each item's storage node and splits items larger than that node's batch budget; the
   * new parts join `all`. Returns every item to send (or failed: no serving replica).
   *
   * The node: on a first attempt, the replica whose node has the fewest of this client's read
   * bytes in flight (ties: rotation order), so reads spread over every replica whatever the order
   * of chains and targets — a rotation counter alone can stay in step with the chunk order and send
   * a sequential reader to one node. After a failure, the next replica by rotation.
   */
  private planReads(pending: ReadItem[], all: ReadItem[]): ReadItem[] {
    const queue = [...pending];
    for (let i = 0; i < queue.length; i++) {
      const item = queue[i]!;
      const replicas = this.routing.servingTargets(item.chainId);
      if (replicas.length === 0) {
        item.error = this.noReplicaError(item.chainId, 'serving replica');
        continue;
      }
      // The rotation moves to the replica chosen, so a failover goes on to the next one.
      if (item.failovers === 0) item.rotation += this.leastBusyOffset(replicas, item.rotation);
      const replica = replicas[item.rotation % replicas.length]!;
      const address = replica.address!;
      item.address = address;
      item.bulkAddress = replica.bulkAddress;
      const budget = this.readBudget(address);
      if (item.length > budget) {
        for (let done = budget; done < item.length; done += budget) {
          const part: ReadItem = {
            ...item,
            chunkOffset: item.chunkOffset + done,
            targetOffset: item.targetOffset + done,
            length: Math.min(budget, item.length - done),
            error: undefined,
            dataEnd: 0,
            done: false,
          };
          all.push(part);
          queue.push(part);
        }
        item.length = budget;
      }
      this.readBytesInFlight.set(address, (this.readBytesInFlight.get(address) ?? 0) + item.length);
    }
    return queue;
  }

  /**
   * How far past `rotation` the replica is whose node has the fewest read bytes in flight from
   * this client (0 when the one at `rotation` has none, or ties).
   */
  private leastBusyOffset(replicas: readonly RouteTarget[], rotation: number): number {
    let best = 0;
    let bestBytes = this.readBytesInFlight.get(replicas[rotation % replicas.length]!.address!) ?? 0;
    for (let i = 1; i < replicas.length && bestBytes > 0; i++) {
      const bytes = this.readBytesInFlight.get(replicas[(rotation + i) % replicas.length]!.address!) ?? 0;
      if (bytes < bestBytes) {
        best = i;
        bestBytes = bytes;
      }
    }
    return best;
  }

  /** Bytes one BatchRead to `address` may ask for: the config's limit, or less once the node refused more. */
  private readBudget(address: string): number {
    return this.readBudgets.get(address) ?? this.config.readBatchMaxBytes;
  }

  /**
   * One BatchRead to one node, carrying entries of one or several callers; fills each caller's
   * buffer (unless it gave up meanwhile) and marks each item done or failed.
   */
  private async sendBatch(address: string, entries: ReadEntry[], signal: AbortSignal): Promise<void> {
    // Every entry of a batch reads from one node, so from one bulk address (or none).
    const bulkAddress = this.bulk === undefined ? undefined : entries[0]!.item.bulkAddress;
    if (bulkAddress !== undefined) {
      // Large ranges: bytes as frames straight into the callers' buffers; only small ones: the
      // whole batch as one call on the bulk session (no grpc-js call, whose fixed cost dominates).
      if (entries.some((entry) => entry.item.length >= READ_BULK_MIN_BYTES))
        return this.sendBulkBatch(address, bulkAddress, entries, signal);
      return this.sendBatchAsBulkCall(address, bulkAddress, entries, signal);
    }
    const ios = this.readIOs(entries);
    let response: BatchReadResponse;
    try {
      const client = this.connections.get(address);
      response = await callUnary(client, client.batchRead, { ios }, 'storage.BatchRead', {
        timeoutMs: this.config.rpcTimeoutMs,
        signal,
      });
    } catch (err) {
      this.failBatch(address, entries, err);
      return;
    }
    this.takeInlineResults(address, entries, response);
  }

  /** A batch of small reads as one call on the bulk session to the node; results inline in the answer. */
  private async sendBatchAsBulkCall(
    address: string,
    bulkAddress: string,
    entries: ReadEntry[],
    signal: AbortSignal,
  ): Promise<void> {
    let response: BatchReadResponse;
    try {
      const channel = await this.bulk!.get(bulkAddress, signal);
      const answer = await channel.call(encodeBatchReadCall({ ios: this.readIOs(entries) }), {
        timeoutMs: this.config.rpcTimeoutMs,
        signal,
      });
      response = decodeBatchReadAnswer(answer);
    } catch (err) {
      this.failBatch(address, entries, err);
      return;
    }
    this.takeInlineResults(address, entries, response);
  }

  private readIOs(entries: readonly ReadEntry[]): ReadIO[] {
    return entries.map(({ ino, item }) => ({
      chainId: item.chainId,
      chainVersion: this.routing.chain(item.chainId)?.chainVersion ?? 0,
      chunk: { ino, index: item.chunkIndex },
      offset: item.chunkOffset,
      length: item.length,
    }));
  }

  /** Fills each entry from its result in a response whose bytes are inline. */
  private takeInlineResults(address: string, entries: readonly ReadEntry[], response: BatchReadResponse): void {
    entries.forEach((entry, i) => {
      if (entry.abandoned) return;
      const result = response.results[i];
      if (result === undefined) {
        entry.item.error = malformedBatch(address, response, entries.length);
        return;
      }
      const code = result.status?.code ?? 0;
      if (code === ErrorCode.OK) this.fillItem(entry, result.data);
      else if (code === ErrorCode.CHUNK_NOT_FOUND) this.fillItem(entry, undefined);
      else entry.item.error = resultError(address, code, result.status?.message);
    });
  }

  /**
   * A BatchRead whose results' bytes come as frames on the bulk session to the node: a receive
   * into the caller's buffer is posted for every item before the call goes out, and dropped for
   * items that answered an error or a hole. Returns only once no receive can write any more.
   */
  private async sendBulkBatch(
    address: string,
    bulkAddress: string,
    entries: ReadEntry[],
    signal: AbortSignal,
  ): Promise<void> {
    let channel: BulkChannel;
    try {
      channel = await this.bulk!.get(bulkAddress, signal);
    } catch (err) {
      this.failBatch(address, entries, err);
      return;
    }
    const ios: ReadIO[] = [];
    const receives = entries.map(({ ino, item, target }, i) => {
      const entry = entries[i]!;
      const chain = this.routing.chain(item.chainId);
      const frameId = channel.nextRequestId();
      ios.push({
        chainId: item.chainId,
        chainVersion: chain?.chainVersion ?? 0,
        chunk: { ino, index: item.chunkIndex },
        offset: item.chunkOffset,
        length: item.length,
        bulkRequestId: frameId,
      });
      const stop = new AbortController();
      entry.onAbandoned = () => stop.abort();
      const received = channel.receive(frameId, {
        // A caller that gave up while the session was being opened has its buffer back: its frame
        // goes into a buffer of its own and is dropped.
        into: entry.abandoned ? undefined : target.subarray(item.targetOffset, item.targetOffset + item.length),
        timeoutMs: this.config.rpcTimeoutMs,
        signal: stop.signal,
      });
      // Outcomes are read below; a dropped receive's rejection is expected.
      received.catch(() => undefined);
      return { stop, received };
    });
    const stopAll = () => {
      for (const receive of receives) receive.stop.abort();
    };
    signal.addEventListener('abort', stopAll, { once: true });
    try {
      let response: BatchReadResponse;
      try {
        const client = this.connections.get(address);
        response = await callUnary(
          client,
          client.batchRead,
          { ios, bulkSessionId: channel.sessionId },
          'storage.BatchRead',
          {
            timeoutMs: this.config.rpcTimeoutMs,
            signal,
          },
        );
      } catch (err) {
        stopAll();
        this.failBatch(address, entries, err);
        return;
      }
      await Promise.all(
        entries.map(async (entry, i) => {
          const receive = receives[i]!;
          const result = response.results[i];
          const code = result === undefined ? undefined : (result.status?.code ?? 0);
          if (entry.abandoned || code !== ErrorCode.OK || result!.bulkLength === undefined) receive.stop.abort();
          if (entry.abandoned) return;
          if (result === undefined) {
            entry.item.error = malformedBatch(address, response, entries.length);
          } else if (code === ErrorCode.CHUNK_NOT_FOUND) {
            this.fillItem(entry, undefined);
          } else if (code !== ErrorCode.OK) {
            entry.item.error = resultError(address, code!, result.status?.message);
          } else if (result.bulkLength === undefined) {
            // The node put the bytes in the message after all.
            this.fillItem(entry, result.data);
          } else {
            let frame: Buffer;
            try {
              frame = await receive.received;
            } catch (err) {
              if (!entry.abandoned) entry.item.error = asSpindleError(err);
              return;
            }
            if (entry.abandoned) return;
            if (frame.length !== result.bulkLength) {
              entry.item.error = new SpindleError(
                ErrorCode.RPC_MALFORMED,
                `storage node ${address} sent ${frame.length} bytes for a result of ${result.bulkLength}`,
              );
              return;
            }
            // The bytes are in place already (received into the caller's buffer).
            this.fillItem(entry, frame, true);
          }
        }),
      );
    } finally {
      signal.removeEventListener('abort', stopAll);
      stopAll();
      await Promise.allSettled(receives.map((receive) => receive.received));
    }
  }

  /** Marks every entry of a batch that failed as a whole with the (typed) error. */
  private failBatch(address: string, entries: ReadEntry[], err: unknown): void {
    let error = asSpindleError(err);
    const asked = entries.reduce((sum, entry) => sum + entry.item.length, 0);
    if (error.errorCode === ErrorCode.RPC_TOO_LARGE && asked > READ_BUDGET_MIN_BYTES) {
      // The node answers less per call than our config asks: halve what we ask of it and retry.
      // Concurrent refusals from one node each halve their own request, not each other's result.
      this.readBudgets.set(
        address,
        Math.min(this.readBudget(address), Math.max(READ_BUDGET_MIN_BYTES, Math.floor(asked / 2))),
      );
      this.logger?.debug(
        { address, budget: this.readBudgets.get(address) },
        'storage node refused a batch read as too large',
      );
      error = new SpindleError(ErrorCode.RPC_TOO_LARGE, error.message, { cause: error, retryable: true });
    }
    for (const entry of entries) entry.item.error = error;
  }

  /**
   * Completes an item with the bytes a replica returned (undefined: a hole); the rest of its
   * range reads as zeros. `inPlace`: the bytes are already in the caller's buffer.
   */
  private fillItem(entry: ReadEntry, data: Buffer | undefined, inPlace = false): void {
    const { item, target } = entry;
    const copied = data === undefined ? 0 : Math.min(data.length, item.length);
    if (copied > 0) {
      if (!inPlace) target.set(copied === data!.length ? data! : data!.subarray(0, copied), item.targetOffset);
      item.dataEnd = item.targetOffset + copied;
    }
    // A hole, or the part of the range past the chunk's end: zeros.
    if (copied < item.length) target.fill(0, item.targetOffset + copied, item.targetOffset + item.length);
    item.failovers = 0;
    item.done = true;
  }

  /** The head of a chain and the version to send, or a retryable error. */
  private headOf(chainId: number): { client: StorageClient; chainVersion: number; bulkAddress: string | undefined } {
    const chain = this.routing.requireChain(chainId);
    const head = this.routing.head(chainId);
    if (head === undefined || head.address === undefined) throw this.noReplicaError(chainId, 'serving head');
    return {
      client: this.connections.get(head.address),
      chainVersion: chain.chainVersion,
      bulkAddress: head.bulkAddress,
    };
  }

  /** A serving replica of a chain, chosen by rotation. */
  private replicaOf(chainId: number, rotation: number): { client: StorageClient; chainVersion: number } {
    const chain = this.routing.requireChain(chainId);
    const replicas = this.routing.servingTargets(chainId);
    if (replicas.length === 0) throw this.noReplicaError(chainId, 'serving replica');
    const replica = replicas[rotation % replicas.length]!;
    return { client: this.connections.get(replica.address!), chainVersion: chain.chainVersion };
  }

  private noReplicaError(chainId: number, what: string): SpindleError {
    return new SpindleError(
      ErrorCode.TARGET_NOT_SERVING,
      `chain ${chainId} has no ${what} in routing version ${this.routing.version}`,
    );
  }

  /** The chain ids of the layout's chain table version, refreshing routing once if unknown. */
  private async tableChainIds(layout: Layout): Promise<readonly number[]> {
    let table = this.routing.tableChainIds(layout.chainTableId, layout.chainTableVersion);
    if (table === undefined) {
      await this.refreshRoutingQuietly();
      table = this.routing.tableChainIds(layout.chainTableId, layout.chainTableVersion);
    }
    if (table === undefined) {
      throw new SpindleError(
        ErrorCode.CHAIN_TABLE_NOT_FOUND,
        `chain table ${layout.chainTableId} version ${layout.chainTableVersion} is not in routing version ${this.routing.version}`,
      );
    }
    return table;
  }

  private async refreshRoutingQuietly(): Promise<void> {
    try {
      await this.routing.refresh();
    } catch (err) {
      this.logger?.debug({ err }, 'routing refresh failed');
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

/** A BatchRead answer with fewer results than items. */
function malformedBatch(address: string, response: BatchReadResponse, asked: number): SpindleError {
  return new SpindleError(
    ErrorCode.RPC_MALFORMED,
    `storage node ${address} answered ${response.results.length} of ${asked} reads`,
  );
}

/** The typed error of one item's status. */
function resultError(address: string, code: number, message: string | undefined): SpindleError {
  const text = message || 'read failed';
  return isKnownErrorCode(code)
    ? new SpindleError(code, text)
    : new SpindleError(ErrorCode.INTERNAL, `storage node ${address} answered unknown code ${code}: ${text}`);
}

/** Prefixes an error's message with what was being done, keeping its code and retryability. */
function inContext(err: unknown, what: string): SpindleError {
  const error = asSpindleError(err);
  if (error.errorCode === ErrorCode.RETRIES_EXHAUSTED || error.message.startsWith(what)) return error;
  return new SpindleError(error.errorCode, `${what}: ${error.message}`, { cause: error, retryable: error.retryable });
}

/**
 * Runs tasks concurrently (their own semaphores bound them); on the first failure the others are
 * aborted, and the first error is thrown once every task settled (nothing left running behind).
 */
export async function runAll<T>(tasks: Array<(signal: AbortSignal) => Promise<T>>, signal: AbortSignal): Promise<T[]> {
  const controller = new AbortController();
  const linked = AbortSignal.any([signal, controller.signal]);
  setMaxListeners(0, linked);
  let first: unknown;
  let failed = false;
  const results = await Promise.allSettled(
    tasks.map((task) =>
      task(linked).catch((err: unknown) => {
        if (!failed) {
          failed = true;
          first = err;
          controller.abort();
        }
        throw err;
      }),
    ),
  );
  if (failed) throw first;
  return results.map((result) => (result as PromiseFulfilledResult<T>).value);
}
