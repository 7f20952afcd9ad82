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
import { ErrorCode, SpindleError, asSpindleError } from '../../common/errors.js';
import { PublicTargetState } from '../../proto/index.js';
import type { ChainReplicator } from '../chain-replicator.js';
import type { ChainResolver } from '../chain-resolver.js';
import type { ChunkAddress } from '../chunk-engine/chunk-key.js';
import { KeyedLocks } from '../chunk-locks.js';
import type { ChainView } from '../routing-view.js';
import type { StorageTarget } from '../target.js';
import { removePageChunks, writePageChunk } from './chain-page-writes.js';
import { rebuildPageIndex } from './index-rebuild.js';
import { KvNamespaces } from './kv-namespaces.js';
import { encodePageChunk, pageChunkAddress, type PageNamespace } from './page-chunks.js';
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
}

export interface KvPagePutInput {
  readonly key: Uint8Array;
  readonly parentKey?: Uint8Array;
  readonly value: Uint8Array;
  readonly ttlMs?: number;
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

  constructor(private readonly deps: KvStoreDeps) {}

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
      for (const [i, page] of pages.entries()) {
        if (results[i]!.status === PutStatus.STORED) await this.writePage(view, target, namespace, index, page, signal);
      }
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
        return readPage(target.engine, this.deps.clock, namespace, key, true);
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
    const { target } = await this.deps.resolver.resolve(scope.chainId, scope.chainVersion);
    return this.locks.withLock(
      `kv:${target.targetId}`,
      async () => {
        const view = this.deps.resolver.recheck(scope.chainId, scope.chainVersion);
        requireHead(view);
        const state = this.stateOf(target, view);
        const index = openNamespace(state.namespaces, scope);
        try {
          return await this.runAtHead(view, target, index, state, scope, fn, signal);
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
      onPageDropped: (_name, page) => drops.push(page),
    });
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

/** Errors of the page index, which checks a whole request before it changes anything. */
const REFUSALS_THAT_CHANGE_NOTHING = new Set([ErrorCode.INVALID_ARGUMENT, ErrorCode.FAILED_PRECONDITION]);

function requireHead(view: ChainView): void {
  if (!view.isHead) {
    throw new SpindleError(
      ErrorCode.NOT_CHAIN_HEAD,
      `target ${view.localTargetId} is not the head of chain ${view.chainId} (version ${view.chainVersion}); ` +
        'send KV-cache puts, removes and leasing matches to the head',
    );
  }
}
