// Decoded committed chunk metadata of one target, kept so a read does not look up and decode the
// lmdb record again (a 4 MiB chunk's record holds 1,024 segment CRCs at 4 KiB segments). Absent
// chunks are kept too (`meta` undefined), as a lookup answered "no such chunk".
//
// Guarantees: bounded (`entriesMax`; the least recently used entry goes first). The cache knows
// nothing of lmdb: the chunk engine forgets a chunk's entry whenever it writes that chunk's record
// (commit, removal), after the write, in the same event-loop turn, so a later lookup reads lmdb.
import type { CommittedChunkMeta } from './chunk-meta.js';

export interface CachedChunkMeta {
  readonly meta: CommittedChunkMeta | undefined;
}

export class ChunkMetaCache {
  private readonly entries = new Map<string, CachedChunkMeta>();

  constructor(private readonly entriesMax: number) {}

  /** The cached entry of chunk `key` (ino:index), or undefined when it must be read from lmdb. */
  get(key: string): CachedChunkMeta | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    // Most recently used last: Map keeps insertion order.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  set(key: string, meta: CommittedChunkMeta | undefined): void {
    this.entries.delete(key);
    if (this.entries.size >= this.entriesMax) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { meta });
  }

  forget(key: string): void {
    this.entries.delete(key);
  }
}
