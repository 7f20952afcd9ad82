// The values of recently read KV-cache pages, kept in a storage node's memory (docs/kvcache.md "Hot
// pages"). A KV cache is read far more than written and its popular pages (a shared system prompt)
// are read again and again: serving them from memory skips the block read — for a fresh buffer,
// mostly page faults — and the checksum of the chunk, and keeps the value's CRC32C for the frame
// that carries it.
//
// Pages enter when a replica reads them and when it commits them (a put through the chain: a page
// just put is often read soon, by the next turn of a conversation).
//
// Guarantees: an entry is only served while the chunk's committed metadata is the one it was read
// under (commit version, length, CRC32C, commit time), so a page removed, re-put or resynced since
// reads from its chunk again, whatever path changed it. Bytes are bounded (least recently used
// first out); a page larger than a quarter of the bound is never kept.
import { crc32c } from '../../common/crc32c.js';
import type { CommittedChunkMeta } from '../chunk-engine/chunk-meta.js';
import type { PageHeader } from './page-chunks.js';

export interface HotPage {
  readonly header: PageHeader;
  readonly value: Buffer;
  readonly valueCrc32c: number;
}

interface Entry extends HotPage {
  readonly commitVersion: number;
  readonly length: number;
  readonly chunkCrc32c: number;
  readonly updatedUs: number;
}

/** A chunk's key in the node's hot pages (one HotPages per node, chunks of every target). */
export function hotChunkKey(targetId: number, ino: number, index: number): string {
  return `${targetId}:${ino}:${index}`;
}

export class HotPages {
  /** Map order is recency: a hit moves its entry to the end, eviction takes from the front. */
  private readonly entries = new Map<string, Entry>();
  private heldBytes = 0;

  constructor(private readonly limitBytes: number) {}

  get bytes(): number {
    return this.heldBytes;
  }

  /** The page kept for this chunk, if its committed metadata is still `meta`. */
  lookup(chunk: string, meta: CommittedChunkMeta): HotPage | undefined {
    const entry = this.entries.get(chunk);
    if (entry === undefined) return undefined;
    this.entries.delete(chunk);
    if (!sameCommit(entry, meta)) {
      this.heldBytes -= entry.value.length;
      return undefined;
    }
    this.entries.set(chunk, entry);
    return entry;
  }

  /** Keeps a page just read from the chunk `meta` describes; returns it with its value's CRC32C. */
  keep(chunk: string, meta: CommittedChunkMeta, header: PageHeader, value: Buffer): HotPage {
    const page = { header, value, valueCrc32c: crc32c(value) };
    if (value.length > this.limitBytes / 4) return page;
    const old = this.entries.get(chunk);
    if (old !== undefined) {
      this.entries.delete(chunk);
      this.heldBytes -= old.value.length;
    }
    this.entries.set(chunk, {
      ...page,
      commitVersion: meta.commitVersion,
      length: meta.length,
      chunkCrc32c: meta.crc32c,
      updatedUs: meta.updatedUs,
    });
    this.heldBytes += value.length;
    for (const [key, entry] of this.entries) {
      if (this.heldBytes <= this.limitBytes) break;
      this.entries.delete(key);
      this.heldBytes -= entry.value.length;
    }
    return page;
  }
}

function sameCommit(entry: Entry, meta: CommittedChunkMeta): boolean {
  return (
    entry.commitVersion === meta.commitVersion &&
    entry.length === meta.length &&
    entry.chunkCrc32c === meta.crc32c &&
    entry.updatedUs === meta.updatedUs
  );
}
