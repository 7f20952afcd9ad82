// A storage node's side of the bulk data path (common/bulk/transport.ts): the bytes of a Write or
// Update that arrive as a frame on the node's bulk listener instead of inside the message, the
// bytes of BatchRead results sent back as frames, and the sessions this node opens to its chain
// successors to forward updates the same way.
//
// The gRPC message stays the unit of work and of errors: a frame is only ever taken for a
// message that names it (BulkRef), so a frame nobody claims (its message was refused, or never
// came) expires in the listener. A session that is gone is RPC_UNAVAILABLE (retryable): the
// sender reconnects and resends frame and message together.
//
// This file imports nothing of the service (service/storage-service.ts) or the replicator: both use
// it, and the handlers it answers bulk calls with are passed in (serveCalls), so there is no cycle.
import type { Logger } from 'pino';
import { ErrorCode, SpindleError, assert } from '../common/errors.js';
import type { BulkSessionPool } from '../common/bulk/session-pool.js';
import type { BulkChannel, BulkListener } from '../common/bulk/transport.js';
import type { CallContext } from '../common/rpc.js';
import { requireRole } from '../common/auth/server-auth.js';

const BATCH_READ_PATH = '/spindle.Storage/BatchRead';
const KV_DATA_PATH = '/spindle.KvStore/KvPut';
import { isSessionId, quoteId } from '../common/bulk/options.js';
import {
  StorageBulkMethod,
  decodeStorageBulkCall,
  encodeBatchReadAnswer,
  type KvBulkCall,
} from '../common/storage-bulk-calls.js';
import type { StorageMetrics } from './metrics.js';
import type { BatchReadResponseWithCrcs } from './read-operator.js';
import type { BatchReadRequest, BatchReadResponse, BulkRef } from '../proto/index.js';

/** Below this many bytes an update travels inside its gRPC message (a frame costs more). */
export const BULK_FORWARD_MIN_BYTES = 64 * 1024;
/** How long a call waits for the sender's bulk session when the message overtook its handshake. */
const SESSION_WAIT_MS = 1_000;

export interface StorageBulkOptions {
  /** The node's listener; undefined when the node serves chunk bytes over gRPC only. */
  listener: BulkListener | undefined;
  /** Sessions to successors (undefined: forward over gRPC only). */
  peers: BulkSessionPool | undefined;
  /** How long a message waits for the frame it names. */
  frameTimeoutMs: number;
  logger: Logger;
  metrics?: StorageMetrics;
}

/** The service's BatchRead handler (validation, metrics, errors), as bulk-session calls use it. */
export type BatchReadHandler = (request: BatchReadRequest, context: CallContext) => Promise<BatchReadResponse>;

/** The KvStore service's calls as bulk-session calls use them (service/kv-bulk-calls.ts). */
export type KvBulkCallHandler = (call: KvBulkCall, session: BulkChannel, context: CallContext) => Promise<Uint8Array>;

/** What a message carrying chunk bytes looks like to the bulk path (WriteRequest, UpdateRequest). */
interface CarriesData {
  data: Buffer;
  dataCrc32c: number;
  bulk?: BulkRef | undefined;
  chunkSizeBytes: number;
}

export class StorageBulk {
  constructor(private readonly options: StorageBulkOptions) {}

  /** host:port peers open sessions on, or undefined (gRPC only). */
  get address(): string | undefined {
    return this.options.listener?.address;
  }

  /**
   * Resolves a message's bytes: inline `data`, or the frame its BulkRef names, taken from the
   * sender's session (and checked against `data_crc32c` on the way). The returned message has the
   * bytes in `data` and no BulkRef, so the rest of the node (validation, replication, dedupe) sees
   * one shape whichever way the bytes came.
   */
  async withData<T extends CarriesData>(request: T, signal: AbortSignal): Promise<T> {
    const bulk = request.bulk;
    if (bulk === undefined) return request;
    if (request.data.length !== 0) throw invalid('a request with bulk bytes must have empty data');
    if (!(Number.isSafeInteger(bulk.length) && bulk.length >= 0 && bulk.length <= request.chunkSizeBytes)) {
      throw invalid(`bulk.length ${bulk.length} is not within the chunk size ${request.chunkSizeBytes}`);
    }
    if (bulk.sessionId === '' || !Number.isSafeInteger(bulk.requestId))
      throw invalid('bulk needs session_id and request_id');
    // Checked before any lookup, and never echoed whole: a peer's megabyte-long id in an error
    // would not fit the gRPC trailer that carries it back.
    if (!isSessionId(bulk.sessionId)) throw invalid(`bulk.session_id ${quoteId(bulk.sessionId)} is not a session id`);
    const channel = await this.sessionOf(bulk.sessionId);
    // The transport checks the bytes against the frame's CRC and that CRC against data_crc32c, so
    // validation need not checksum them again (the caller skips it for messages from here).
    const data = await channel.receive(bulk.requestId, {
      maxBytes: bulk.length,
      expectCrc32c: request.dataCrc32c,
      timeoutMs: this.options.frameTimeoutMs,
      signal,
    });
    if (data.length !== bulk.length) {
      throw invalid(`bulk frame ${bulk.requestId} has ${data.length} bytes but the request says ${bulk.length}`);
    }
    this.options.metrics?.bulkBytes.inc({ direction: 'in' }, data.length);
    return { ...request, data, bulk: undefined };
  }

  /**
   * For a BatchRead that asked for bulk bytes: sends each OK result's bytes as the frame its
   * ReadIO names and leaves `data` empty with `bulk_length` set. A result whose frame could not be
   * sent gets that error as its status (the other results stand).
   */
  async sendReadResults(request: BatchReadRequest, response: BatchReadResponseWithCrcs): Promise<BatchReadResponse> {
    const sessionId = request.bulkSessionId;
    if (sessionId === undefined || sessionId === '') return response;
    if (!isSessionId(sessionId)) throw invalid(`bulk_session_id ${quoteId(sessionId)} is not a session id`);
    const channel = await this.sessionOf(sessionId);
    await Promise.all(
      response.results.map(async (result, i) => {
        if ((result.status?.code ?? 0) !== ErrorCode.OK) return;
        const io = request.ios[i]!;
        const data = result.data;
        try {
          await channel.send(io.bulkRequestId ?? 0, data, response.dataCrc32cs[i]);
          result.bulkLength = data.length;
          result.data = EMPTY;
          this.options.metrics?.bulkBytes.inc({ direction: 'out' }, data.length);
        } catch (err) {
          const error =
            err instanceof SpindleError
              ? err
              : new SpindleError(ErrorCode.RPC_UNAVAILABLE, String(err), { cause: err });
          result.status = { code: error.errorCode, message: `bulk frame not sent: ${error.message}` };
          result.data = EMPTY;
        }
      }),
    );
    return response;
  }

  /** Whether `length` bytes for the peer at `bulkAddress` ('' = none) should travel as a frame. */
  forwardsInFrames(bulkAddress: string, length: number): boolean {
    return this.options.peers !== undefined && bulkAddress !== '' && length >= BULK_FORWARD_MIN_BYTES;
  }

  /**
   * Sends `data` as a frame on a session to the peer at `bulkAddress` and calls `call` with the
   * BulkRef naming it. Frame and message go out together; the receiver pairs them.
   */
  async forward<T>(
    bulkAddress: string,
    data: Uint8Array,
    dataCrc32c: number,
    call: (bulk: BulkRef) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const peers = this.options.peers;
    if (peers === undefined) throw new SpindleError(ErrorCode.INTERNAL, 'bulk forwarding is off on this node');
    const channel = await peers.get(bulkAddress, signal);
    const requestId = channel.nextRequestId();
    const sent = channel.send(requestId, data, dataCrc32c);
    const answered = call({ sessionId: channel.sessionId, requestId, length: data.length });
    // The answer implies the frame arrived; a failed send fails the call anyway (the receiver times
    // out waiting), so report whichever error comes first.
    const [, response] = await Promise.all([sent, answered]);
    this.options.metrics?.bulkBytes.inc({ direction: 'out' }, data.length);
    return response;
  }

  /**
   * Answers storage calls made on this node's bulk sessions (common/storage-bulk-calls.ts: batches
   * of small reads, the KV-cache calls) with the same handlers as gRPC, so validation, metrics and errors are one.
   */
  serveCalls(handlers: { batchRead: BatchReadHandler; kv: KvBulkCallHandler }): void {
    this.options.listener?.handleRequests(async (payload, session) => {
      const call = decodeStorageBulkCall(payload);
      // The listener's end of a session always knows its peer (ANONYMOUS_ADMIN when it checks no credentials).
      const principal = session.principal;
      assert(principal !== undefined, 'a bulk call arrived on a session without a principal');
      const context = { peer: `bulk:${session.sessionId}`, signal: NEVER_ABORTED, principal };
      // The same roles as the gRPC methods doing the same work (every KV data call has KvPut's roles).
      requireRole(principal, call.method === StorageBulkMethod.BATCH_READ ? BATCH_READ_PATH : KV_DATA_PATH);
      if (call.method === StorageBulkMethod.BATCH_READ) {
        return encodeBatchReadAnswer(await handlers.batchRead(call.request, context));
      }
      return handlers.kv(call, session, context);
    });
  }

  async close(): Promise<void> {
    this.options.peers?.close();
    await this.options.listener?.close();
  }

  private async sessionOf(sessionId: string): Promise<BulkChannel> {
    const listener = this.options.listener;
    if (listener === undefined) throw noBulkListener();
    return listener.channel(sessionId, SESSION_WAIT_MS);
  }
}

const EMPTY = Buffer.alloc(0);
/** Bulk calls have no caller-side cancellation to forward (a caller that gives up drops the answer). */
const NEVER_ABORTED = new AbortController().signal;

/**
 * A call that needs the bulk path on a node without a listener. Retryable: a client whose routing
 * still lists a bulk address for this node (it restarted with --data-transport grpc) fails over,
 * refreshes its routing and sends the bytes inline.
 */
export function noBulkListener(): SpindleError {
  return new SpindleError(
    ErrorCode.RPC_UNAVAILABLE,
    'this storage node has no bulk listener (data transport grpc): ' +
      'refresh routing and send chunk bytes inside the request',
  );
}

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}
