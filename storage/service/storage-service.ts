// The Storage gRPC service: decodes and validates each request, hands it to the replicator or the
// read operator, counts it, and maps errors at the edge (common/rpc.ts). No logic lives here.
import type { Logger } from 'pino';
import type { StorageConfig } from '../../common/config.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type {
  BatchReadRequest,
  DumpChunkMetaRequest,
  ScrubStatusRequest,
  ScrubStatusResponse,
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
import { type InFlightCalls, measuredCalls } from './measured-call.js';
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
  /** What the scrubber checked and which chunks were repaired (ScrubStatus; absent: refused). */
  scrubStatus?: () => ScrubStatusResponse;
}

/** The Storage handlers (validation, metrics, error mapping), for gRPC and for bulk-session calls. */
export function storageServiceHandlers(deps: StorageServiceDeps) {
  const measured = measuredCalls(deps, 'storage');

  return {
    write: measured('Write', async (message: WriteRequest, signal) => {
      const request = await withBulkData(deps, message, signal);
      checkWriteRequest(request, request !== message);
      return deps.replicator.onWrite(request, signal);
    }),
    // Update, SyncDone and forwarded RemoveChunks come only from the chain predecessor (chain-callers.ts).
    update: measured('Update', async (message: UpdateRequest, signal, context) => {
      const request = await withBulkData(deps, message, signal);
      checkUpdateRequest(request, request !== message);
      if (request.sync === true) return requireResync(deps).onSyncUpdate(request, signal, context.principal);
      return deps.replicator.onUpdate(request, signal, context.principal);
    }),
    syncDone: measured('SyncDone', async (request: SyncDoneRequest, _signal, context) => {
      if (!(request.chainId > 0 && request.targetId > 0)) {
        throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'SyncDone needs chain_id and target_id');
      }
      return requireResync(deps).onSyncDone(request, context.principal);
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
    removeChunks: measured('RemoveChunks', (request: RemoveChunksRequest, signal, context) => {
      checkRemoveChunksRequest(request);
      return deps.replicator.onRemoveChunks(request, signal, context.principal);
    }),
    dumpChunkMeta: measured('DumpChunkMeta', async (request: DumpChunkMetaRequest) => {
      checkDumpChunkMetaRequest(request);
      return deps.reader.onDumpChunkMeta(request);
    }),
    scrubStatus: measured('ScrubStatus', async (_request: ScrubStatusRequest) => {
      if (deps.scrubStatus === undefined)
        throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'this storage node has no scrubber');
      return deps.scrubStatus();
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
