// The Storage gRPC service: decodes and validates each request, hands it to the replicator or the
// read operator, counts it, and maps errors at the edge (common/rpc.ts). No logic lives here.
import type { Logger } from 'pino';
import type { StorageConfig } from '../../common/config.js';
import { ErrorCode, SpindleError, asSpindleError } from '../../common/errors.js';
import type { CallContext } from '../../common/rpc.js';
import type {
  BatchReadRequest,
  DumpChunkMetaRequest,
  QueryLastChunkRequest,
  RemoveChunksRequest,
  SyncDoneRequest,
  UpdateRequest,
  WriteRequest,
} from '../../proto/index.js';
import { noBulkListener, type StorageBulk } from '../bulk-data.js';
import type { ChainReplicator } from '../chain-replicator.js';
import type { StorageMetrics } from '../metrics.js';
import type { ReadOperator } from '../read-operator.js';
import type { ResyncReceiver } from '../resync-receiver.js';
import {
  checkBatchReadRequest,
  checkDumpChunkMetaRequest,
  checkQueryLastChunkRequest,
  checkRemoveChunksRequest,
  checkUpdateRequest,
  checkWriteRequest,
} from './validate.js';

export interface StorageServiceDeps {
  replicator: ChainReplicator;
  reader: ReadOperator;
  /** The bulk data path: bytes of Write/Update/BatchRead as frames (absent: gRPC only). */
  bulk?: StorageBulk;
  /** Resync copies (Update with `sync`) and SyncDone; without it they are refused. */
  resync?: ResyncReceiver;
  config: Pick<StorageConfig, 'readBatchMaxBytes'>;
  logger: Logger;
  metrics?: StorageMetrics;
  /** Aborted when the node closes: in-flight work stops waiting. */
  closing: AbortSignal;
  /** Counts calls in flight (the node waits for them to drain when it closes). */
  inFlight?: InFlightCalls;
}

/** Calls in flight, and a way to wait until there are none. */
export class InFlightCalls {
  private count = 0;
  private waiters: Array<() => void> = [];

  get size(): number {
    return this.count;
  }

  enter(): void {
    this.count++;
  }

  leave(): void {
    this.count--;
    if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves when no call is in flight. */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** The Storage handlers (validation, metrics, error mapping), for gRPC and for bulk-session calls. */
export function storageServiceHandlers(deps: StorageServiceDeps) {
  const { metrics, logger } = deps;
  const measured =
    <Req, Res>(method: string, handler: (request: Req, signal: AbortSignal) => Promise<Res>) =>
    async (request: Req, context: CallContext): Promise<Res> => {
      const stop = metrics?.requestSeconds.startTimer({ method });
      // One signal for "the caller went away or the node is closing" (not AbortSignal.any, which
      // keeps a reference per call on the long-lived closing signal).
      const controller = new AbortController();
      const abort = () => controller.abort();
      if (context.signal.aborted || deps.closing.aborted) controller.abort();
      context.signal.addEventListener('abort', abort, { once: true });
      deps.closing.addEventListener('abort', abort, { once: true });
      const signal = controller.signal;
      deps.inFlight?.enter();
      try {
        const response = await handler(request, signal);
        metrics?.requests.inc({ method, result: 'ok' });
        return response;
      } catch (err) {
        let error = asSpindleError(err);
        if (deps.closing.aborted && !context.signal.aborted) {
          // Work cut short by the node shutting down: the caller should try another replica or
          // the new head, not give up.
          error = new SpindleError(ErrorCode.RPC_UNAVAILABLE, `storage node is shutting down (${error.message})`, {
            cause: err,
          });
        }
        metrics?.requests.inc({ method, result: error.codeName });
        if (error.codeName === 'INTERNAL' || error.codeName === 'IO_ERROR') {
          logger.error({ method, err }, 'storage request failed');
        } else {
          logger.debug({ method, code: error.codeName, message: error.message }, 'storage request refused');
        }
        throw error;
      } finally {
        context.signal.removeEventListener('abort', abort);
        deps.closing.removeEventListener('abort', abort);
        deps.inFlight?.leave();
        stop?.();
      }
    };

  return {
    write: measured('Write', async (message: WriteRequest, signal) => {
      const request = await withBulkData(deps, message, signal);
      checkWriteRequest(request, request !== message);
      return deps.replicator.onWrite(request, signal);
    }),
    update: measured('Update', async (message: UpdateRequest, signal) => {
      const request = await withBulkData(deps, message, signal);
      checkUpdateRequest(request, request !== message);
      if (request.sync === true) return requireResync(deps).onSyncUpdate(request, signal);
      return deps.replicator.onUpdate(request, signal);
    }),
    syncDone: measured('SyncDone', async (request: SyncDoneRequest) => {
      if (!(request.chainId > 0 && request.targetId > 0)) {
        throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'SyncDone needs chain_id and target_id');
      }
      return requireResync(deps).onSyncDone(request);
    }),
    batchRead: measured('BatchRead', async (request: BatchReadRequest) => {
      checkBatchReadRequest(request, deps.config.readBatchMaxBytes);
      const response = await deps.reader.onBatchRead(request);
      if (request.bulkSessionId === undefined || request.bulkSessionId === '') return response;
      return requireBulk(deps).sendReadResults(request, response);
    }),
    queryLastChunk: measured('QueryLastChunk', async (request: QueryLastChunkRequest) => {
      checkQueryLastChunkRequest(request);
      return deps.reader.onQueryLastChunk(request);
    }),
    removeChunks: measured('RemoveChunks', (request: RemoveChunksRequest, signal) => {
      checkRemoveChunksRequest(request);
      return deps.replicator.onRemoveChunks(request, signal);
    }),
    dumpChunkMeta: measured('DumpChunkMeta', async (request: DumpChunkMetaRequest) => {
      checkDumpChunkMetaRequest(request);
      return deps.reader.onDumpChunkMeta(request);
    }),
  };
}

/**
 * The message with its bytes in `data`, taken from the bulk frame it names if it names one (a new
 * object, whose bytes the transport already checked against `data_crc32c`).
 */
function withBulkData<T extends WriteRequest | UpdateRequest>(
  deps: StorageServiceDeps,
  message: T,
  signal: AbortSignal,
): Promise<T> {
  if (message.bulk === undefined) return Promise.resolve(message);
  return requireBulk(deps).withData(message, signal);
}

function requireBulk(deps: StorageServiceDeps): StorageBulk {
  if (deps.bulk === undefined || deps.bulk.address === undefined) throw noBulkListener();
  return deps.bulk;
}

function requireResync(deps: StorageServiceDeps): ResyncReceiver {
  if (deps.resync === undefined)
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'this storage node takes no resync copies');
  return deps.resync;
}
