// The KV-cache pages a target committed, read header by header from its chunk engine: what the
// head rebuilds its index from, and what operators see and remove of a namespace the head holds
// no index of (after a restart, before any request named it).
//
// Guarantees: only chunks of the KV space whose header decodes and whose chunk id is the one the
// header's namespace and key give are returned (a stale or colliding chunk is never taken for a
// page). Cost: one header read (at most PAGE_HEADER_BYTES_MAX bytes) per KV chunk of the target.
import type { ChunkAddress } from '../chunk-engine/chunk-key.js';
import type { ChunkEngine } from '../chunk-engine/chunk-engine.js';
import { CHUNK_INDEX_MAX } from '../constants.js';
import {
  KV_INO_BASE,
  PAGE_HEADER_BYTES_MAX,
  decodePageHeader,
  pageChunkAddress,
  type PageHeader,
} from './page-chunks.js';
import { pageKeyId } from './request-checks.js';

/** Chunk metadata rows read per step of the scan. */
const SCAN_PAGE_ROWS = 1024;

export interface FoundPage {
  readonly header: PageHeader;
  readonly location: ChunkAddress;
}

/** The target's committed pages whose header `accept`s (read header by header). */
export async function scanPages(engine: ChunkEngine, accept: (header: PageHeader) => boolean): Promise<FoundPage[]> {
  const found: FoundPage[] = [];
  let after: ChunkAddress = { ino: KV_INO_BASE - 1, index: CHUNK_INDEX_MAX };
  for (;;) {
    const { chunks, hasMore } = engine.dump({ after, limit: SCAN_PAGE_ROWS });
    for (const chunk of chunks) {
      const location = { ino: chunk.ino, index: chunk.index };
      const read = await engine.read(chunk.ino, chunk.index, 0, PAGE_HEADER_BYTES_MAX).catch(() => undefined);
      const decoded = read === undefined ? undefined : decodePageHeader(read.data);
      if (decoded === undefined || !accept(decoded.header)) continue;
      const expected = pageChunkAddress(decoded.header, decoded.header.key);
      if (expected.ino !== location.ino || expected.index !== location.index) continue;
      found.push({ header: decoded.header, location });
    }
    if (!hasMore || chunks.length === 0) return found;
    after = chunks[chunks.length - 1]!;
  }
}

/** The pages in an order that removes children before their parents (so replicas stay prefix-closed). */
export function childrenFirst(pages: readonly FoundPage[]): FoundPage[] {
  const depthOf = new Map<string, number>();
  const byId = new Map(pages.map((p) => [pageKeyId(p.header.key), p]));
  const depth = (page: FoundPage): number => {
    const id = pageKeyId(page.header.key);
    const known = depthOf.get(id);
    if (known !== undefined) return known;
    // Iterative walk up (chains can be 16,384 pages deep: no recursion).
    const path: FoundPage[] = [];
    let at: FoundPage | undefined = page;
    let base = 0;
    while (at !== undefined) {
      const seen = depthOf.get(pageKeyId(at.header.key));
      if (seen !== undefined) {
        base = seen + 1;
        break;
      }
      path.push(at);
      const parent: Uint8Array | undefined = at.header.parentKey;
      at = parent === undefined ? undefined : byId.get(pageKeyId(parent));
      if (path.length > pages.length) break; // a cycle of damaged headers: stop, any order is fine
    }
    for (let i = path.length - 1; i >= 0; i--) depthOf.set(pageKeyId(path[i]!.header.key), base++);
    return depthOf.get(id)!;
  };
  return pages
    .map((page) => ({ page, depth: depth(page) }))
    .sort((a, b) => b.depth - a.depth)
    .map((entry) => entry.page);
}
