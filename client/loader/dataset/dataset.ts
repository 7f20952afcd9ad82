// Reading a packed dataset: openDataset() and the Dataset it returns (index entries, keys, shards).
//
// Opening checks the manifest (manifest.ts), the index header and that both agree on the sample
// count, and reads index-pages.crc (4 bytes per 4096 samples). Index entries are read a page at a
// time, only the pages a call needs, concurrently; each page's CRC32C is checked against
// index-pages.crc before any entry of it is used.
//
// Guarantees: memory for the index is the page CRCs, the LRU page cache (never more than
// indexCacheBytes) and the pages of calls in flight, plus keys.bin when it is at most
// keysWholeBytesMax (read whole once; larger ones are read in ranges per call); entries() returns
// entries that point inside their shard and keys.bin or throws DATA_CORRUPTED naming the file;
// shard(n) opens shard n once
// and checks its length against the manifest. close() is idempotent and closes every handle; any
// later call fails with BAD_FILE_HANDLE.
import { posix } from 'node:path';
import { crc32c } from '../../../common/crc32c.js';
import { ErrorCode, SpindleError, isSpindleError } from '../../../common/errors.js';
import type { FileHandle } from '../../file-handle.js';
import { normalizePath, type SpindleClient } from '../../spindle-client.js';
import { requireIndex, requireInteger } from '../integer-args.js';
import {
  INDEX_CACHE_BYTES_DEFAULT,
  INDEX_PAGE_READS_MAX,
  KEY_READ_GAP_BYTES,
  KEY_READ_RANGE_MAX_BYTES,
  KEY_READS_MAX,
  KEYS_WHOLE_BYTES_MAX,
} from './constants.js';
import { requireDatasetDir } from './dataset-path.js';
import { forEachLimit } from './for-each-limit.js';
import {
  type DatasetManifest,
  INDEX_ENTRY_BYTES,
  INDEX_FILE,
  INDEX_HEADER_BYTES,
  INDEX_PAGES_CRC_FILE,
  type IndexEntry,
  KEYS_FILE,
  corrupt,
  decodeIndexEntry,
  decodeIndexHeader,
} from './format.js';
import { IndexPageCache } from './index-page-cache.js';
import { linkSignal } from './linked-signal.js';
import { readManifest, readSmallFile } from './manifest.js';

export interface OpenDatasetOptions {
  /** Bytes of index pages kept cached (default INDEX_CACHE_BYTES_DEFAULT, 64 MiB; 0: none). */
  readonly indexCacheBytes?: number;
  /** keys.bin up to this size is read whole once and kept (default KEYS_WHOLE_BYTES_MAX, 32 MiB). */
  readonly keysWholeBytesMax?: number;
  readonly signal?: AbortSignal;
}

/** Opens the dataset at `path` (see the file comment for what is checked). */
export async function openDataset(
  client: SpindleClient,
  path: string,
  options: OpenDatasetOptions = {},
): Promise<Dataset> {
  const indexCacheBytes =
    options.indexCacheBytes === undefined
      ? INDEX_CACHE_BYTES_DEFAULT
      : requireInteger('indexCacheBytes', options.indexCacheBytes, 0);
  const keysWholeBytesMax =
    options.keysWholeBytesMax === undefined
      ? KEYS_WHOLE_BYTES_MAX
      : requireInteger('keysWholeBytesMax', options.keysWholeBytesMax, 0);
  const dir = normalizePath(path);
  await requireDatasetDir(client, dir);
  const manifest = await readManifest(client, dir, options.signal);
  const pageCount = Math.ceil(manifest.samples / manifest.index.pageEntries);
  const crcPath = posix.join(dir, INDEX_PAGES_CRC_FILE);
  const crcBytes = await readSmallFile(client, crcPath, 4 * pageCount, options.signal);
  if (crcBytes.length !== 4 * pageCount) {
    throw corrupt(crcPath, `is ${crcBytes.length} bytes; ${pageCount} index pages need ${4 * pageCount}`);
  }
  const pageCrcs = Array.from({ length: pageCount }, (_, page) => crcBytes.readUInt32LE(4 * page));
  const indexPath = posix.join(dir, INDEX_FILE);
  const index = await client.open(indexPath, 'r');
  try {
    const header = Buffer.alloc(INDEX_HEADER_BYTES);
    const read = await index.readAt(0, header, options.signal);
    const count = decodeIndexHeader(header.subarray(0, read), indexPath);
    if (count !== manifest.samples) {
      throw corrupt(indexPath, `has ${count} entries but ${posix.join(dir, 'manifest.json')} says ${manifest.samples}`);
    }
    if (index.size !== manifest.index.bytes) {
      throw corrupt(indexPath, `is ${index.size} bytes; the manifest says ${manifest.index.bytes}`);
    }
  } catch (err) {
    await index.close();
    throw err;
  }
  return new Dataset(client, dir, manifest, index, pageCrcs, { indexCacheBytes, keysWholeBytesMax });
}

/** An open dataset (from openDataset). */
export class Dataset {
  private readonly client: SpindleClient;
  private readonly index: FileHandle;
  private readonly pageCrcs: readonly number[];
  private readonly cache: IndexPageCache;
  private readonly pageLoads = new Map<number, Promise<Buffer>>();
  private readonly shards = new Map<number, Promise<FileHandle>>();
  private keysFile: Promise<FileHandle> | undefined;
  /** All of keys.bin when it is at most KEYS_WHOLE_BYTES_MAX, read on the first keys() call. */
  private keysWhole: Promise<Buffer> | undefined;
  private readonly keysWholeBytesMax: number;
  private closing: Promise<void> | undefined;

  /** Use openDataset(), which checks the dataset first. */
  constructor(
    client: SpindleClient,
    readonly path: string,
    readonly manifest: DatasetManifest,
    index: FileHandle,
    pageCrcs: readonly number[],
    limits: { readonly indexCacheBytes: number; readonly keysWholeBytesMax: number },
  ) {
    this.client = client;
    this.index = index;
    this.pageCrcs = pageCrcs;
    this.cache = new IndexPageCache(limits.indexCacheBytes);
    this.keysWholeBytesMax = limits.keysWholeBytesMax;
  }

  /** The pack id: another pack to the same path is another dataset. */
  get id(): string {
    return this.manifest.id;
  }

  /** Samples in the dataset. */
  get size(): number {
    return this.manifest.samples;
  }

  /** Bytes of index pages cached right now (at most indexCacheBytes). */
  get cachedIndexBytes(): number {
    return this.cache.bytes;
  }

  /** The index entries of `indices` (each in [0, size)), in their order. */
  async entries(indices: readonly number[], signal?: AbortSignal): Promise<IndexEntry[]> {
    this.checkOpen();
    if (!Array.isArray(indices)) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'indices must be an array');
    const pageEntries = this.manifest.index.pageEntries;
    const result = new Array<IndexEntry>(indices.length);
    const wanted = new Map<number, number[]>();
    for (const [at, index] of indices.entries()) {
      requireIndex(`indices[${at}]`, index, this.size);
      const page = Math.floor(index / pageEntries);
      const bytes = this.cache.get(page);
      if (bytes !== undefined) {
        result[at] = this.entryOf(bytes, page, index);
        continue;
      }
      const positions = wanted.get(page);
      if (positions === undefined) wanted.set(page, [at]);
      else positions.push(at);
    }
    const linked = linkSignal(signal);
    try {
      await forEachLimit([...wanted.keys()], INDEX_PAGE_READS_MAX, async (page) => {
        const bytes = await this.loadPage(page, linked.signal);
        for (const at of wanted.get(page)!) result[at] = this.entryOf(bytes, page, indices[at]!);
      });
    } finally {
      linked.unlink();
    }
    return result;
  }

  /** The keys of `entries` (undefined for a sample without one), read in batched ranges of keys.bin. */
  async keys(entries: readonly IndexEntry[], signal?: AbortSignal): Promise<(string | undefined)[]> {
    this.checkOpen();
    if (!Array.isArray(entries)) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'entries must be an array');
    const keysPath = posix.join(this.path, KEYS_FILE);
    const result = new Array<string | undefined>(entries.length).fill(undefined);
    const keyed: number[] = [];
    for (const [at, entry] of entries.entries()) {
      if (entry.keyLength === 0) continue;
      if (entry.keyOffset + entry.keyLength > this.manifest.keys.bytes) {
        throw corrupt(
          keysPath,
          `is ${this.manifest.keys.bytes} bytes; an entry's key ends at ${entry.keyOffset + entry.keyLength}`,
        );
      }
      keyed.push(at);
    }
    if (keyed.length === 0) return result;
    if (this.manifest.keys.bytes <= this.keysWholeBytesMax) {
      const all = await this.wholeKeys(keysPath, signal);
      for (const at of keyed) {
        const { keyOffset, keyLength } = entries[at]!;
        result[at] = all.toString('utf8', keyOffset, keyOffset + keyLength);
      }
      return result;
    }
    keyed.sort((a, b) => entries[a]!.keyOffset - entries[b]!.keyOffset);
    const spans: { start: number; end: number; members: number[] }[] = [];
    for (const at of keyed) {
      const { keyOffset, keyLength } = entries[at]!;
      const last = spans[spans.length - 1];
      const end = keyOffset + keyLength;
      if (
        last !== undefined &&
        keyOffset <= last.end + KEY_READ_GAP_BYTES &&
        end - last.start <= KEY_READ_RANGE_MAX_BYTES
      ) {
        last.end = Math.max(last.end, end);
        last.members.push(at);
      } else {
        spans.push({ start: keyOffset, end, members: [at] });
      }
    }
    const file = await this.keysHandle();
    const linked = linkSignal(signal);
    try {
      await forEachLimit(spans, KEY_READS_MAX, async (span) => {
        const bytes = Buffer.allocUnsafe(span.end - span.start);
        const read = await file.readAt(span.start, bytes, linked.signal);
        if (read !== bytes.length) throw corrupt(keysPath, `ends at ${span.start + read}; keys run to ${span.end}`);
        for (const at of span.members) {
          const { keyOffset, keyLength } = entries[at]!;
          result[at] = bytes.toString('utf8', keyOffset - span.start, keyOffset - span.start + keyLength);
        }
      });
    } finally {
      linked.unlink();
    }
    return result;
  }

  /** Shard `n`'s file, opened for reading on first use and kept open until close(). */
  shard(n: number): Promise<FileHandle> {
    try {
      this.checkOpen();
      requireIndex('shard', n, this.manifest.shards.length);
    } catch (err) {
      return Promise.reject(err);
    }
    let opened = this.shards.get(n);
    if (opened === undefined) {
      opened = this.openShard(n);
      this.shards.set(n, opened);
      opened.catch(() => this.shards.delete(n));
    }
    return opened;
  }

  /** Closes the index, keys and every shard opened. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.cache.clear();
      this.keysWhole = undefined;
      const handles = [Promise.resolve(this.index), ...this.shards.values()];
      if (this.keysFile !== undefined) handles.push(this.keysFile);
      await Promise.allSettled(handles.map(async (handle) => (await handle).close()));
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async openShard(n: number): Promise<FileHandle> {
    const info = this.manifest.shards[n]!;
    const path = posix.join(this.path, info.file);
    let handle: FileHandle;
    try {
      handle = await this.client.open(path, 'r');
    } catch (err) {
      if (isSpindleError(err, ErrorCode.NOT_FOUND)) throw corrupt(path, 'is missing');
      throw err;
    }
    if (handle.size !== info.bytes) {
      await handle.close();
      throw corrupt(path, `is ${handle.size} bytes; the manifest says ${info.bytes}`);
    }
    return handle;
  }

  private keysHandle(): Promise<FileHandle> {
    if (this.keysFile === undefined) {
      const path = posix.join(this.path, KEYS_FILE);
      this.keysFile = this.client.open(path, 'r').catch((err: unknown) => {
        this.keysFile = undefined;
        throw isSpindleError(err, ErrorCode.NOT_FOUND) ? corrupt(path, 'is missing') : err;
      });
    }
    return this.keysFile;
  }

  /** keys.bin, read once (concurrent callers share the read; a failed read is tried again next call). */
  private wholeKeys(keysPath: string, signal: AbortSignal | undefined): Promise<Buffer> {
    this.keysWhole ??= (async () => {
      const file = await this.keysHandle();
      const bytes = Buffer.allocUnsafe(this.manifest.keys.bytes);
      const read = await file.readAt(0, bytes, signal);
      if (read !== bytes.length) throw corrupt(keysPath, `ends at ${read}; the manifest says ${bytes.length} bytes`);
      return bytes;
    })().catch((err: unknown) => {
      this.keysWhole = undefined;
      throw err;
    });
    return this.keysWhole;
  }

  /** Page `page` of the index, CRC-checked; concurrent calls for one page share one read. */
  private loadPage(page: number, signal: AbortSignal | undefined): Promise<Buffer> {
    let load = this.pageLoads.get(page);
    if (load === undefined) {
      load = this.readPage(page, signal).finally(() => this.pageLoads.delete(page));
      this.pageLoads.set(page, load);
    }
    return load;
  }

  private async readPage(page: number, signal: AbortSignal | undefined): Promise<Buffer> {
    const pageEntries = this.manifest.index.pageEntries;
    const first = page * pageEntries;
    const count = Math.min(pageEntries, this.size - first);
    const bytes = Buffer.allocUnsafe(count * INDEX_ENTRY_BYTES);
    const indexPath = posix.join(this.path, INDEX_FILE);
    const read = await this.index.readAt(INDEX_HEADER_BYTES + first * INDEX_ENTRY_BYTES, bytes, signal);
    if (read !== bytes.length) throw corrupt(indexPath, `ends inside page ${page}`);
    if (crc32c(bytes) >>> 0 !== this.pageCrcs[page]) {
      throw corrupt(indexPath, `page ${page} (samples ${first}..${first + count - 1}) fails its CRC32C check`);
    }
    this.cache.put(page, bytes);
    return bytes;
  }

  /** Entry `index` from its page's bytes, checked to point inside its shard and keys.bin. */
  private entryOf(pageBytes: Buffer, page: number, index: number): IndexEntry {
    const entry = decodeIndexEntry(pageBytes, (index - page * this.manifest.index.pageEntries) * INDEX_ENTRY_BYTES);
    const shard = this.manifest.shards[entry.shard];
    const where = posix.join(this.path, INDEX_FILE);
    if (shard === undefined) {
      throw corrupt(where, `puts sample ${index} in shard ${entry.shard}; there are ${this.manifest.shards.length}`);
    }
    if (entry.offset + entry.length > shard.bytes) {
      throw corrupt(
        where,
        `puts sample ${index} at bytes ${entry.offset}..${entry.offset + entry.length} of ` +
          `${shard.file}, which has ${shard.bytes}`,
      );
    }
    if (entry.keyOffset + entry.keyLength > this.manifest.keys.bytes) {
      throw corrupt(where, `puts the key of sample ${index} past the end of ${KEYS_FILE}`);
    }
    return entry;
  }

  private checkOpen(): void {
    if (this.closing !== undefined) {
      throw new SpindleError(ErrorCode.BAD_FILE_HANDLE, `dataset ${this.path} is closed`);
    }
  }
}
