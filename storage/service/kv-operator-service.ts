// The operators' calls of the KvStore service (KvNamespaceStats, KvEvict, KvRemoveNamespace:
// `spindle kv ls|stat|evict|rm`): decodes and checks each request, then hands it to
// storage/kvcache/kv-operator.ts at the chain head. No logic lives here.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type {
  KvEvictRequest,
  KvEvictResponse,
  KvNamespaceStatsRequest,
  KvNamespaceStatsResponse,
  KvRemoveNamespaceRequest,
  KvRemoveNamespaceResponse,
} from '../../proto/index.js';
import type { KvCounters } from '../kvcache/kv-counters.js';
import {
  evictNamespace,
  knownNamespaceSummaries,
  removeNamespace,
  unknownNamespaceSummaries,
} from '../kvcache/kv-operator.js';
import type { KvStore } from '../kvcache/kv-store.js';
import { NAME_PATTERN } from '../kvcache/namespace-config.js';
import { DropReason } from '../kvcache/statuses.js';
import type { measuredCalls } from './measured-call.js';

function checkChain(request: { chainId: number }): void {
  if (!(request.chainId > 0)) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'chain_id must be set');
}

function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `name ${JSON.stringify(name)} is no KV-cache namespace name (1..128 of A-Z a-z 0-9 . _ -)`,
    );
  }
}

export function kvOperatorHandlers(handler: ReturnType<typeof measuredCalls>, store: KvStore, counters: KvCounters) {
  return {
    kvNamespaceStats: handler(
      'KvNamespaceStats',
      async (request: KvNamespaceStatsRequest, signal): Promise<KvNamespaceStatsResponse> => {
        checkChain(request);
        if (request.name !== '' || request.countersOnly) checkName(request.name);
        if (request.countersOnly) {
          // Any node: its own counters of the chain's namespace (the caller sums over the replicas).
          const counts = counters.of(request.chainId, request.name);
          const stat = { name: request.name, fingerprint: '', pages: 0, bytes: 0, capacityBytes: 0, leasedPages: 0 };
          return { chainId: request.chainId, targetId: 0, namespaces: [{ ...stat, counters: counts }] };
        }
        const name = request.name === '' ? undefined : request.name;
        const head = await store.atHeadForOperator(request.chainId, request.chainVersion, signal, async (at) => ({
          view: at.view,
          engine: at.target.engine,
          knownNames: new Set(at.namespaces.names()),
          known: await knownNamespaceSummaries(at, name),
        }));
        const unknown = await unknownNamespaceSummaries(head.engine, head.knownNames, name);
        const summaries = [...head.known, ...unknown].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
        return {
          chainId: head.view.chainId,
          targetId: head.view.localTargetId,
          namespaces: summaries.map((s) => ({
            name: s.name,
            fingerprint: s.fingerprint,
            config: s.config && { ...s.config, fingerprint: s.fingerprint },
            pages: s.pages,
            bytes: s.bytes,
            capacityBytes: s.capacityBytes,
            leasedPages: s.leasedPages,
            counters: counters.of(head.view.chainId, s.name),
          })),
        };
      },
    ),
    kvEvict: handler('KvEvict', async (request: KvEvictRequest, signal): Promise<KvEvictResponse> => {
      checkChain(request);
      checkName(request.name);
      if (request.all === request.bytes > 0) {
        throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'give either bytes > 0 or all, not both or neither');
      }
      const bytesWanted = request.all ? Number.POSITIVE_INFINITY : request.bytes;
      return store.atHeadForOperator(request.chainId, request.chainVersion, signal, async (head) => {
        const outcome = await evictNamespace(head, request.name, bytesWanted);
        counters.countDrops(head.view.chainId, request.name, DropReason.OPERATOR, outcome.evictedPages);
        return outcome;
      });
    }),
    kvRemoveNamespace: handler(
      'KvRemoveNamespace',
      async (request: KvRemoveNamespaceRequest, signal): Promise<KvRemoveNamespaceResponse> => {
        checkChain(request);
        checkName(request.name);
        if (request.forgetOnReplica) {
          await store.forgetOnReplica(request.chainId, request.chainVersion, request.name);
          return { removedPages: 0, removedBytes: 0 };
        }
        return store.atHeadForOperator(request.chainId, request.chainVersion, signal, async (head) => {
          const removed = await removeNamespace(head, request.name, request.force);
          counters.countDrops(head.view.chainId, request.name, DropReason.OPERATOR, removed.removedPages);
          return removed;
        });
      },
    ),
  };
}
