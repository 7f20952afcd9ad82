// One chunk write (or TRUNCATE) to the head of its chain, with its retries: the bytes inside the
// gRPC Write, or — to a head with a bulk listener, from WRITE_BULK_MIN_BYTES up — as a frame on
// the bulk session, paired with the call by its BulkRef.
//
// Guarantees:
// - Every write carries the CRC32C of its bytes and an exactly-once (channel, seqnum) and tag;
//   its retries reuse all three, so a write that reached the head before a timeout is not
//   applied twice, even when a retry goes to a new head.
// - Write channels in use are bounded by writeChannelsMax, chunk I/Os by ioConcurrencyMax.
// - Retryable errors are retried inside retryDeadlineMs (storage-retry.ts); a frame that cannot be
//   sent (the session broke) fails the attempt with RPC_UNAVAILABLE, which is retried.
import { crc32c } from '../common/crc32c.js';
import { chainForChunk } from '../common/placement.js';
import { callUnary } from '../common/rpc.js';
import { UpdateType, type Layout, type StorageClient, type WriteRequest, type WriteResponse } from '../proto/index.js';
import type { BulkSessions } from './bulk-sessions.js';
import type { ChunkIoContext } from './chunk-io-context.js';
import { WRITE_BULK_MIN_BYTES } from './constants.js';
import { retryStorageRequest } from './storage-retry.js';
import type { WriteChannelPool } from './write-channels.js';

export interface ChunkWritesOptions {
  /** Stable id of this client instance: the exactly-once key of its writes. */
  clientId: string;
  /** Source of request ids for idempotency tags. */
  nextRequestId: () => number;
  channels: WriteChannelPool;
}

const EMPTY = Buffer.alloc(0);

export class ChunkWrites {
  constructor(
    private readonly ctx: ChunkIoContext,
    private readonly options: ChunkWritesOptions,
  ) {}

  /** One chunk write (or TRUNCATE) to the chain head, exactly once across its retries. */
  async writeChunk(
    ino: number,
    layout: Layout,
    table: readonly number[],
    chunkIndex: number,
    type: UpdateType,
    offset: number,
    data: Buffer,
    signal: AbortSignal,
  ): Promise<WriteResponse> {
    const { ctx } = this;
    const chainId = chainForChunk(layout, table, chunkIndex);
    const lease = await this.options.channels.acquire(signal);
    const dataCrc32c = data.length > 0 ? crc32c(data) : 0;
    const requestId = this.options.nextRequestId();
    const what = type === UpdateType.TRUNCATE ? 'truncate' : 'write';
    try {
      return await retryStorageRequest(
        ctx,
        `${what} of chunk ${chunkIndex} of inode ${ino} on chain ${chainId}`,
        signal,
        async () => {
          const { client, chainVersion, bulkAddress } = ctx.replicas.head(chainId);
          const request: WriteRequest = {
            tag: { clientId: this.options.clientId, requestId },
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
          const bulk = ctx.bulk;
          if (bulk !== undefined && bulkAddress !== undefined && data.length >= WRITE_BULK_MIN_BYTES) {
            return ctx.io.run(() => this.writeViaBulk(bulk, client, bulkAddress, request, signal), signal);
          }
          return ctx.io.run(
            () =>
              callUnary(client, client.write, request, 'storage.Write', {
                timeoutMs: ctx.config.rpcTimeoutMs,
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
    bulk: BulkSessions,
    client: StorageClient,
    bulkAddress: string,
    request: WriteRequest,
    signal: AbortSignal,
  ): Promise<WriteResponse> {
    const channel = await bulk.get(bulkAddress, signal);
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
        { timeoutMs: this.ctx.config.rpcTimeoutMs, signal: call.signal },
      );
      const [, outcome] = await Promise.allSettled([sent, answered]);
      if (outcome.status === 'fulfilled') return outcome.value;
      if (sendError !== undefined && !signal.aborted) throw sendError;
      throw outcome.reason;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
