// The client side of the KV-cache store: one namespace's pages on the storage nodes' KvStore
// services (proto/kvstore.proto, docs/kvcache.md). A prefix tree lives on the chain its root key
// hashes to (kv-placement.ts); puts, removes and leasing matches go to that chain's head, gets,
// exists and plain matches to any serving replica.
//
// Guarantees: every page of a put gets a status (batches are split at 128 pages and 64 MiB of
// values, in order, so a page's parent is always sent first); a get returns a page's own bytes or
// undefined, failing over to the next replica when one's copy is damaged or the node does not
// answer; calls refused because routing moved (new head, new chain version, a node gone) refresh
// routing and are retried a bounded number of times — puts safely, a retried page is ALREADY_PRESENT.
import { systemRng, type Rng } from '../../common/clock.js';
import { ErrorCode, SpindleError, asSpindleError } from '../../common/errors.js';
import { kvNamespaceFingerprint } from '../../common/kv-namespace-fingerprint.js';
import type { KvNamespaceConfig, KvPutResult, KvRemoveResult } from '../../proto/index.js';
import type { BulkSessions } from '../bulk-sessions.js';
import type { RoutingCache, RouteTarget } from '../routing-cache.js';
import { KvNodeCalls } from './kv-node-calls.js';
import { chainOfRoot } from './kv-placement.js';

/** Pages (and keys) per call: the storage node's batch limit. */
const KV_BATCH_PAGES_MAX = 128;
/** Bytes of values per put call: the storage node's limit (below the gRPC message limit). */
const KV_PUT_VALUE_BYTES_MAX = 64 * 1024 * 1024;
/** Attempts of a call refused because routing moved (each after a routing refresh). */
const KV_ROUTING_ATTEMPTS_MAX = 8;
/** Pause before a retry after routing moved: lets the manager's change reach the nodes. */
const KV_ROUTING_RETRY_PAUSE_MS = 100;
/** Rounds of re-asking for DEFERRED pages (each round gets at least one page: bounded by the batch). */
const KV_DEFERRED_ROUNDS_MAX = KV_BATCH_PAGES_MAX;
/**
 * Fewest keys a get sends to one replica: a batch is spread over the chain's serving replicas (each
 * reads and sends its share at once), but not into calls so small their fixed cost dominates.
 */
const KV_GET_KEYS_PER_REPLICA_MIN = 4;

export type KvNamespaceFields = Omit<KvNamespaceConfig, 'fingerprint'>;

export interface KvCacheOptions {
  /** The client's routing (SpindleClient.routing). */
  readonly routing: RoutingCache;
  readonly namespace: KvNamespaceFields;
  /**
   * Bulk sessions to the storage nodes (SpindleClient.bulkSessions): calls and page bytes travel on
   * them instead of gRPC. Without them (or to a node without a bulk listener), gRPC.
   */
  readonly bulk?: BulkSessions;
  /** The chain table pages are placed on (default 1). */
  readonly tableId?: number;
  /** Deadline of each call (default 30 s). */
  readonly callTimeoutMs?: number;
  /** Bearer token of the gRPC calls (SpindleClient's; bulk sessions carry theirs). */
  readonly token?: string;
  readonly rng?: Rng;
}

export interface KvPageToPut {
  readonly key: Uint8Array;
  /** The previous page of the chain; omitted for its first page. */
  readonly parentKey?: Uint8Array;
  readonly value: Uint8Array;
  readonly ttlMs?: number;
}

export interface KvGetOptions {
  /**
   * One buffer per key to receive its page (at least the page's size): a found page's result is a
   * view of its buffer, so a caller can read straight into pinned or pooled memory.
   */
  readonly into?: ReadonlyArray<Uint8Array | undefined>;
}

type ChainRef = { chainId: number; chainVersion: number };

const ROUTING_MOVED = new Set([
  ErrorCode.CHAIN_VERSION_MISMATCH,
  ErrorCode.NOT_CHAIN_HEAD,
  ErrorCode.TARGET_NOT_SERVING,
  ErrorCode.TARGET_NOT_FOUND,
  ErrorCode.RPC_UNAVAILABLE,
  ErrorCode.ROUTING_NOT_READY,
]);

export class KvCache {
  private readonly namespace: KvNamespaceConfig;
  private readonly calls: KvNodeCalls;
  private readonly rng: Rng;

  constructor(private readonly options: KvCacheOptions) {
    this.namespace = { ...options.namespace, fingerprint: kvNamespaceFingerprint(options.namespace) };
    this.rng = options.rng ?? systemRng();
    this.calls = new KvNodeCalls(options.bulk, options.callTimeoutMs ?? 30_000, options.token);
  }

  /** Stores the pages of the prefix tree rooted at `rootKey`; one result per page, in order. */
  async put(rootKey: Uint8Array, pages: readonly KvPageToPut[]): Promise<KvPutResult[]> {
    const results: KvPutResult[] = [];
    for (const batch of putBatches(pages)) {
      const response = await this.atHead(rootKey, (target, chain) =>
        this.calls.put(target, { namespace: this.namespace, ...chain, pages: batch.map(pageMessage) }),
      );
      results.push(...response.results);
    }
    return results;
  }

  /** Each page's bytes, or undefined when it is not stored. */
  async get(
    rootKey: Uint8Array,
    keys: readonly Uint8Array[],
    options: KvGetOptions = {},
  ): Promise<Array<Buffer | undefined>> {
    if (options.into !== undefined && options.into.length !== keys.length) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `into has ${options.into.length} buffers for ${keys.length} keys`,
      );
    }
    const values: Array<Buffer | undefined> = new Array(keys.length).fill(undefined);
    for (let from = 0; from < keys.length; from += KV_BATCH_PAGES_MAX) {
      const positions = keys.slice(from, from + KV_BATCH_PAGES_MAX).map((_, i) => from + i);
      await this.getSpread(rootKey, keys, positions, values, options.into);
    }
    return values;
  }

  async exists(rootKey: Uint8Array, keys: readonly Uint8Array[]): Promise<boolean[]> {
    const present: boolean[] = [];
    for (let from = 0; from < keys.length; from += KV_BATCH_PAGES_MAX) {
      const batch = keys.slice(from, from + KV_BATCH_PAGES_MAX);
      const response = await this.atReplica(rootKey, undefined, (target, chain) =>
        this.calls.exists(target, { namespace: this.namespace, ...chain, keys: batch.map(asBuffer) }),
      );
      present.push(...response.present);
    }
    return present;
  }

  /** Removes each page with its subtree, on every replica. */
  async remove(rootKey: Uint8Array, keys: readonly Uint8Array[]): Promise<KvRemoveResult[]> {
    const results: KvRemoveResult[] = [];
    for (let from = 0; from < keys.length; from += KV_BATCH_PAGES_MAX) {
      const batch = keys.slice(from, from + KV_BATCH_PAGES_MAX);
      const response = await this.atHead(rootKey, (target, chain) =>
        this.calls.remove(target, { namespace: this.namespace, ...chain, keys: batch.map(asBuffer) }),
      );
      results.push(...response.results);
    }
    return results;
  }

  /** How many leading keys of the chain are stored; with `leaseMs` they stay at least that long. */
  async matchPrefix(
    keys: readonly Uint8Array[],
    options: { leaseMs?: number } = {},
  ): Promise<{ matchedCount: number; leaseUntilMs?: number }> {
    if (keys.length === 0) return { matchedCount: 0 };
    const call = (target: RouteTarget, chain: ChainRef) =>
      this.calls.matchPrefix(target, {
        namespace: this.namespace,
        ...chain,
        keys: keys.map(asBuffer),
        leaseMs: options.leaseMs,
      });
    return options.leaseMs === undefined ? this.atReplica(keys[0]!, undefined, call) : this.atHead(keys[0]!, call);
  }

  close(): void {
    this.calls.close();
  }

  /**
   * Gets a batch as up to one call per serving replica (contiguous shares of the keys), in
   * parallel; each share fails over to the next replica on its own.
   */
  private async getSpread(
    rootKey: Uint8Array,
    keys: readonly Uint8Array[],
    positions: number[],
    values: Array<Buffer | undefined>,
    into: KvGetOptions['into'],
  ): Promise<void> {
    const chainId = chainOfRoot(this.options.routing, this.options.tableId ?? 1, rootKey);
    const replicas = Math.max(1, this.options.routing.servingTargets(chainId).length);
    const shares = Math.min(replicas, Math.ceil(positions.length / KV_GET_KEYS_PER_REPLICA_MIN));
    const start = this.rng.nextInt(replicas);
    const size = Math.ceil(positions.length / shares);
    await Promise.all(
      Array.from({ length: shares }, (_, s) =>
        this.getShare(rootKey, keys, positions.slice(s * size, (s + 1) * size), values, into, start + s),
      ),
    );
  }

  private async getShare(
    rootKey: Uint8Array,
    keys: readonly Uint8Array[],
    positions: number[],
    values: Array<Buffer | undefined>,
    into: KvGetOptions['into'],
    rotation: number,
  ): Promise<void> {
    let wanted = positions;
    for (let round = 0; wanted.length > 0 && round < KV_DEFERRED_ROUNDS_MAX; round++) {
      const asked = wanted;
      wanted = [];
      await this.atReplica(rootKey, rotation, async (target, chain) => {
        const request = { namespace: this.namespace, ...chain, keys: asked.map((at) => asBuffer(keys[at]!)) };
        const pages = await this.calls.get(
          target,
          request,
          into === undefined ? undefined : asked.map((at) => into[at]),
        );
        const corrupt = pages.filter((page) => page.kind === 'corrupt').length;
        if (corrupt > 0) {
          // This replica's copy is damaged: the next replica answers the whole share.
          throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, `${corrupt} pages failed their checksum on a replica`);
        }
        pages.forEach((page, i) => {
          if (page.kind === 'found') values[asked[i]!] = page.value;
          else if (page.kind === 'deferred') wanted.push(asked[i]!);
        });
      });
    }
  }

  private atHead<T>(rootKey: Uint8Array, call: (target: RouteTarget, chain: ChainRef) => Promise<T>): Promise<T> {
    return this.withRouting(rootKey, (targets) => targets.slice(0, 1), call);
  }

  /** Tries the serving replicas in turn, starting `rotation` places in (at random when undefined). */
  private atReplica<T>(
    rootKey: Uint8Array,
    rotation: number | undefined,
    call: (target: RouteTarget, chain: ChainRef) => Promise<T>,
  ): Promise<T> {
    return this.withRouting(
      rootKey,
      (targets) => {
        if (targets.length === 0) return targets;
        // A random start spreads a hot prefix over the nodes.
        const start = (rotation ?? this.rng.nextInt(targets.length)) % targets.length;
        return [...targets.slice(start), ...targets.slice(0, start)];
      },
      call,
    );
  }

  /** Runs `call` on the chosen targets of the root's chain in turn, refreshing routing when it moved. */
  private async withRouting<T>(
    rootKey: Uint8Array,
    choose: (serving: RouteTarget[]) => RouteTarget[],
    call: (target: RouteTarget, chain: ChainRef) => Promise<T>,
  ): Promise<T> {
    const { routing } = this.options;
    let lastError: SpindleError | undefined;
    for (let attempt = 0; attempt < KV_ROUTING_ATTEMPTS_MAX; attempt++) {
      if (attempt > 0) {
        await new Promise((resolve) => setTimeout(resolve, KV_ROUTING_RETRY_PAUSE_MS));
        await routing.refresh();
      }
      const chainId = chainOfRoot(routing, this.options.tableId ?? 1, rootKey);
      const chain = routing.requireChain(chainId);
      for (const target of choose(routing.servingTargets(chainId))) {
        if (target.address === undefined) continue;
        try {
          return await call(target, { chainId, chainVersion: chain.chainVersion });
        } catch (err) {
          lastError = asSpindleError(err);
          if (!ROUTING_MOVED.has(lastError.errorCode)) throw lastError;
        }
      }
    }
    throw lastError ?? new SpindleError(ErrorCode.TARGET_NOT_SERVING, 'no serving replica of the chain answered', {});
  }
}

/** The bytes as a Buffer over the same memory (the generated messages type bytes as Buffer). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function pageMessage(page: KvPageToPut) {
  return {
    key: asBuffer(page.key),
    parentKey: page.parentKey === undefined ? undefined : asBuffer(page.parentKey),
    value: asBuffer(page.value),
    ttlMs: page.ttlMs,
  };
}

/** Consecutive batches of at most 128 pages and 64 MiB of values (a larger single page goes alone). */
function putBatches(pages: readonly KvPageToPut[]): KvPageToPut[][] {
  const batches: KvPageToPut[][] = [];
  let batch: KvPageToPut[] = [];
  let bytes = 0;
  for (const page of pages) {
    const full = batch.length === KV_BATCH_PAGES_MAX || bytes + page.value.length > KV_PUT_VALUE_BYTES_MAX;
    if (batch.length > 0 && full) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(page);
    bytes += page.value.length;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
