// What operators do with a target's KV-cache namespaces (`spindle kv ls|stat|evict|rm`, the
// KvNamespaceStats, KvEvict and KvRemoveNamespace calls of proto/kvstore.proto), at a chain's head
// under the same per-target lock as puts, so an operator's change and a client's never interleave.
//
// Guarantees:
// - Eviction is the index's own (least recently used unleased leaves, prefix-closed) and removes
//   the chunks through the chain, children first, like a put's evictions: every replica follows and
//   stays prefix-closed at every step.
// - A namespace with a leased page is not removed (BUSY, naming the pages and when the last lease
//   ends) unless forced: the lease promised the scheduler its pages would stay.
// - A namespace the head has no config for (it has not served a request naming it since it
//   started) is still listed, evicted and removed, from the page headers of the target's chunks.
// - Bad input (unknown namespace, negative size) changes nothing.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { ChunkAddress } from '../chunk-engine/chunk-key.js';
import type { ChunkEngine } from '../chunk-engine/chunk-engine.js';
import type { KvHeadAccess } from './kv-store.js';
import type { KvNamespaceConfig } from './namespace-config.js';
import { rebuildPageIndex } from './index-rebuild.js';
import { PageIndex } from './page-index.js';
import { childrenFirst, scanPages } from './page-scan.js';

export interface KvNamespaceSummary {
  readonly name: string;
  readonly fingerprint: string;
  /** Undefined when the head has not seen the namespace's config since it started. */
  readonly config: KvNamespaceConfig | undefined;
  readonly pages: number;
  readonly bytes: number;
  /** 0 when the config is unknown. */
  readonly capacityBytes: number;
  readonly leasedPages: number;
}

export interface KvEvictOutcome {
  readonly evictedPages: number;
  readonly evictedBytes: number;
  readonly remainingPages: number;
  readonly remainingBytes: number;
  readonly leasedPages: number;
}

/** The namespaces the head has a config for that hold pages on its target (or only `name`). */
export async function knownNamespaceSummaries(head: KvHeadAccess, name?: string): Promise<KvNamespaceSummary[]> {
  const summaries: KvNamespaceSummary[] = [];
  for (const n of head.namespaces.names().filter((known) => name === undefined || known === name)) {
    const { config, fingerprint } = head.namespaces.describe(n)!;
    const index = await head.index(n);
    // A namespace a read opened, or whose pages all left, has nothing to show or manage here.
    if (index.pageCount === 0) continue;
    summaries.push({
      name: n,
      fingerprint,
      config,
      pages: index.pageCount,
      bytes: index.bytesUsed,
      capacityBytes: index.capacityBytes,
      leasedPages: index.leasedPages().length,
    });
  }
  return summaries;
}

/**
 * The namespaces only the target's chunks name (or only `name`): the head has no config for them.
 * Read without the target's lock, so a listing does not hold puts up while it reads every chunk
 * header; a put or removal meanwhile only makes the figures a moment old.
 */
export async function unknownNamespaceSummaries(
  engine: ChunkEngine,
  knownNames: ReadonlySet<string>,
  name?: string,
): Promise<KvNamespaceSummary[]> {
  const unknown = new Map<string, { fingerprint: string; pages: number; bytes: number }>();
  const pages = await scanPages(engine, (h) => !knownNames.has(h.name) && (name === undefined || h.name === name));
  for (const { header } of pages) {
    const entry = unknown.get(header.name) ?? { fingerprint: header.fingerprint, pages: 0, bytes: 0 };
    entry.pages++;
    entry.bytes += header.valueBytes;
    unknown.set(header.name, entry);
  }
  return [...unknown].map(([n, entry]) => ({ name: n, ...entry, config: undefined, capacityBytes: 0, leasedPages: 0 }));
}

/**
 * Evicts unleased pages of the namespace until at least `bytesWanted` bytes left (Infinity: every
 * unleased page), least recently used leaves first; their chunks leave every replica.
 */
export async function evictNamespace(head: KvHeadAccess, name: string, bytesWanted: number): Promise<KvEvictOutcome> {
  if (!(bytesWanted >= 0)) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `bytes must be 0 or more, got ${bytesWanted}`);
  }
  if (head.namespaces.describe(name) !== undefined) {
    const index = await head.index(name);
    const { pages, bytes } = index.evictUnleased(bytesWanted);
    await head.removeDropped();
    return outcome(index, pages, bytes);
  }
  // No config: an index of the target's chunks (no leases — they live only in a known namespace's
  // index — and recency in the rebuild's order, as after any rebuild), dropped after this call.
  const found = await scanPages(head.target.engine, (h) => h.name === name);
  if (found.length === 0) throw unknownNamespace(name, head);
  const drops: ChunkAddress[] = [];
  const index = new PageIndex<ChunkAddress>({
    clock: head.clock,
    capacityBytes: Number.MAX_SAFE_INTEGER,
    onPageDropped: (page) => drops.push(page.location),
  });
  const stale = await rebuildPageIndex(head.target.engine, head.clock, index, name, found[0]!.header.fingerprint);
  const { pages, bytes } = index.evictUnleased(bytesWanted);
  await head.removeChunks([...stale, ...drops]);
  return outcome(index, pages, bytes);
}

/**
 * Removes every page of the namespace on the head's target (children first, through the chain)
 * and forgets it there; a later put creates it afresh. Refused while a page is leased unless `force`.
 */
export async function removeNamespace(
  head: KvHeadAccess,
  name: string,
  force: boolean,
): Promise<{ readonly removedPages: number; readonly removedBytes: number }> {
  const known = head.namespaces.describe(name) !== undefined;
  if (known) {
    const index = await head.index(name);
    const leased = index.leasedPages();
    if (leased.length > 0 && !force) {
      const lastEndMs = Math.max(...leased.map((p) => p.leaseUntilMs));
      throw new SpindleError(
        ErrorCode.BUSY,
        `KV-cache namespace ${JSON.stringify(name)} has ${leased.length} leased page(s) on chain ` +
          `${head.view.chainId}; the last lease ends in ${Math.max(0, lastEndMs - head.clock.nowMs())} ms ` +
          '(wait, or force the removal and break the leases)',
      );
    }
  }
  // Every chunk that names the namespace, whatever the index holds (stale ones included).
  const found = await scanPages(head.target.engine, (h) => h.name === name);
  if (!known && found.length === 0) throw unknownNamespace(name, head);
  await head.removeChunks(childrenFirst(found).map((p) => p.location));
  head.forget(name);
  return { removedPages: found.length, removedBytes: found.reduce((sum, p) => sum + p.header.valueBytes, 0) };
}

function outcome(index: PageIndex<ChunkAddress>, pages: number, bytes: number): KvEvictOutcome {
  return {
    evictedPages: pages,
    evictedBytes: bytes,
    remainingPages: index.pageCount,
    remainingBytes: index.bytesUsed,
    leasedPages: index.leasedPages().length,
  };
}

function unknownNamespace(name: string, head: KvHeadAccess): SpindleError {
  return new SpindleError(
    ErrorCode.NOT_FOUND,
    `unknown KV-cache namespace ${JSON.stringify(name)} on chain ${head.view.chainId} ` +
      `(target ${head.view.localTargetId})`,
  );
}
