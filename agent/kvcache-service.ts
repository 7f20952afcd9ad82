// The KvCache gRPC service (proto/kvcache.proto) on the client library's KvCache (client/kvcache,
// docs/kvcache.md "From inference engines: the agent's KvCache service").
//
// Guarantees:
// - Stateless for callers: every request carries its namespace config. The agent keeps one KvCache
//   per distinct config (name, meaning and keeping: at most AGENT_KV_NAMESPACES_MAX), so calls of a
//   namespace share its channels; all are closed when the agent closes.
// - Bad input is INVALID_ARGUMENT naming the proto field, checked for the whole request before any
//   storage node is asked (nothing changes); every other failure is the storage's, as a gRPC status
//   with the Spindle code in trailers (another config under the same name: FAILED_PRECONDITION).
// - A Get reply holds at most AGENT_KV_GET_REPLY_BYTES of values (plus one slice): pages past it
//   are DEFERRED, not read — the caller asks again — so one call's memory stays bounded.
import type { KvCache, SpindleClient } from '../client/index.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { kvNamespaceFingerprint } from '../common/kv-namespace-fingerprint.js';
import type { Logger } from '../common/logger.js';
import { serviceImplementation } from '../common/rpc.js';
import {
  type KvCacheExistsRequest,
  type KvCacheExistsResponse,
  type KvCacheGetRequest,
  type KvCacheGetResponse,
  type KvCacheGetResult,
  type KvCacheMatchPrefixRequest,
  type KvCacheMatchPrefixResponse,
  type KvCacheNamespace,
  type KvCachePutRequest,
  type KvCachePutResponse,
  type KvCacheRemoveRequest,
  type KvCacheRemoveResponse,
  KvCacheService,
} from '../proto/index.js';
import {
  GET_DEFERRED,
  GET_FOUND,
  GET_MISSING,
  batchKeys,
  chainKeys,
  leaseMs,
  namespaceFields,
  putPages,
  putResult,
  removeResult,
  rootOfKeys,
} from './kvcache-messages.js';
import {
  type AgentService,
  type MaybeDecoded,
  decoded,
  logCallFailure,
  tolerantDefinition,
} from './service-support.js';

/**
 * Distinct namespace configs one agent keeps a KvCache for: an engine uses one per model and TP
 * rank; thousands mean callers vary the config by mistake, and each holds channels until close.
 */
const AGENT_KV_NAMESPACES_MAX = 1024;
/**
 * Values in one Get reply before the rest are DEFERRED: with steps of AGENT_KV_GET_SLICE_BYTES, a
 * reply stays below 96 + 128 MiB, under the agent's 256 MiB message limit.
 */
const AGENT_KV_GET_REPLY_BYTES = 96 * 1024 * 1024;
/**
 * Bytes of pages one step of a Get reads from storage: the first step reads 4 keys (4 largest pages
 * are 128 MiB), later steps as many keys as this many bytes of the largest page seen so far hold
 * (a namespace's pages have one size: 64 keys of 2 MiB in one step, one call per replica).
 */
const AGENT_KV_GET_SLICE_BYTES = 128 * 1024 * 1024;
const AGENT_KV_GET_FIRST_SLICE_KEYS = 4;
/** At most this many keys per step, so pages larger than those seen before stay bounded (64 × 32 MiB). */
const AGENT_KV_GET_SLICE_KEYS_MAX = 64;

export class KvCacheServiceImpl implements AgentService {
  readonly definition = tolerantDefinition(KvCacheService);
  readonly implementation;
  private readonly logger: Logger;
  /** One KvCache per namespace config (its JSON): channels shared by the namespace's calls. */
  private readonly caches = new Map<string, KvCache>();
  private closed = false;

  constructor(
    private readonly client: SpindleClient,
    logger: Logger,
  ) {
    this.logger = logger.child({ component: 'agent.kvcache' });
    this.implementation = serviceImplementation(
      {
        put: (request: MaybeDecoded<KvCachePutRequest>) => this.put(decoded(request, 'Put')),
        get: (request: MaybeDecoded<KvCacheGetRequest>) => this.get(decoded(request, 'Get')),
        exists: (request: MaybeDecoded<KvCacheExistsRequest>) => this.exists(decoded(request, 'Exists')),
        remove: (request: MaybeDecoded<KvCacheRemoveRequest>) => this.remove(decoded(request, 'Remove')),
        matchPrefix: (request: MaybeDecoded<KvCacheMatchPrefixRequest>) =>
          this.matchPrefix(decoded(request, 'MatchPrefix')),
      },
      (method, err) => logCallFailure(this.logger, method, err),
    );
  }

  private async put(request: KvCachePutRequest): Promise<KvCachePutResponse> {
    const cache = this.cacheOf(request.namespace);
    const { root, pages } = putPages(request.rootKey, request.pages);
    const results = await cache.put(root, pages);
    return { results: results.map(putResult) };
  }

  private async get(request: KvCacheGetRequest): Promise<KvCacheGetResponse> {
    const cache = this.cacheOf(request.namespace);
    const keys = batchKeys(request.keys);
    const root = rootOfKeys(request.rootKey, keys);
    const results: KvCacheGetResult[] = [];
    let replyBytes = 0;
    let largestPage = 0;
    for (let from = 0; from < keys.length; ) {
      const sliceKeys =
        largestPage === 0 ? AGENT_KV_GET_FIRST_SLICE_KEYS : Math.floor(AGENT_KV_GET_SLICE_BYTES / largestPage);
      const count = Math.min(AGENT_KV_GET_SLICE_KEYS_MAX, Math.max(AGENT_KV_GET_FIRST_SLICE_KEYS, sliceKeys));
      const slice = keys.slice(from, from + count);
      from += slice.length;
      if (replyBytes >= AGENT_KV_GET_REPLY_BYTES) {
        for (const _ of slice) results.push({ status: GET_DEFERRED, value: Buffer.alloc(0) });
        continue;
      }
      for (const value of await cache.get(root, slice)) {
        replyBytes += value?.length ?? 0;
        largestPage = Math.max(largestPage, value?.length ?? 0);
        results.push(
          value === undefined ? { status: GET_MISSING, value: Buffer.alloc(0) } : { status: GET_FOUND, value },
        );
      }
    }
    return { results };
  }

  private async exists(request: KvCacheExistsRequest): Promise<KvCacheExistsResponse> {
    const cache = this.cacheOf(request.namespace);
    const keys = batchKeys(request.keys);
    return { present: await cache.exists(rootOfKeys(request.rootKey, keys), keys) };
  }

  private async remove(request: KvCacheRemoveRequest): Promise<KvCacheRemoveResponse> {
    const cache = this.cacheOf(request.namespace);
    const keys = batchKeys(request.keys);
    const results = await cache.remove(rootOfKeys(request.rootKey, keys), keys);
    return { results: results.map(removeResult) };
  }

  private async matchPrefix(request: KvCacheMatchPrefixRequest): Promise<KvCacheMatchPrefixResponse> {
    const cache = this.cacheOf(request.namespace);
    const keys = chainKeys(request.keys);
    const lease = leaseMs(request.leaseMs);
    return cache.matchPrefix(keys, lease === undefined ? {} : { leaseMs: lease });
  }

  /** The namespace's KvCache (checked config; made on first use). */
  private cacheOf(namespace: KvCacheNamespace | undefined): KvCache {
    if (this.closed) throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'the agent is stopping: call a running agent');
    const fields = namespaceFields(namespace);
    const id = JSON.stringify([kvNamespaceFingerprint(fields), fields.name, fields.replicas, fields.capacityBytes]);
    let cache = this.caches.get(id);
    if (cache === undefined) {
      if (this.caches.size >= AGENT_KV_NAMESPACES_MAX) {
        throw new SpindleError(
          ErrorCode.BUSY,
          `this agent serves ${this.caches.size} KV-cache namespace configs already (at most ` +
            `${AGENT_KV_NAMESPACES_MAX}): use fewer configs, or restart the agent to forget unused ones`,
        );
      }
      cache = this.client.kvcache(fields);
      this.caches.set(id, cache);
      this.logger.debug({ namespace: fields.name }, 'namespace opened');
    }
    return cache;
  }

  /** Closes every namespace's channels; later calls are refused. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const cache of this.caches.values()) cache.close();
    this.caches.clear();
  }
}
