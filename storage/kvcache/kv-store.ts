// The KV-cache object store of a storage node (docs/kvcache.md "Pages in the chunk engine"): pages
// are chunks in the reserved KV chunk-id space, written and removed through the chain replicator
// like any client write, so every replica holds them CRC-checked and fsync'd.
//
// The head of a chain owns the page index of each namespace on its target (statuses, prefix-closed
// eviction, leases, TTL); it rebuilds it from its committed chunks whenever it becomes head under a
// new chain version (and so after a restart). Operations that change the index (put, remove, a
// leasing match) run one at a time per target, and answer after the chain committed every chunk
// they wrote or removed. Any serving replica answers gets, exists and plain matches from its
// committed chunks (page-reads.ts).
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.js';
import { ErrorCode, SpindleError, asSpindleError, assert } from '../../common/errors.js';
import { PublicTargetState } from '../../proto/index.js';
import type { ChainReplicator } from '../chain-replicator.js';
import type { ChainResolver } from '../chain-resolver.js';
import type { ChunkAddress } from '../chunk-engine/chunk-key.js';
import { KeyedLocks } from '../chunk-locks.js';
import type { ChainView } from '../routing-view.js';
import type { StorageTarget } from '../target.js';
import { removePageChunks, writePageChunk } from './chain-page-writes.js';
import { rebuildPageIndex } from './index-rebuild.js';
import { KV_PUT_WRITES_IN_FLIGHT } from './constants.js';
import { HotPages, hotChunkKey } from './hot-pages.js';
import { KvNamespaces } from './kv-namespaces.js';
import { KV_INO_BASE, decodePageHeader, encodePageChunk, pageChunkAddress, type PageNamespace } from './page-chunks.js';
import { scanPages } from './page-scan.js';
import type { PageIndex } from './page-index.js';
import type { DroppedPage, MatchResult } from './page-index-types.js';
import { matchPrefixOnReplica, readPage, type PageRead } from './page-reads.js';
import { openNamespace, pageNamespace, type KvRequestScope } from './request-scope.js';
import { PutStatus, type RemoveResult } from './statuses.js';

export interface KvStoreDeps {
  resolver: ChainResolver;
  replicator: ChainReplicator;
  clock: Clock;
  logger: Logger;
  /** Bytes of page values a replica keeps in memory for gets (hot-pages.ts); 0 keeps none. */
  hotPagesBytes?: number;
}

export interface KvPagePutInput {
  readonly key: Uint8Array;
  readonly parentKey?: Uint8Array;
  readonly value: Uint8Array;
  readonly ttlMs?: number;
}

/** What an operator's call at the head works with (kv-operator.ts). */
export interface KvHeadAccess {
  readonly view: ChainView;
  readonly clock: Clock;
  readonly target: StorageTarget;
  readonly namespaces: KvNamespaces<ChunkAddress>;
  /** A known namespace's index, rebuilt from the target's committed chunks first when needed. */
  index(name: string): Promise<PageIndex<ChunkAddress>>;
  /** Removes the chunks of every page the indexes dropped, through the chain (children first). */
  removeDropped(): Promise<number>;
  /** Removes chunks through the chain, in the order given. */
  removeChunks(chunks: readonly ChunkAddress[]): Promise<void>;
  /** Forgets the namespace on this target (an operator removed its pages). */
  forget(name: string): void;
}

/** A target's KV state under one chain version and role. */
interface TargetKvState {
  readonly chainVersion: number;
  readonly isHead: boolean;
  readonly namespaces: KvNamespaces<ChunkAddress>;
  /** Pages the index dropped since the last drain (children first): their chunks must go. */
  readonly drops: DroppedPage<ChunkAddress>[];
  /**
   * Namespaces whose index holds this target's committed pages (head only). A read may open a
   * namespace first, which leaves its index empty: the head's first index-changing call fills it.
   */
  readonly rebuilt: Set<string>;
}

export class KvStore {
  private readonly states = new Map<number, TargetKvState>();
  private readonly locks = new KeyedLocks();
  private dropObserver: ((chainId: number, namespace: string, page: DroppedPage<ChunkAddress>) => void) | undefined;

  private readonly hotPages: HotPages | undefined;

  constructor(private readonly deps: KvStoreDeps) {
    this.hotPages = (deps.hotPagesBytes ?? 0) > 0 ? new HotPages(deps.hotPagesBytes!) : undefined;
    if (this.hotPages !== undefined) {
      deps.replicator.onChunkWritten = (target, ino, index, data) => this.keepWritten(target, ino, index, data);
    }
  }

  /** A page this replica just committed (head or not) goes to its hot pages as it was written. */
  private keepWritten(target: StorageTarget, ino: number, index: number, data: Uint8Array): void {
    if (ino < KV_INO_BASE || this.hotPages === undefined) return;
    const meta = target.engine.committed(ino, index);
    // The committed chunk is exactly these bytes only when nothing longer was there before.
    if (meta === undefined || meta.length !== data.length) return;
    const decoded = decodePageHeader(data);
    if (decoded === undefined) return;
    const { header, headerBytes } = decoded;
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const value = bytes.subarray(headerBytes, headerBytes + header.valueBytes);
    if (value.length !== header.valueBytes) return;
    this.hotPages.keep(hotChunkKey(target.targetId, ino, index), meta, header, value);
  }

  /** Told of every page a head's index drops (evicted, expired, removed), e.g. to count it in metrics. */
  observeDrops(observer: (chainId: number, namespace: string, page: DroppedPage<ChunkAddress>) => void): void {
    this.dropObserver = observer;
  }

  /** Pages and value bytes of each namespace's loaded head index on this node, per namespace name. */
  headIndexTotals(): Map<string, { pages: number; bytes: number }> {
    const totals = new Map<string, { pages: number; bytes: number }>();
    for (const state of this.states.values()) {
      if (!state.isHead) continue;
      for (const name of state.rebuilt) {
        const known = state.namespaces.describe(name);
        if (known === undefined) continue;
        const index = state.namespaces.open(name, known.fingerprint);
        const total = totals.get(name) ?? { pages: 0, bytes: 0 };
        total.pages += index.pageCount;
        total.bytes += index.bytesUsed;
        totals.set(name, total);
      }
    }
    return totals;
  }

  async put(scope: KvRequestScope, pages: readonly KvPagePutInput[], signal?: AbortSignal) {
    return this.atHead(scope, signal, async (view, target, index, state) => {
      const namespace = pageNamespace(scope);
      const results = index.put(
        pages.map((p) => ({
          key: p.key,
          parentKey: p.parentKey,
          sizeBytes: p.value.length,
          location: pageChunkAddress(namespace, p.key),
          ttlMs: p.ttlMs,
        })),
      );
      const droppedPages = await this.removeDropped(view, state, signal);
      const stored = pages.filter((_, i) => results[i]!.status === PutStatus.STORED);
      await inFlightAtMost(KV_PUT_WRITES_IN_FLIGHT, stored, (page) =>
        this.writePage(view, target, namespace, index, page, signal),
      );
      return { results, droppedPages };
    });
  }

  async remove(scope: KvRequestScope, keys: readonly Uint8Array[], signal?: AbortSignal): Promise<RemoveResult[]> {
    return this.atHead(scope, signal, async (view, _target, index, state) => {
      const results = index.remove(keys);
      await this.removeDropped(view, state, signal);
      return results;
    });
  }

  /** A match with a lease: at the head, from its index, which owns eviction. */
  async matchWithLease(
    scope: KvRequestScope,
    keys: readonly Uint8Array[],
    leaseMs: number,
    signal?: AbortSignal,
  ): Promise<MatchResult> {
    return this.atHead(scope, signal, async (view, _target, index, state) => {
      const result = index.matchPrefix(keys, { leaseMs });
      await this.removeDropped(view, state, signal);
      return result;
    });
  }

  /** A plain match, on any serving replica. */
  async match(scope: KvRequestScope, keys: readonly Uint8Array[]): Promise<number> {
    const { target } = await this.atReplica(scope);
    return matchPrefixOnReplica(target.engine, this.deps.clock, pageNamespace(scope), keys);
  }

  /**
   * The pages' bytes; a page whose chunk would take the reply past `replyBytesMax` is not read
   * ('deferred': ask again), so one call holds at most that many bytes of chunks in memory.
   */
  async get(
    scope: KvRequestScope,
    keys: readonly Uint8Array[],
    replyBytesMax: number,
  ): Promise<Array<PageRead | { readonly kind: 'deferred' }>> {
    const { target, state } = await this.atReplica(scope);
    const namespace = pageNamespace(scope);
    let budget = replyBytesMax;
    const reads = await Promise.all(
      keys.map((key) => {
        const { ino, index } = pageChunkAddress(namespace, key);
        const chunkBytes = target.engine.committed(ino, index)?.length ?? 0;
        if (chunkBytes > budget) return { kind: 'deferred' as const };
        budget -= chunkBytes;
        const hot = this.hotPages && { pages: this.hotPages, targetId: target.targetId };
        return readPage(target.engine, this.deps.clock, namespace, key, true, hot);
      }),
    );
    // At the head a get is a use for LRU (other replicas' gets are not seen by the head's index).
    if (state.rebuilt.has(scope.config.name)) {
      this.headIndexIfLoaded(state, scope)?.get(keys.filter((_, i) => reads[i]!.kind === 'found'));
    }
    return reads;
  }

  async exists(scope: KvRequestScope, keys: readonly Uint8Array[]): Promise<boolean[]> {
    const { target } = await this.atReplica(scope);
    const namespace = pageNamespace(scope);
    const reads = await Promise.all(keys.map((k) => readPage(target.engine, this.deps.clock, namespace, k, false)));
    return reads.map((r) => r.kind === 'found');
  }

  private async atReplica(scope: KvRequestScope): Promise<{ target: StorageTarget; state: TargetKvState }> {
    const { view, target } = await this.deps.resolver.resolve(scope.chainId, scope.chainVersion);
    if (view.localState !== PublicTargetState.SERVING) {
      throw new SpindleError(
        ErrorCode.TARGET_NOT_SERVING,
        `target ${view.localTargetId} of chain ${view.chainId} is not serving; read another replica`,
      );
    }
    const state = this.stateOf(target, view);
    openNamespace(state.namespaces, scope);
    return { target, state };
  }

  /** Runs `fn` at the chain head, one index-changing operation per target at a time. */
  private async atHead<T>(
    scope: KvRequestScope,
    signal: AbortSignal | undefined,
    fn: (view: ChainView, target: StorageTarget, index: PageIndex<ChunkAddress>, state: TargetKvState) => Promise<T>,
  ): Promise<T> {
    return this.withHead(scope.chainId, scope.chainVersion, signal, (view, target, state) =>
      this.runAtHead(view, target, openNamespace(state.namespaces, scope), state, scope, fn, signal),
    );
  }

  /**
   * Runs an operator's call (kv-operator.ts) at the chain head, under the same per-target lock as
   * puts and removes: `fn` sees the target's namespaces and opens their indexes, rebuilt first.
   */
  async atHeadForOperator<T>(
    chainId: number,
    chainVersion: number,
    signal: AbortSignal | undefined,
    fn: (head: KvHeadAccess) => Promise<T>,
  ): Promise<T> {
    return this.withHead(chainId, chainVersion, signal, (view, target, state) =>
      fn({
        view,
        clock: this.deps.clock,
        target,
        namespaces: state.namespaces,
        index: async (name) => {
          const known = state.namespaces.describe(name);
          assert(known !== undefined, 'the operator opens only namespaces the target knows');
          const scope = { chainId: view.chainId, chainVersion: view.chainVersion, ...known };
          const index = state.namespaces.open(name, known.fingerprint);
          return this.runAtHead(view, target, index, state, scope, async () => index, signal);
        },
        removeDropped: () => this.removeDropped(view, state, signal),
        removeChunks: (chunks) => this.removeChunks(view, chunks, signal),
        forget: (name) => {
          state.namespaces.delete(name);
          state.rebuilt.delete(name);
        },
      }),
    );
  }

  /**
   * On a replica after the head removed a namespace (`spindle kv rm`): forgets its config here when
   * this target holds no page of it, so the name can be created again with another config (a
   * replica that served reads of the old one would refuse the new one). True when forgotten.
   */
  async forgetOnReplica(chainId: number, chainVersion: number, name: string): Promise<boolean> {
    const { target } = await this.deps.resolver.resolve(chainId, chainVersion);
    return this.locks.withLock(`kv:${target.targetId}`, async () => {
      const state = this.states.get(target.targetId);
      if (state === undefined || state.namespaces.describe(name) === undefined) return false;
      if ((await scanPages(target.engine, (h) => h.name === name)).length > 0) return false;
      state.namespaces.delete(name);
      state.rebuilt.delete(name);
      return true;
    });
  }

  /** Runs `fn` at the chain head under the target's lock; a failure part way resets the target's state. */
  private async withHead<T>(
    chainId: number,
    chainVersion: number,
    signal: AbortSignal | undefined,
    fn: (view: ChainView, target: StorageTarget, state: TargetKvState) => Promise<T>,
  ): Promise<T> {
    const { target } = await this.deps.resolver.resolve(chainId, chainVersion);
    return this.locks.withLock(
      `kv:${target.targetId}`,
      async () => {
        const view = this.deps.resolver.recheck(chainId, chainVersion);
        requireHead(view);
        const state = this.stateOf(target, view);
        try {
          return await fn(view, target, state);
        } catch (err) {
          // A chain write or removal failed part way: the index may name pages the chain does not
          // hold (or no longer name ones it does). Start afresh: the next call rebuilds the index
          // from what this target committed.
          // (A refusal of bad input changed nothing: the index and its leases stay.)
          const refusal = REFUSALS_THAT_CHANGE_NOTHING.has(asSpindleError(err).errorCode);
          if (!refusal && this.states.get(target.targetId) === state) this.states.delete(target.targetId);
          throw err;
        }
      },
      signal,
    );
  }

  private async runAtHead<T>(
    view: ChainView,
    target: StorageTarget,
    index: PageIndex<ChunkAddress>,
    state: TargetKvState,
    scope: KvRequestScope,
    fn: (view: ChainView, target: StorageTarget, index: PageIndex<ChunkAddress>, state: TargetKvState) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    if (!state.rebuilt.has(scope.config.name)) {
      const stale = await rebuildPageIndex(target.engine, this.deps.clock, index, scope.config.name, scope.fingerprint);
      state.rebuilt.add(scope.config.name);
      this.deps.logger.info(
        { targetId: target.targetId, namespace: scope.config.name, pages: index.pageCount, stale: stale.length },
        'KV-cache page index rebuilt',
      );
      await this.removeChunks(view, stale, signal);
    }
    index.expireDue();
    await this.removeDropped(view, state, signal);
    return fn(view, target, index, state);
  }

  /** The target's state for this chain version and role; a new version or role starts afresh. */
  private stateOf(target: StorageTarget, view: ChainView): TargetKvState {
    const existing = this.states.get(target.targetId);
    if (existing !== undefined && existing.chainVersion === view.chainVersion && existing.isHead === view.isHead) {
      return existing;
    }
    const drops: DroppedPage<ChunkAddress>[] = [];
    const namespaces = new KvNamespaces<ChunkAddress>({
      clock: this.deps.clock,
      onPageDropped: (name, page) => {
        drops.push(page);
        this.dropObserver?.(view.chainId, name, page);
      },
    });
    // The configs the target learnt stay known under the new version or role (operators list them);
    // their indexes are rebuilt from the committed chunks before the next index-changing call.
    for (const name of existing?.namespaces.names() ?? [])
      namespaces.create(existing!.namespaces.describe(name)!.config);
    const state = {
      chainVersion: view.chainVersion,
      isHead: view.isHead,
      namespaces,
      drops,
      rebuilt: new Set<string>(),
    };
    this.states.set(target.targetId, state);
    return state;
  }

  private headIndexIfLoaded(state: TargetKvState, scope: KvRequestScope): PageIndex<ChunkAddress> | undefined {
    return state.namespaces.names().includes(scope.config.name)
      ? state.namespaces.open(scope.config.name, scope.fingerprint)
      : undefined;
  }

  private async writePage(
    view: ChainView,
    target: StorageTarget,
    namespace: PageNamespace,
    index: PageIndex<ChunkAddress>,
    page: KvPagePutInput,
    signal?: AbortSignal,
  ): Promise<void> {
    const chunk = pageChunkAddress(namespace, page.key);
    // Another page's chunk at this id (a hash collision) or a stale one: replace, never append to it.
    if (target.engine.committed(chunk.ino, chunk.index) !== undefined) await this.removeChunks(view, [chunk], signal);
    const expiresAtMs = index.ttlExpiresAtMs(page.key) ?? Infinity;
    const data = encodePageChunk({ ...namespace, key: page.key, parentKey: page.parentKey, expiresAtMs }, page.value);
    await writePageChunk(this.deps.replicator, view, chunk, data, signal);
  }

  private async removeDropped(view: ChainView, state: TargetKvState, signal?: AbortSignal): Promise<number> {
    const drops = state.drops.splice(0);
    await this.removeChunks(
      view,
      drops.map((d) => d.location),
      signal,
    );
    return drops.length;
  }

  /** Removes chunks through the chain, one after the other (children first keeps replicas prefix-closed). */
  private async removeChunks(view: ChainView, chunks: readonly ChunkAddress[], signal?: AbortSignal): Promise<void> {
    await removePageChunks(this.deps.replicator, view, chunks, signal);
  }
}

/**
 * Errors of the page index, which checks a whole request before it changes anything, and of the
 * operators' calls (an unknown namespace, a removal refused for leases: kv-operator.ts).
 */
const REFUSALS_THAT_CHANGE_NOTHING = new Set([
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.FAILED_PRECONDITION,
  ErrorCode.NOT_FOUND,
  ErrorCode.BUSY,
]);

function requireHead(view: ChainView): void {
  if (!view.isHead) {
    throw new SpindleError(
      ErrorCode.NOT_CHAIN_HEAD,
      `target ${view.localTargetId} is not the head of chain ${view.chainId} (version ${view.chainVersion}); ` +
        'send KV-cache puts, removes and leasing matches to the head',
    );
  }
}

/**
 * Runs `write` for every item, at most `limit` at once, in order of start; waits for all of them
 * (none left running when the caller's lock is released) and then throws the first failure.
 */
async function inFlightAtMost<T>(limit: number, items: readonly T[], write: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < items.length && failure === undefined) {
      const item = items[next++]!;
      await write(item).catch((error: unknown) => {
        failure ??= { error };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure !== undefined) throw failure.error;
}
