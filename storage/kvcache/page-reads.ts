// Reads of KV-cache pages from one replica's committed chunks: any serving replica answers gets,
// exists and plain prefix matches this way, without a page index (the chunk engine's committed
// metadata plus each chunk's header is that replica's index of what it holds).
//
// Guarantees: bytes come back only when the chunk's header names the same namespace and key (a hash
// collision or stale chunk is a miss) and the chunk passed its CRC check; an expired page is a miss.
import type { Clock } from '../../common/clock.js';
import { ErrorCode, asSpindleError } from '../../common/errors.js';
import type { ChunkEngine } from '../chunk-engine/chunk-engine.js';
import { hotChunkKey, type HotPages } from './hot-pages.js';
import {
  PAGE_HEADER_BYTES_MAX,
  decodePageHeader,
  headerMatches,
  pageChunkAddress,
  type PageHeader,
  type PageNamespace,
} from './page-chunks.js';

export type PageRead =
  | {
      readonly kind: 'found';
      readonly header: PageHeader;
      readonly value: Buffer;
      /** The value's CRC32C when it is known without computing it (a hot page). */
      readonly valueCrc32c?: number;
    }
  | { readonly kind: 'missing' }
  | { readonly kind: 'corrupt'; readonly message: string };

/** Where a replica keeps the values it read (hot-pages.ts), and under which target. */
export interface HotPagesOf {
  readonly pages: HotPages;
  readonly targetId: number;
}

/**
 * The page's header and (with `withValue`) its value, as this replica committed it; with `hot`, a
 * value read before under the same commit comes from memory, and one read now is kept there.
 */
export async function readPage(
  engine: ChunkEngine,
  clock: Clock,
  namespace: PageNamespace,
  key: Uint8Array,
  withValue: boolean,
  hot?: HotPagesOf,
): Promise<PageRead> {
  const { ino, index } = pageChunkAddress(namespace, key);
  const meta = engine.committed(ino, index);
  if (meta === undefined) return { kind: 'missing' };
  const chunk = hotChunkKey(hot?.targetId ?? 0, ino, index);
  const kept = withValue ? hot?.pages.lookup(chunk, meta) : undefined;
  if (kept !== undefined) {
    if (!headerMatches(kept.header, namespace, key) || kept.header.expiresAtMs <= clock.nowMs()) {
      return { kind: 'missing' };
    }
    return { kind: 'found', ...kept };
  }
  let data: Buffer;
  try {
    const length = withValue ? meta.length : Math.min(meta.length, PAGE_HEADER_BYTES_MAX);
    data = (await engine.read(ino, index, 0, length)).data;
  } catch (err) {
    const error = asSpindleError(err);
    if (error.errorCode === ErrorCode.CHUNK_NOT_FOUND) return { kind: 'missing' };
    if (error.errorCode === ErrorCode.CHUNK_CORRUPT) return { kind: 'corrupt', message: error.message };
    throw err;
  }
  const decoded = decodePageHeader(data);
  if (decoded === undefined || !headerMatches(decoded.header, namespace, key)) return { kind: 'missing' };
  const { header, headerBytes } = decoded;
  if (header.expiresAtMs <= clock.nowMs()) return { kind: 'missing' };
  if (!withValue) return { kind: 'found', header, value: Buffer.alloc(0) };
  if (data.length < headerBytes + header.valueBytes) return { kind: 'missing' };
  const value = data.subarray(headerBytes, headerBytes + header.valueBytes);
  if (hot === undefined) return { kind: 'found', header, value };
  return { kind: 'found', ...hot.pages.keep(chunk, meta, header, value) };
}

/**
 * How many leading keys of a chain this replica holds, by binary search: presence is monotone along
 * a chain (prefix-closed eviction removes children first, puts store parents first), so
 * ⌊log2 n⌋ + 1 header reads suffice.
 */
export async function matchPrefixOnReplica(
  engine: ChunkEngine,
  clock: Clock,
  namespace: PageNamespace,
  keys: readonly Uint8Array[],
): Promise<number> {
  let matched = 0;
  let absentFrom = keys.length;
  while (matched < absentFrom) {
    const probe = Math.ceil((matched + absentFrom) / 2);
    const read = await readPage(engine, clock, namespace, keys[probe - 1]!, false);
    if (read.kind === 'found') matched = probe;
    else absentFrom = probe - 1;
  }
  return matched;
}
