// The packed dataset format (docs/loader.md, "Dataset format"). A dataset is one directory:
//
//   DEST/manifest.json      what the dataset is (DatasetManifest); written last, before publishing
//   DEST/index.bin          INDEX_HEADER_BYTES header, then one INDEX_ENTRY_BYTES entry per sample
//   DEST/keys.bin           the samples' keys, UTF-8, back to back (absent when no sample has one)
//   DEST/shard-000000.bin   records: sample bytes back to back, no framing (the index frames them)
//
// Publishing is one rename: a pack writes everything into a staging directory beside DEST
// (`.<name>.packing-<id>`, with `owner.json` naming its process) and renames it to DEST when
// complete, so a reader sees a whole dataset or none. Index pages (INDEX_PAGE_ENTRIES entries) each
// have a CRC32C in `index-pages.crc` (u32 LE per page) so a reader can check the pages it loads
// without reading the whole index. Entries are in sample order and tile the shards: sample i + 1
// starts where sample i ends, or at offset 0 of the next shard (`spindle dataset verify` checks it).
//
// Guarantees of this module: encode and decode are exact inverses; decodeIndexHeader and
// decodeIndexEntry refuse malformed bytes with SpindleError(DATA_CORRUPTED) naming what is wrong.
import { ErrorCode, SpindleError } from '../../../common/errors.js';

export const DATASET_FORMAT = 'spindle-dataset';
export const DATASET_FORMAT_VERSION = 1;

export const MANIFEST_FILE = 'manifest.json';
export const INDEX_FILE = 'index.bin';
export const INDEX_PAGES_CRC_FILE = 'index-pages.crc';
export const KEYS_FILE = 'keys.bin';
export const STAGING_OWNER_FILE = 'owner.json';

/** "SPDSIDX1": the first 8 bytes of index.bin. */
export const INDEX_MAGIC = Buffer.from('SPDSIDX1', 'latin1');
export const INDEX_HEADER_BYTES = 64;
/** shard u32, length u32, offset u64, crc32c u32, key length u32, key offset u64. */
export const INDEX_ENTRY_BYTES = 32;
/** Entries per CRC-checked index page (128 KiB of entries). */
export const INDEX_PAGE_ENTRIES = 4096;

/** The name of shard `n` inside the dataset directory. */
export function shardFileName(n: number): string {
  return `shard-${String(n).padStart(6, '0')}.bin`;
}

/** The staging directory's name (in DEST's parent) for a pack of `name` with id `id`. */
export function stagingDirName(name: string, id: string): string {
  return `.${name}.packing-${id}`;
}

/** The dataset name and pack id a staging directory's name encodes, or undefined for any other name. */
export function parseStagingDirName(entry: string): { name: string; id: string } | undefined {
  const match = /^\.(.+)\.packing-([0-9A-Za-z]+)$/.exec(entry);
  return match === null ? undefined : { name: match[1]!, id: match[2]! };
}

/** Matches staging directories of `name` (any id). */
export function isStagingDirOf(entry: string, name: string): boolean {
  return entry.startsWith(`.${name}.packing-`);
}

/** Where one sample's bytes are. */
export interface IndexEntry {
  readonly shard: number;
  readonly offset: number;
  readonly length: number;
  /** CRC32C of the sample's bytes. */
  readonly crc32c: number;
  /** Byte range of the key in keys.bin (length 0: no key). */
  readonly keyOffset: number;
  readonly keyLength: number;
}

export interface ShardInfo {
  readonly file: string;
  readonly bytes: number;
  readonly samples: number;
}

/** How a sample's bytes are laid out: as given ('raw'), or named parts (parts.ts: a WebDataset sample). */
export type SampleEncoding = 'raw' | 'parts';

/** manifest.json. */
export interface DatasetManifest {
  readonly format: typeof DATASET_FORMAT;
  readonly formatVersion: number;
  /** Random id of this pack: a re-pack to the same path is another dataset (cursors refuse it). */
  readonly id: string;
  readonly createdAt: string;
  readonly samples: number;
  /** Sum of the sample lengths. */
  readonly bytes: number;
  readonly shards: readonly ShardInfo[];
  readonly index: { readonly bytes: number; readonly pageEntries: number };
  readonly keys: { readonly bytes: number };
  /** Where it came from (informational): e.g. { kind: 'jsonl', path: '/data/train.jsonl' }. */
  readonly source?: { readonly kind: string; readonly path?: string };
  /** Absent: 'raw'. */
  readonly sampleEncoding?: SampleEncoding;
}

/** owner.json of a staging directory: lets a later pack tell a crashed pack from a running one. */
export interface StagingOwner {
  readonly host: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly dest: string;
}

export function encodeIndexHeader(sampleCount: number): Buffer {
  const header = Buffer.alloc(INDEX_HEADER_BYTES);
  INDEX_MAGIC.copy(header, 0);
  header.writeUInt32LE(DATASET_FORMAT_VERSION, 8);
  header.writeUInt32LE(INDEX_ENTRY_BYTES, 12);
  header.writeBigUInt64LE(BigInt(sampleCount), 16);
  return header;
}

/** Returns the sample count; throws DATA_CORRUPTED unless `header` is a version-1 index header. */
export function decodeIndexHeader(header: Uint8Array, where: string): number {
  const bytes = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (bytes.length < INDEX_HEADER_BYTES || !bytes.subarray(0, 8).equals(INDEX_MAGIC)) {
    throw corrupt(where, 'does not start with the dataset index magic SPDSIDX1');
  }
  const version = bytes.readUInt32LE(8);
  if (version !== DATASET_FORMAT_VERSION) {
    throw corrupt(where, `has format version ${version}; this Spindle reads version ${DATASET_FORMAT_VERSION}`);
  }
  if (bytes.readUInt32LE(12) !== INDEX_ENTRY_BYTES) {
    throw corrupt(where, `has ${bytes.readUInt32LE(12)}-byte entries, expected ${INDEX_ENTRY_BYTES}`);
  }
  const count = bytes.readBigUInt64LE(16);
  if (count > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(where, `claims ${count} samples`);
  return Number(count);
}

export function encodeIndexEntry(entry: IndexEntry, target: Buffer, at: number): void {
  target.writeUInt32LE(entry.shard, at);
  target.writeUInt32LE(entry.length, at + 4);
  target.writeBigUInt64LE(BigInt(entry.offset), at + 8);
  target.writeUInt32LE(entry.crc32c >>> 0, at + 16);
  target.writeUInt32LE(entry.keyLength, at + 20);
  target.writeBigUInt64LE(BigInt(entry.keyOffset), at + 24);
}

export function decodeIndexEntry(source: Buffer, at: number): IndexEntry {
  return {
    shard: source.readUInt32LE(at),
    length: source.readUInt32LE(at + 4),
    offset: Number(source.readBigUInt64LE(at + 8)),
    crc32c: source.readUInt32LE(at + 16),
    keyLength: source.readUInt32LE(at + 20),
    keyOffset: Number(source.readBigUInt64LE(at + 24)),
  };
}

/** DATA_CORRUPTED naming the file and what is wrong with it, and what to do. */
export function corrupt(where: string, what: string): SpindleError {
  return new SpindleError(
    ErrorCode.DATA_CORRUPTED,
    `${where} ${what}: the dataset is damaged; run 'spindle dataset verify' on it and re-pack it`,
  );
}
