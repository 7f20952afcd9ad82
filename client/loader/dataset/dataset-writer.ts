// DatasetWriter: packs samples into a dataset (format.ts) and publishes it with one rename.
//
// create() collects abandoned staging directories beside DEST, makes `.<name>.packing-<id>` there
// and writes owner.json into it first. add() appends each sample to the current shard (a new shard
// starts when the sample would not fit; a sample never crosses shards), its key to keys.bin, its
// entry to index.bin; every file is written in large writes (client/buffered-file-writer.ts).
// publish() finishes the shards, writes the index header, index-pages.crc and manifest.json last,
// syncs and closes every file, then renames the staging directory to DEST refusing to replace
// anything.
//
// Guarantees: readers see all of the dataset at DEST or nothing — no failure, crash or refusal
// leaves a DEST behind. Bad arguments are INVALID_ARGUMENT naming the field and change nothing (the
// writer stays usable). After a failed write the writer only aborts. publish() either publishes or
// discards the staging directory (an empty dataset is refused that way too); abort() removes it.
// Calls may overlap: they run one at a time in call order.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { systemClock, type Clock } from '../../../common/clock.js';
import { crc32c } from '../../../common/crc32c.js';
import { ErrorCode, SpindleError, isSpindleError } from '../../../common/errors.js';
import { BufferedFileWriter } from '../../buffered-file-writer.js';
import type { SpindleClient } from '../../spindle-client.js';
import { DATASET_ID_BYTES, KEY_BYTES_MAX, SAMPLE_BYTES_MAX, SHARD_BYTES_DEFAULT } from './constants.js';
import { checkDatasetPath } from './dataset-path.js';
import {
  DATASET_FORMAT,
  DATASET_FORMAT_VERSION,
  type DatasetManifest,
  INDEX_ENTRY_BYTES,
  INDEX_FILE,
  INDEX_HEADER_BYTES,
  INDEX_PAGE_ENTRIES,
  INDEX_PAGES_CRC_FILE,
  KEYS_FILE,
  MANIFEST_FILE,
  type SampleEncoding,
  type ShardInfo,
  STAGING_OWNER_FILE,
  type StagingOwner,
  encodeIndexEntry,
  encodeIndexHeader,
  shardFileName,
  stagingDirName,
} from './format.js';
import { type LinkedSignal, linkSignal } from './linked-signal.js';
import { collectAbandonedStaging, type StagingDir } from './staging.js';

export interface DatasetWriterOptions {
  /** Target shard size (default SHARD_BYTES_DEFAULT, 256 MiB); a larger sample gets a shard of its own. */
  readonly shardBytes?: number;
  /** Where the samples came from, recorded in the manifest. */
  readonly source?: { readonly kind: string; readonly path?: string };
  /** How samples are encoded (default 'raw'; 'parts' for encodeParts records). */
  readonly sampleEncoding?: SampleEncoding;
  /** Called after each sample with the samples and sample bytes added so far. */
  readonly onProgress?: (samples: number, bytes: number) => void;
  /** Cancels the writes in flight; abort() then removes the staging directory. */
  readonly signal?: AbortSignal;
  /** Staging directories older than this are collected (default 24 h). */
  readonly stagingMaxAgeMs?: number;
  readonly clock?: Clock;
}

type WriterState = 'open' | 'failed' | 'published' | 'aborted';

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}

function checkShardBytes(value: unknown): number {
  if (value === undefined) return SHARD_BYTES_DEFAULT;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(`shardBytes must be a whole number of bytes >= 1, got ${String(value)}`);
  }
  return value;
}

/** The directory DEST goes into; DEST itself must not exist yet. */
async function checkDestination(client: SpindleClient, dest: string): Promise<string> {
  const parent = posix.dirname(dest);
  try {
    if (!(await client.stat(parent)).isDirectory()) throw invalid(`dest: ${parent} is not a directory`);
  } catch (err) {
    if (!isSpindleError(err, ErrorCode.NOT_FOUND)) throw err;
    throw invalid(`dest: the parent directory ${parent} does not exist; create it first (spindle mkdir -p ${parent})`);
  }
  if (await client.exists(dest)) throw existsError(dest);
  return parent;
}

function existsError(dest: string, cause?: unknown): SpindleError {
  return new SpindleError(
    ErrorCode.EXISTS,
    `${dest} already exists: remove it first with \`spindle dataset rm ${dest}\` (nothing was changed)`,
    { cause },
  );
}

export class DatasetWriter {
  /** Where the dataset is published. */
  readonly dest: string;
  /** The pack id (manifest.id). */
  readonly id: string;
  /** The staging directory samples are written into until publish. */
  readonly stagingPath: string;
  /** Abandoned staging directories create() removed from DEST's parent. */
  readonly collected: readonly StagingDir[];
  private readonly client: SpindleClient;
  private readonly shardBytes: number;
  private readonly options: DatasetWriterOptions;
  private readonly index: BufferedFileWriter;
  /** options.signal, for the writes (which put one listener on it per chunk write in flight). */
  private readonly linked: LinkedSignal;
  private keys: BufferedFileWriter | undefined;
  private shard: BufferedFileWriter | undefined;
  private shardSamples = 0;
  private readonly finishedShards: ShardInfo[] = [];
  private readonly pageCrcs: number[] = [];
  private pageCrc = 0;
  private readonly entry = Buffer.alloc(INDEX_ENTRY_BYTES);
  private sampleCount = 0;
  private byteCount = 0;
  private state: WriterState = 'open';
  private failure: unknown;
  private queue: Promise<unknown> = Promise.resolve();
  private aborting: Promise<void> | undefined;

  private constructor(
    client: SpindleClient,
    fields: {
      dest: string;
      id: string;
      stagingPath: string;
      collected: StagingDir[];
      index: BufferedFileWriter;
      linked: LinkedSignal;
    },
    shardBytes: number,
    options: DatasetWriterOptions,
  ) {
    this.client = client;
    this.dest = fields.dest;
    this.id = fields.id;
    this.stagingPath = fields.stagingPath;
    this.collected = fields.collected;
    this.index = fields.index;
    this.linked = fields.linked;
    this.shardBytes = shardBytes;
    this.options = options;
  }

  /** Starts a pack into `dest` (an absolute path whose parent exists and which does not). */
  static async create(client: SpindleClient, dest: string, options: DatasetWriterOptions = {}): Promise<DatasetWriter> {
    checkDatasetPath(dest, 'dest');
    const shardBytes = checkShardBytes(options.shardBytes);
    if (
      options.sampleEncoding !== undefined &&
      options.sampleEncoding !== 'raw' &&
      options.sampleEncoding !== 'parts'
    ) {
      throw invalid(`sampleEncoding must be 'raw' or 'parts', got ${JSON.stringify(options.sampleEncoding)}`);
    }
    const parent = await checkDestination(client, dest);
    const clock = options.clock ?? systemClock;
    const collected = await collectAbandonedStaging(client, parent, { maxAgeMs: options.stagingMaxAgeMs, clock });
    const id = randomBytes(DATASET_ID_BYTES).toString('hex');
    const stagingPath = posix.join(parent, stagingDirName(posix.basename(dest), id));
    await client.mkdir(stagingPath);
    const linked = linkSignal(options.signal);
    try {
      const owner: StagingOwner = {
        host: hostname(),
        pid: process.pid,
        startedAt: new Date(clock.nowMs()).toISOString(),
        dest,
      };
      await client.writeFile(posix.join(stagingPath, STAGING_OWNER_FILE), `${JSON.stringify(owner)}\n`, { flag: 'wx' });
      const index = new BufferedFileWriter(await client.open(posix.join(stagingPath, INDEX_FILE), 'wx'), linked.signal);
      // The header is written over these bytes by publish(), once the sample count is known.
      await index.append(Buffer.alloc(INDEX_HEADER_BYTES));
      return new DatasetWriter(client, { dest, id, stagingPath, collected, index, linked }, shardBytes, options);
    } catch (err) {
      linked.unlink();
      await client.rm(stagingPath, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Samples added so far. */
  get samples(): number {
    return this.sampleCount;
  }

  /** Sample bytes added so far. */
  get bytes(): number {
    return this.byteCount;
  }

  /** Appends one sample (at most SAMPLE_BYTES_MAX bytes) with an optional key (1..KEY_BYTES_MAX bytes). */
  add(data: Uint8Array, key?: string): Promise<void> {
    return this.serialize(() => this.addNow(data, key));
  }

  /** Finishes every file and publishes the dataset at DEST; resolves with its manifest. */
  publish(): Promise<DatasetManifest> {
    return this.serialize(() => this.publishNow());
  }

  /** Discards the pack: closes every file and removes the staging directory. Idempotent. */
  abort(): Promise<void> {
    if (this.state === 'published') return Promise.resolve();
    this.state = 'aborted';
    // A publish() already past its checks finishes first; then there is nothing left to discard.
    this.aborting ??= this.queue.then(() => (this.state === 'published' ? undefined : this.discard()));
    return this.aborting;
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private checkWritable(): void {
    if (this.state === 'failed') {
      throw new SpindleError(
        ErrorCode.FAILED_PRECONDITION,
        `the pack of ${this.dest} failed earlier (${(this.failure as Error)?.message}); abort() it and start again`,
        { cause: this.failure },
      );
    }
    if (this.state !== 'open') {
      throw new SpindleError(ErrorCode.FAILED_PRECONDITION, `the pack of ${this.dest} was already ${this.state}`);
    }
  }

  private async addNow(data: Uint8Array, key: string | undefined): Promise<void> {
    this.checkWritable();
    if (!(data instanceof Uint8Array)) throw invalid(`data must be a Uint8Array, got ${typeof data}`);
    if (data.length > SAMPLE_BYTES_MAX) {
      throw invalid(`data is ${data.length} bytes; a sample is at most ${SAMPLE_BYTES_MAX} bytes (4 GiB - 1)`);
    }
    let keyBytes: Buffer | undefined;
    if (key !== undefined) {
      if (typeof key !== 'string' || key === '')
        throw invalid(`key must be a non-empty string, got ${JSON.stringify(key)}`);
      keyBytes = Buffer.from(key, 'utf8');
      if (keyBytes.length > KEY_BYTES_MAX) {
        throw invalid(`key is ${keyBytes.length} bytes in UTF-8; at most ${KEY_BYTES_MAX}`);
      }
    }
    try {
      await this.write(data, keyBytes);
    } catch (err) {
      this.state = 'failed';
      this.failure = err;
      throw err;
    }
    this.options.onProgress?.(this.sampleCount, this.byteCount);
  }

  private async write(data: Uint8Array, keyBytes: Buffer | undefined): Promise<void> {
    if (this.shard !== undefined && this.shard.length > 0 && this.shard.length + data.length > this.shardBytes) {
      await this.finishShard();
    }
    this.shard ??= await this.createFile(shardFileName(this.finishedShards.length));
    let keyOffset = 0;
    if (keyBytes !== undefined) {
      this.keys ??= await this.createFile(KEYS_FILE);
      keyOffset = this.keys.length;
      await this.keys.append(keyBytes);
    }
    encodeIndexEntry(
      {
        shard: this.finishedShards.length,
        offset: this.shard.length,
        length: data.length,
        crc32c: crc32c(data),
        keyOffset,
        keyLength: keyBytes?.length ?? 0,
      },
      this.entry,
      0,
    );
    await this.shard.append(data);
    await this.index.append(this.entry);
    this.pageCrc = crc32c(this.entry, this.pageCrc);
    this.sampleCount++;
    this.byteCount += data.length;
    this.shardSamples++;
    if (this.sampleCount % INDEX_PAGE_ENTRIES === 0) {
      this.pageCrcs.push(this.pageCrc);
      this.pageCrc = 0;
    }
  }

  private async createFile(name: string): Promise<BufferedFileWriter> {
    const handle = await this.client.open(posix.join(this.stagingPath, name), 'wx');
    return new BufferedFileWriter(handle, this.linked.signal);
  }

  private async finishShard(): Promise<void> {
    const shard = this.shard!;
    const bytes = shard.length;
    await shard.finish();
    this.finishedShards.push({ file: shardFileName(this.finishedShards.length), bytes, samples: this.shardSamples });
    this.shard = undefined;
    this.shardSamples = 0;
  }

  private async publishNow(): Promise<DatasetManifest> {
    this.checkWritable();
    if (this.sampleCount === 0) {
      this.state = 'aborted';
      await this.discard();
      throw invalid(
        `the dataset ${this.dest} is empty: add at least one sample before publish() (nothing was published)`,
      );
    }
    let manifest: DatasetManifest;
    try {
      manifest = await this.writeRest();
      await this.client.rename(this.stagingPath, this.dest, { noReplace: true });
    } catch (err) {
      this.state = 'aborted';
      await this.discard();
      throw isSpindleError(err, ErrorCode.EXISTS) ? existsError(this.dest, err) : err;
    }
    this.state = 'published';
    this.linked.unlink();
    // Only the staging directory needs an owner; a failure here leaves a harmless extra file.
    await this.client.rm(posix.join(this.dest, STAGING_OWNER_FILE), { force: true }).catch(() => undefined);
    return manifest;
  }

  /** Finishes shards, index, page CRCs and keys, then writes manifest.json; returns the manifest. */
  private async writeRest(): Promise<DatasetManifest> {
    if (this.shard !== undefined) await this.finishShard();
    if (this.sampleCount % INDEX_PAGE_ENTRIES !== 0) this.pageCrcs.push(this.pageCrc);
    await this.index.finish(encodeIndexHeader(this.sampleCount));
    const crcs = Buffer.alloc(4 * this.pageCrcs.length);
    for (const [page, crc] of this.pageCrcs.entries()) crcs.writeUInt32LE(crc >>> 0, 4 * page);
    await this.client.writeFile(posix.join(this.stagingPath, INDEX_PAGES_CRC_FILE), crcs, { flag: 'wx' });
    const keysBytes = this.keys?.length ?? 0;
    await this.keys?.finish();
    const clock = this.options.clock ?? systemClock;
    const manifest: DatasetManifest = {
      format: DATASET_FORMAT,
      formatVersion: DATASET_FORMAT_VERSION,
      id: this.id,
      createdAt: new Date(clock.nowMs()).toISOString(),
      samples: this.sampleCount,
      bytes: this.byteCount,
      shards: this.finishedShards,
      index: { bytes: INDEX_HEADER_BYTES + this.sampleCount * INDEX_ENTRY_BYTES, pageEntries: INDEX_PAGE_ENTRIES },
      keys: { bytes: keysBytes },
      ...(this.options.source !== undefined ? { source: this.options.source } : {}),
      sampleEncoding: this.options.sampleEncoding ?? 'raw',
    };
    await this.client.writeFile(posix.join(this.stagingPath, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, {
      flag: 'wx',
    });
    return manifest;
  }

  /** Closes every file and removes the staging directory; never throws. */
  private async discard(): Promise<void> {
    this.linked.unlink();
    await Promise.all([this.index.discard(), this.keys?.discard(), this.shard?.discard()]);
    await this.client.rm(this.stagingPath, { recursive: true, force: true }).catch(() => undefined);
  }
}
