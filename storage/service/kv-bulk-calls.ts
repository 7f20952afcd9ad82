// The KV-cache store's calls on a storage node's bulk sessions (common/storage-bulk-calls.ts): the
// same handlers as the KvStore gRPC service (validation, metrics, errors are one), without grpc-js's
// per-call and per-byte cost. A KvGet that names frame ids sends each found page's bytes as a frame
// on the caller's session, so a page crosses the connection once and lands where the caller asked
// (its receive buffer), instead of inside one message that is encoded, copied and decoded whole.
//
// A get's memory is bounded: pages are read a window at a time (KvStore.get defers the rest), and
// the next window is read while the previous one is being sent.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { BulkChannel } from '../../common/bulk/transport.js';
import { StorageBulkMethod, encodeKvAnswer } from '../../common/storage-bulk-calls.js';
import type { KvBulkCallHandler } from '../bulk-data.js';
import { KvGetStatus, type KvGetRequest, type KvGetResponse, type KvGetResult } from '../../proto/index.js';
import type { KvCounters } from '../kvcache/kv-counters.js';
import { checkKeyBatch } from '../kvcache/request-checks.js';
import { getStatusOf, scopeOf, type kvStoreServiceHandlers, type KvStoreServiceDeps } from './kv-store-service.js';
import { measuredCalls } from './measured-call.js';

/**
 * Bytes of chunks one window of a framed get reads: above the largest page chunk (32 MiB + header),
 * so every window makes progress; two windows (one read, one sending) per call at most.
 */
const KV_FRAMED_GET_WINDOW_BYTES = 34 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/** Answers the KV calls of bulk sessions with the gRPC service's handlers (`handlers`). */
export function kvBulkCallHandler(
  deps: KvStoreServiceDeps,
  handlers: ReturnType<typeof kvStoreServiceHandlers>,
  counters: KvCounters,
): KvBulkCallHandler {
  const measured = measuredCalls(deps, 'KV-cache');
  return async (call, session, context) => {
    switch (call.method) {
      case StorageBulkMethod.KV_PUT:
        return encodeKvAnswer(call.method, await handlers.kvPut(call.request, context));
      case StorageBulkMethod.KV_GET: {
        if (call.request.bulkRequestIds.length === 0) {
          return encodeKvAnswer(call.method, await handlers.kvGet(call.request, context));
        }
        const framed = measured('KvGet', (request: KvGetRequest, signal) =>
          getInFrames(deps, counters, request, session, signal),
        );
        return encodeKvAnswer(call.method, await framed(call.request, context));
      }
      case StorageBulkMethod.KV_EXISTS:
        return encodeKvAnswer(call.method, await handlers.kvExists(call.request, context));
      case StorageBulkMethod.KV_REMOVE:
        return encodeKvAnswer(call.method, await handlers.kvRemove(call.request, context));
      case StorageBulkMethod.KV_MATCH_PREFIX:
        return encodeKvAnswer(call.method, await handlers.kvMatchPrefix(call.request, context));
    }
  };
}

function checkFrameIds(request: KvGetRequest): void {
  const ids = request.bulkRequestIds;
  if (ids.length !== request.keys.length) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `bulk_request_ids has ${ids.length} ids for ${request.keys.length} keys: one frame id per key`,
    );
  }
  if (!ids.every((id) => Number.isSafeInteger(id) && id > 0) || new Set(ids).size !== ids.length) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'bulk_request_ids must be distinct positive integers');
  }
}

/** Reads the pages a window at a time and sends each found page as the frame its key's id names. */
async function getInFrames(
  deps: KvStoreServiceDeps,
  counters: KvCounters,
  request: KvGetRequest,
  session: BulkChannel,
  signal: AbortSignal,
): Promise<KvGetResponse> {
  checkKeyBatch(request.keys, 'keys');
  checkFrameIds(request);
  const scope = scopeOf(request);
  const results: KvGetResult[] = new Array(request.keys.length);
  let pending = request.keys.map((_, i) => i);
  let sending: Promise<unknown> = Promise.resolve();
  while (pending.length > 0) {
    if (signal.aborted) throw new SpindleError(ErrorCode.CANCELLED, 'the get was cancelled');
    const asked = pending;
    const reads = await deps.store.get(
      scope,
      asked.map((i) => request.keys[i]!),
      KV_FRAMED_GET_WINDOW_BYTES,
    );
    await sending; // the previous window is out of our hands before this one goes
    pending = [];
    const sends: Array<Promise<void>> = [];
    reads.forEach((read, j) => {
      const at = asked[j]!;
      if (read.kind === 'deferred') pending.push(at);
      else if (read.kind !== 'found') results[at] = { status: getStatusOf(read.kind), value: EMPTY, bulkLength: 0 };
      else {
        results[at] = { status: KvGetStatus.KV_GET_FOUND, value: EMPTY, bulkLength: read.value.length };
        sends.push(session.send(request.bulkRequestIds[at]!, read.value, read.valueCrc32c));
        deps.metrics?.bulkBytes.inc({ direction: 'out' }, read.value.length);
      }
    });
    sending = Promise.all(sends);
    sending.catch(() => undefined); // awaited below or by the next window; never unhandled
  }
  await sending;
  const count = (status: KvGetStatus) => results.filter((r) => r.status === status).length;
  counters.countGets(
    scope.chainId,
    scope.config.name,
    count(KvGetStatus.KV_GET_FOUND),
    count(KvGetStatus.KV_GET_MISSING),
  );
  return { results };
}
