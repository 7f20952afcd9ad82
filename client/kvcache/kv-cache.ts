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
import { callUnary, CHANNEL_OPTIONS, insecureChannel } from '../../common/rpc.js';
import {
  KvGetStatus,
  KvStoreClient,
  type KvNamespaceConfig,
  type KvPutResult,
  type KvRemoveResult,
} from '../../proto/index.js';
import type { RoutingCache, RouteTarget } from '../routing-cache.js';
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

export type KvNamespaceFields = Omit<KvNamespaceConfig, 'fingerprint'>;

export interface KvCacheOptions {
  /** The client's routing (SpindleClient.routing). */
  readonly routing: RoutingCache;
  readonly namespace: KvNamespaceFields;
  /** The chain table pages are placed on (default 1). */
  readonly tableId?: number;
  /** Deadline of each call (default 30 s). */
  readonly callTimeoutMs?: number;
  readonly rng?: Rng;
}

export interface KvPageToPut {
  readonly key: Uint8Array;
  /** The previous page of the chain; omitted for its first page. */
  readonly parentKey?: Uint8Array;
  readonly value: Uint8Array;
  readonly ttlMs?: number;
}

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
  private readonly clients = new Map<string, KvStoreClient>();
  private readonly rng: Rng;

  constructor(private readonly options: KvCacheOptions) {
    this.namespace = { ...options.namespace, fingerprint: kvNamespaceFingerprint(options.namespace) };
    this.rng = options.rng ?? systemRng();
  }

  /** Stores the pages of the prefix tree rooted at `rootKey`; one result per page, in order. */
  async put(rootKey: Uint8Array, pages: readonly KvPageToPut[]): Promise<KvPutResult[]> {
    const results: KvPutResult[] = [];
    for (const batch of putBatches(pages)) {
      const response = await this.atHead(rootKey, (client, chain) =>
        callUnary(
          client,
          client.kvPut,
          { namespace: this.namespace, ...chain, pages: batch.map(pageMessage) },
          'KvStore.KvPut',
          {
            timeoutMs: this.timeoutMs,
          },
        ),
      );
      results.push(...response.results);
    }
    return results;
  }

  /** Each page's bytes, or undefined when it is not stored. */
  async get(rootKey: Uint8Array, keys: readonly Uint8Array[]): Promise<Array<Buffer | undefined>> {
    const values: Array<Buffer | undefined> = new Array(keys.length).fill(undefined);
    for (let from = 0; from < keys.length; from += KV_BATCH_PAGES_MAX) {
      const positions = keys.slice(from, from + KV_BATCH_PAGES_MAX).map((_, i) => from + i);
      await this.getBatch(rootKey, keys, positions, values);
    }
    return values;
  }

  async exists(rootKey: Uint8Array, keys: readonly Uint8Array[]): Promise<boolean[]> {
    const present: boolean[] = [];
    for (let from = 0; from < keys.length; from += KV_BATCH_PAGES_MAX) {
      const batch = keys.slice(from, from + KV_BATCH_PAGES_MAX);
      const response = await this.atReplica(rootKey, (client, chain) =>
        callUnary(
          client,
          client.kvExists,
          { namespace: this.namespace, ...chain, keys: batch.map(asBuffer) },
          'KvStore.KvExists',
          {
            timeoutMs: this.timeoutMs,
          },
        ),
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
      const response = await this.atHead(rootKey, (client, chain) =>
        callUnary(
          client,
          client.kvRemove,
          { namespace: this.namespace, ...chain, keys: batch.map(asBuffer) },
          'KvStore.KvRemove',
          {
            timeoutMs: this.timeoutMs,
          },
        ),
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
    const call = (client: KvStoreClient, chain: { chainId: number; chainVersion: number }) =>
      callUnary(
        client,
        client.kvMatchPrefix,
        { namespace: this.namespace, ...chain, keys: keys.map(asBuffer), leaseMs: options.leaseMs },
        'KvStore.KvMatchPrefix',
        { timeoutMs: this.timeoutMs },
      );
    return options.leaseMs === undefined ? this.atReplica(keys[0]!, call) : this.atHead(keys[0]!, call);
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private get timeoutMs(): number {
    return this.options.callTimeoutMs ?? 30_000;
  }

  private async getBatch(
    rootKey: Uint8Array,
    keys: readonly Uint8Array[],
    positions: number[],
    values: Array<Buffer | undefined>,
  ): Promise<void> {
    let wanted = positions;
    for (let round = 0; wanted.length > 0 && round < KV_DEFERRED_ROUNDS_MAX; round++) {
      const asked = wanted;
      wanted = [];
      await this.atReplica(rootKey, async (client, chain) => {
        const request = { namespace: this.namespace, ...chain, keys: asked.map((at) => asBuffer(keys[at]!)) };
        const response = await callUnary(client, client.kvGet, request, 'KvStore.KvGet', { timeoutMs: this.timeoutMs });
        const corrupt = response.results.filter((r) => r.status === KvGetStatus.KV_GET_CORRUPT).length;
        if (corrupt > 0) {
          // This replica's copy is damaged: the next replica answers the whole batch.
          throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, `${corrupt} pages failed their checksum on a replica`);
        }
        response.results.forEach((result, i) => {
          if (result.status === KvGetStatus.KV_GET_FOUND) values[asked[i]!] = Buffer.from(result.value);
          else if (result.status === KvGetStatus.KV_GET_DEFERRED) wanted.push(asked[i]!);
        });
      });
    }
  }

  private atHead<T>(
    rootKey: Uint8Array,
    call: (client: KvStoreClient, chain: { chainId: number; chainVersion: number }) => Promise<T>,
  ): Promise<T> {
    return this.withRouting(rootKey, (targets) => targets.slice(0, 1), call);
  }

  private atReplica<T>(
    rootKey: Uint8Array,
    call: (client: KvStoreClient, chain: { chainId: number; chainVersion: number }) => Promise<T>,
  ): Promise<T> {
    // Start at a random serving replica (spreads a hot prefix), then the others in chain order.
    return this.withRouting(
      rootKey,
      (targets) => {
        const start = targets.length === 0 ? 0 : this.rng.nextInt(targets.length);
        return [...targets.slice(start), ...targets.slice(0, start)];
      },
      call,
    );
  }

  /** Runs `call` on the chosen targets of the root's chain in turn, refreshing routing when it moved. */
  private async withRouting<T>(
    rootKey: Uint8Array,
    choose: (serving: RouteTarget[]) => RouteTarget[],
    call: (client: KvStoreClient, chain: { chainId: number; chainVersion: number }) => Promise<T>,
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
          return await call(this.client(target.address), { chainId, chainVersion: chain.chainVersion });
        } catch (err) {
          lastError = asSpindleError(err);
          if (!ROUTING_MOVED.has(lastError.errorCode)) throw lastError;
        }
      }
    }
    throw lastError ?? new SpindleError(ErrorCode.TARGET_NOT_SERVING, 'no serving replica of the chain answered', {});
  }

  private client(address: string): KvStoreClient {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new KvStoreClient(address, insecureChannel(), CHANNEL_OPTIONS);
      this.clients.set(address, client);
    }
    return client;
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
