// Rebuilds a namespace's page index on a chain head from the KV-cache chunks its target committed:
// after a restart, and whenever the target becomes head (the index lives only at the head, and a
// new head learns what the chain holds from its own replica).
//
// Guarantees: every page whose chunk header names the namespace, whose chunk id matches its key and
// whose expiry has not passed is inserted parents first; chunks that cannot be (an orphan whose
// parent is gone, an expired page, a page over a lowered capacity) are returned to be removed
// through the chain, children before parents, so replicas never keep what the index does not know.
import type { Clock } from '../../common/clock.js';
import type { ChunkAddress } from '../chunk-engine/chunk-key.js';
import type { ChunkEngine } from '../chunk-engine/chunk-engine.js';
import type { PageIndex } from './page-index.js';
import { scanPages, type FoundPage } from './page-scan.js';
import { pageKeyId } from './request-checks.js';
import { PutStatus } from './statuses.js';

/**
 * Inserts the namespace's committed pages into `index` (empty, just created); returns the chunks to
 * remove through the chain, children first.
 */
export async function rebuildPageIndex(
  engine: ChunkEngine,
  clock: Clock,
  index: PageIndex<ChunkAddress>,
  name: string,
  fingerprint: string,
): Promise<ChunkAddress[]> {
  const pages = await scanPages(engine, (header) => header.name === name && header.fingerprint === fingerprint);
  const childrenOf = new Map<string, FoundPage[]>();
  const roots: FoundPage[] = [];
  const ids = new Set(pages.map((p) => pageKeyId(p.header.key)));
  const orphans: FoundPage[] = [];
  for (const page of pages) {
    const parent = page.header.parentKey;
    if (parent === undefined) roots.push(page);
    else if (!ids.has(pageKeyId(parent))) orphans.push(page);
    else {
      const siblings = childrenOf.get(pageKeyId(parent)) ?? [];
      siblings.push(page);
      childrenOf.set(pageKeyId(parent), siblings);
    }
  }
  const refused: FoundPage[] = [];
  // Parents first (breadth first from the roots); a refused page's subtree is refused with it.
  const queue = roots.slice();
  const nowMs = clock.nowMs();
  for (let at = 0; at < queue.length; at++) {
    const page = queue[at]!;
    const { header } = page;
    const ttlMs = Number.isFinite(header.expiresAtMs) ? Math.ceil(header.expiresAtMs - nowMs) : undefined;
    const subtree = childrenOf.get(pageKeyId(header.key)) ?? [];
    const status =
      ttlMs !== undefined && ttlMs <= 0
        ? undefined
        : index.put([
            {
              key: header.key,
              parentKey: header.parentKey,
              sizeBytes: header.valueBytes,
              location: page.location,
              ttlMs,
            },
          ])[0]!.status;
    if (status === PutStatus.STORED || status === PutStatus.ALREADY_PRESENT) queue.push(...subtree);
    else refuseSubtree(page, childrenOf, refused);
  }
  // Orphans' own subtrees are orphans too; children before parents: reverse of a parents-first walk.
  for (const orphan of orphans) refuseSubtree(orphan, childrenOf, refused);
  return refused.map((p) => p.location);
}

/** Appends the page's subtree to `out`, children before parents. */
function refuseSubtree(page: FoundPage, childrenOf: Map<string, FoundPage[]>, out: FoundPage[]): void {
  for (const child of childrenOf.get(pageKeyId(page.header.key)) ?? []) refuseSubtree(child, childrenOf, out);
  out.push(page);
}
