// The KvStore gRPC service of a storage node (proto/kvstore.proto): decodes and validates each
// request — the whole batch before anything changes, INVALID_ARGUMENT naming the field — and hands
// it to the node's KV-cache store. No logic lives here.
import type { Logger } from 'pino';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import {
  KvGetStatus,
  KvPutStatus,
  KvRemoveStatus,
  type KvExistsRequest,
  type KvExistsResponse,
  type KvGetRequest,
  type KvGetResponse,
  type KvMatchPrefixRequest,
  type KvMatchPrefixResponse,
  type KvNamespaceConfig as KvNamespaceConfigMessage,
  type KvPutRequest,
  type KvPutResponse,
  type KvRemoveRequest,
  type KvRemoveResponse,
} from '../../proto/index.js';
import {
  BATCH_KEYS_MAX,
  MATCH_PREFIX_KEYS_MAX,
  PAGE_SIZE_MAX_BYTES,
  PAGE_SIZE_MIN_BYTES,
} from '../kvcache/constants.js';
import type { KvStore } from '../kvcache/kv-store.js';
import type { KvRequestScope } from '../kvcache/request-scope.js';
import { namespaceFingerprint, validateNamespaceConfig, type KvNamespaceConfig } from '../kvcache/namespace-config.js';
import { checkKeyBatch, checkLeaseMs, checkPutBatch } from '../kvcache/request-checks.js';
import { KvCounters } from '../kvcache/kv-counters.js';
import { DropReason, PutStatus, RemoveStatus } from '../kvcache/statuses.js';
import type { StorageMetrics } from '../metrics.js';
import { kvOperatorHandlers } from './kv-operator-service.js';
import { type InFlightCalls, measuredCalls } from './measured-call.js';

/**
 * Bytes of values one KvPut carries, and of chunks one KvGet reads and answers, at most: below the
 * gRPC message limit (80 MiB), and a bound on the memory one call holds.
 */
const KV_MESSAGE_VALUE_BYTES_MAX = 64 * 1024 * 1024;

export interface KvStoreServiceDeps {
  store: KvStore;
  logger: Logger;
  /** Counts calls by method (`KvPut`, …) and result in the Storage service's request metrics. */
  metrics?: StorageMetrics;
  /** Aborted when the node closes: in-flight work stops waiting. */
  closing: AbortSignal;
  inFlight?: InFlightCalls;
}

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}

/** The request's chain and namespace, validated; the writer's fingerprint must be the node's own. */
export function scopeOf(request: {
  namespace?: KvNamespaceConfigMessage | undefined;
  chainId: number;
  chainVersion: number;
}): KvRequestScope {
  if (request.namespace === undefined) throw invalid('namespace is missing: every KV-cache request names one');
  if (!(request.chainId > 0)) throw invalid('chain_id must be set');
  const { fingerprint: claimed, ...fields } = request.namespace;
  const config = validateNamespaceConfig(fields as KvNamespaceConfig);
  const fingerprint = namespaceFingerprint(config);
  if (claimed !== fingerprint) {
    throw new SpindleError(
      ErrorCode.FAILED_PRECONDITION,
      `namespace.fingerprint ${JSON.stringify(claimed)} is not the fingerprint of the config sent with it ` +
        `(${fingerprint}): the writer computed it from another config`,
    );
  }
  return { chainId: request.chainId, chainVersion: request.chainVersion, config, fingerprint };
}

/** `counters`: the node's KV counters, shared with the bulk-session calls (kv-bulk-calls.ts). */
export function kvStoreServiceHandlers(deps: KvStoreServiceDeps, counters: KvCounters = kvNodeCounters(deps)) {
  const handler = measuredCalls(deps, 'KV-cache');

  return {
    kvPut: handler('KvPut', async (request: KvPutRequest, signal): Promise<KvPutResponse> => {
      const pages = request.pages.map((p) => ({
        key: p.key,
        parentKey: p.parentKey,
        value: p.value,
        ttlMs: p.ttlMs,
      }));
      if (pages.length <= BATCH_KEYS_MAX) {
        pages.forEach((page, i) => {
          const bytes = page.value.length;
          if (bytes < PAGE_SIZE_MIN_BYTES || bytes > PAGE_SIZE_MAX_BYTES) {
            throw invalid(`pages[${i}].value has ${bytes} bytes: a page holds 16 KiB..32 MiB`);
          }
        });
      }
      checkPutBatch(pages.map((p) => ({ ...p, sizeBytes: p.value.length })));
      const totalBytes = pages.reduce((sum, p) => sum + p.value.length, 0);
      if (totalBytes > KV_MESSAGE_VALUE_BYTES_MAX) {
        throw invalid(`pages carry ${totalBytes} bytes of values: a put carries at most 64 MiB, split the batch`);
      }
      const scope = scopeOf(request);
      const { results, droppedPages } = await deps.store.put(scope, pages, signal);
      counters.countPuts(
        scope.chainId,
        scope.config.name,
        results.map((r) => r.status),
      );
      return {
        results: results.map((r) => ({ status: PUT_STATUS[r.status], retryAfterMs: r.retryAfterMs ?? 0 })),
        droppedPages,
      };
    }),
    kvGet: handler('KvGet', async (request: KvGetRequest): Promise<KvGetResponse> => {
      checkKeyBatch(request.keys, 'keys');
      if (request.bulkRequestIds.length > 0) {
        // Framed gets are answered by kv-bulk-calls.ts; here there is no session to send frames on.
        throw invalid("bulk_request_ids is only for a KvGet sent as a call on the node's bulk session");
      }
      const scope = scopeOf(request);
      const reads = await deps.store.get(scope, request.keys, KV_MESSAGE_VALUE_BYTES_MAX);
      const hits = reads.filter((read) => read.kind === 'found').length;
      const misses = reads.filter((read) => read.kind === 'missing').length;
      counters.countGets(scope.chainId, scope.config.name, hits, misses);
      return {
        results: reads.map((read) => {
          if (read.kind === 'found') return { status: KvGetStatus.KV_GET_FOUND, value: read.value, bulkLength: 0 };
          return { status: GET_STATUS[read.kind], value: Buffer.alloc(0), bulkLength: 0 };
        }),
      };
    }),
    kvExists: handler('KvExists', async (request: KvExistsRequest): Promise<KvExistsResponse> => {
      checkKeyBatch(request.keys, 'keys');
      return { present: await deps.store.exists(scopeOf(request), request.keys) };
    }),
    kvRemove: handler('KvRemove', async (request: KvRemoveRequest, signal): Promise<KvRemoveResponse> => {
      checkKeyBatch(request.keys, 'keys');
      const results = await deps.store.remove(scopeOf(request), request.keys, signal);
      return {
        results: results.map((r) => ({
          status: REMOVE_STATUS[r.status],
          removedPages: r.removedPages ?? 0,
          retryAfterMs: r.retryAfterMs ?? 0,
        })),
      };
    }),
    ...kvOperatorHandlers(handler, deps.store, counters),
    kvMatchPrefix: handler(
      'KvMatchPrefix',
      async (request: KvMatchPrefixRequest, signal): Promise<KvMatchPrefixResponse> => {
        checkKeyBatch(request.keys, 'keys', MATCH_PREFIX_KEYS_MAX);
        const scope = scopeOf(request);
        const startedNs = process.hrtime.bigint();
        const counted = (matchedCount: number, leased: boolean) => {
          const seconds = Number(process.hrtime.bigint() - startedNs) / 1e9;
          const missKeys = request.keys.length - matchedCount;
          counters.countMatch(scope.chainId, scope.config.name, matchedCount, missKeys, seconds, leased);
          return matchedCount;
        };
        if (request.leaseMs === undefined) {
          return { matchedCount: counted(await deps.store.match(scope, request.keys), false) };
        }
        checkLeaseMs(request.leaseMs);
        const result = await deps.store.matchWithLease(scope, request.keys, request.leaseMs, signal);
        return { matchedCount: counted(result.matchedCount, true), leaseUntilMs: result.leaseUntilMs };
      },
    ),
  };
}

/**
 * The node's KV counters, fed to its Prometheus metrics: drops the head's indexes report (an
 * operator's are counted where they happen), and the pages and bytes gauges under bounded labels.
 */
export function kvNodeCounters(deps: KvStoreServiceDeps): KvCounters {
  const counters = new KvCounters(deps.metrics?.kv);
  deps.store.observeDrops((chainId, namespace, page) => {
    if (page.reason !== DropReason.OPERATOR) counters.countDrops(chainId, namespace, page.reason, 1);
  });
  deps.metrics?.kv.setNamespaceTotals(() => {
    const byLabel = new Map<string, { pages: number; bytes: number }>();
    for (const [name, total] of deps.store.headIndexTotals()) {
      const label = counters.label(name);
      const sum = byLabel.get(label) ?? { pages: 0, bytes: 0 };
      byLabel.set(label, { pages: sum.pages + total.pages, bytes: sum.bytes + total.bytes });
    }
    return byLabel;
  });
  return counters;
}

const PUT_STATUS: Record<PutStatus, KvPutStatus> = {
  [PutStatus.STORED]: KvPutStatus.KV_PUT_STORED,
  [PutStatus.ALREADY_PRESENT]: KvPutStatus.KV_PUT_ALREADY_PRESENT,
  [PutStatus.PARENT_MISSING]: KvPutStatus.KV_PUT_PARENT_MISSING,
  [PutStatus.PARENT_EXPIRED]: KvPutStatus.KV_PUT_PARENT_EXPIRED,
  [PutStatus.REJECTED_MISMATCH]: KvPutStatus.KV_PUT_REJECTED_MISMATCH,
  [PutStatus.REJECTED_FULL]: KvPutStatus.KV_PUT_REJECTED_FULL,
  [PutStatus.REJECTED_TOO_LARGE]: KvPutStatus.KV_PUT_REJECTED_TOO_LARGE,
};

const GET_STATUS = {
  missing: KvGetStatus.KV_GET_MISSING,
  corrupt: KvGetStatus.KV_GET_CORRUPT,
  deferred: KvGetStatus.KV_GET_DEFERRED,
} as const;

/** The wire status of a page read that found nothing usable. */
export function getStatusOf(kind: keyof typeof GET_STATUS): KvGetStatus {
  return GET_STATUS[kind];
}

const REMOVE_STATUS: Record<RemoveStatus, KvRemoveStatus> = {
  [RemoveStatus.REMOVED]: KvRemoveStatus.KV_REMOVE_REMOVED,
  [RemoveStatus.NOT_FOUND]: KvRemoveStatus.KV_REMOVE_NOT_FOUND,
  [RemoveStatus.REJECTED_LEASED]: KvRemoveStatus.KV_REMOVE_REJECTED_LEASED,
};
