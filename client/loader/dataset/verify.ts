// verifyDataset: reads a whole dataset once and reports everything wrong with it.
//
// Checks: the manifest and index header (as openDataset), every index page's CRC32C, that the
// entries tile each shard exactly in order (no gap, no overlap, sample counts and byte sizes as
// the manifest says), every shard's length, every key range inside keys.bin, and every sample's
// CRC32C. Shards are read front to back in VERIFY_READ_BYTES reads (shard-scanner.ts), the index
// in reads of whole pages of about the same size.
//
// Guarantees: a damaged dataset gives ok: false and its problems (the first VERIFY_PROBLEMS_MAX
// listed, all counted), never a throw — except when the dataset cannot be opened at all for a
// reason other than damage (missing, not a dataset, cluster unavailable, cancelled). Memory: two
// shard blocks and one index read, whatever the dataset's size.
import { posix } from 'node:path';
import { crc32c } from '../../../common/crc32c.js';
import { ErrorCode, isSpindleError } from '../../../common/errors.js';
import type { SpindleClient } from '../../spindle-client.js';
import { VERIFY_PROBLEMS_MAX, VERIFY_READ_BYTES } from './constants.js';
import { type Dataset, openDataset } from './dataset.js';
import {
  INDEX_ENTRY_BYTES,
  INDEX_FILE,
  INDEX_HEADER_BYTES,
  INDEX_PAGES_CRC_FILE,
  KEYS_FILE,
  decodeIndexEntry,
} from './format.js';
import { linkSignal } from './linked-signal.js';
import { readSmallFile } from './manifest.js';
import { ShardScanner } from './shard-scanner.js';

export interface VerifyProblem {
  /** The sample it is about, when one. */
  readonly sample?: number;
  readonly shard?: number;
  readonly what: string;
}

export interface VerifyReport {
  readonly path: string;
  /** Samples and sample bytes the manifest lists. */
  readonly samples: number;
  readonly bytes: number;
  readonly ok: boolean;
  /** The first VERIFY_PROBLEMS_MAX problems. */
  readonly problems: readonly VerifyProblem[];
  /** All problems found (more than problems.length when some were left out). */
  readonly problemCount: number;
}

export interface VerifyOptions {
  /** Called as reading goes on: samples checked, and bytes read of the dataset's shards and index. */
  readonly onProgress?: (samples: number, bytes: number) => void;
  readonly signal?: AbortSignal;
}

/** Collects problems, listing the first VERIFY_PROBLEMS_MAX. */
class Problems {
  readonly listed: VerifyProblem[] = [];
  count = 0;

  add(problem: VerifyProblem): void {
    this.count++;
    if (this.listed.length < VERIFY_PROBLEMS_MAX) this.listed.push(problem);
  }
}

export async function verifyDataset(
  client: SpindleClient,
  path: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const linked = linkSignal(options.signal);
  const signal = linked.signal;
  let dataset: Dataset;
  try {
    dataset = await openDataset(client, path, { indexCacheBytes: 0, signal });
  } catch (err) {
    linked.unlink();
    if (!isSpindleError(err, ErrorCode.DATA_CORRUPTED)) throw err;
    const what = (err as Error).message;
    return { path, samples: 0, bytes: 0, ok: false, problems: [{ what }], problemCount: 1 };
  }
  try {
    const problems = new Problems();
    await new DatasetScan(client, dataset, problems, { ...options, signal }).run();
    const { samples, bytes } = dataset.manifest;
    const ok = problems.count === 0;
    return { path: dataset.path, samples, bytes, ok, problems: problems.listed, problemCount: problems.count };
  } finally {
    linked.unlink();
    await dataset.close();
  }
}

/** One pass over the index in order, following the shards as the entries tile them. */
class DatasetScan {
  private shard = -1;
  private scanner: ShardScanner | undefined;
  /** Where the next sample of the current shard must start. */
  private shardEnd = 0;
  private shardSamples = 0;
  private samplesChecked = 0;
  private bytesRead = 0;
  private sampleBytes = 0;

  constructor(
    private readonly client: SpindleClient,
    private readonly dataset: Dataset,
    private readonly problems: Problems,
    private readonly options: VerifyOptions,
  ) {}

  async run(): Promise<void> {
    const { manifest } = this.dataset;
    const pageEntries = manifest.index.pageEntries;
    const pageCrcs = await readSmallFile(
      this.client,
      posix.join(this.dataset.path, INDEX_PAGES_CRC_FILE),
      4 * Math.ceil(manifest.samples / pageEntries),
      this.options.signal,
    );
    const pagesPerRead = Math.max(1, Math.floor(VERIFY_READ_BYTES / (pageEntries * INDEX_ENTRY_BYTES)));
    const index = await this.client.open(posix.join(this.dataset.path, INDEX_FILE), 'r');
    try {
      for (let first = 0; first < manifest.samples; first += pagesPerRead * pageEntries) {
        const count = Math.min(pagesPerRead * pageEntries, manifest.samples - first);
        const bytes = Buffer.allocUnsafe(count * INDEX_ENTRY_BYTES);
        const read = await index.readAt(INDEX_HEADER_BYTES + first * INDEX_ENTRY_BYTES, bytes, this.options.signal);
        this.bytesRead += read;
        if (read !== bytes.length) {
          this.problems.add({ what: `index.bin ends at entry ${first + Math.floor(read / INDEX_ENTRY_BYTES)}` });
          return;
        }
        for (let at = 0; at < count; at += pageEntries) {
          const page = (first + at) / pageEntries;
          const pageBytes = bytes.subarray(
            at * INDEX_ENTRY_BYTES,
            Math.min(count, at + pageEntries) * INDEX_ENTRY_BYTES,
          );
          if (crc32c(pageBytes) >>> 0 !== pageCrcs.readUInt32LE(4 * page)) {
            const last = first + at + pageBytes.length / INDEX_ENTRY_BYTES - 1;
            this.problems.add({ what: `index page ${page} (samples ${first + at}..${last}) fails its CRC32C check` });
          }
        }
        for (let i = 0; i < count; i++) await this.checkSample(first + i, bytes, i * INDEX_ENTRY_BYTES);
      }
    } finally {
      await index.close();
    }
    this.finishShards(manifest.shards.length);
    if (this.sampleBytes !== manifest.bytes) {
      this.problems.add({
        what: `the samples add up to ${this.sampleBytes} bytes; the manifest says ${manifest.bytes}`,
      });
    }
    this.options.onProgress?.(this.samplesChecked, this.bytesRead);
  }

  private async checkSample(sample: number, indexBytes: Buffer, at: number): Promise<void> {
    const { manifest } = this.dataset;
    const entry = decodeIndexEntry(indexBytes, at);
    this.samplesChecked++;
    this.sampleBytes += entry.length;
    if (entry.keyOffset + entry.keyLength > manifest.keys.bytes) {
      this.problems.add({ sample, what: `sample ${sample}'s key lies past the end of ${KEYS_FILE}` });
    }
    const info = manifest.shards[entry.shard];
    if (info === undefined) {
      this.problems.add({ sample, what: `sample ${sample} is in shard ${entry.shard}, which does not exist` });
      return;
    }
    if (entry.shard < this.shard) {
      this.problems.add({ sample, shard: entry.shard, what: `sample ${sample} goes back to shard ${entry.shard}` });
    } else if (entry.shard > this.shard) {
      this.finishShards(entry.shard);
      await this.startShard(entry.shard);
    }
    const end = entry.offset + entry.length;
    const range = `bytes ${entry.offset}..${end} of ${info.file}`;
    if (entry.shard === this.shard) {
      if (entry.offset !== this.shardEnd) {
        const kind = entry.offset > this.shardEnd ? 'a gap' : 'an overlap';
        this.problems.add({
          sample,
          shard: entry.shard,
          what: `sample ${sample} starts at ${entry.offset} of ${info.file}, not at ${this.shardEnd} (${kind})`,
        });
      }
      this.shardEnd = end;
      this.shardSamples++;
    }
    if (end > info.bytes) {
      this.problems.add({ sample, shard: entry.shard, what: `sample ${sample} (${range}) ends past the shard's end` });
      return;
    }
    const scanner = entry.shard === this.shard ? this.scanner : undefined;
    if (scanner === undefined) return; // the shard could not be opened: reported once
    let crc: number;
    try {
      crc = await scanner.crcOf(entry.offset, entry.length);
    } catch (err) {
      if (!isSpindleError(err, ErrorCode.DATA_CORRUPTED)) throw err;
      this.problems.add({ sample, shard: entry.shard, what: `sample ${sample}: ${(err as Error).message}` });
      return;
    }
    if (crc !== entry.crc32c) {
      this.problems.add({ sample, shard: entry.shard, what: `sample ${sample} (${range}) fails its CRC32C check` });
    }
  }

  private async startShard(shard: number): Promise<void> {
    const info = this.dataset.manifest.shards[shard]!;
    this.shard = shard;
    this.shardEnd = 0;
    this.shardSamples = 0;
    this.scanner = undefined;
    try {
      const handle = await this.dataset.shard(shard);
      const where = posix.join(this.dataset.path, info.file);
      this.scanner = new ShardScanner(handle, where, info.bytes, VERIFY_READ_BYTES, this.options.signal, (bytes) => {
        this.bytesRead += bytes;
        this.options.onProgress?.(this.samplesChecked, this.bytesRead);
      });
    } catch (err) {
      if (!isSpindleError(err, ErrorCode.DATA_CORRUPTED)) throw err;
      this.problems.add({ shard, what: (err as Error).message });
    }
  }

  /** Closes the current shard's checks and those of shards skipped up to (not including) `upTo`. */
  private finishShards(upTo: number): void {
    const { shards } = this.dataset.manifest;
    for (let shard = Math.max(this.shard, 0); shard < upTo; shard++) {
      const info = shards[shard]!;
      const seen = shard === this.shard ? this.shardSamples : 0;
      const end = shard === this.shard ? this.shardEnd : 0;
      if (seen !== info.samples) {
        this.problems.add({
          shard,
          what: `${info.file} has ${seen} samples in the index; the manifest says ${info.samples}`,
        });
      }
      if (end !== info.bytes) {
        this.problems.add({
          shard,
          what: `the samples of ${info.file} end at ${end}; the shard is ${info.bytes} bytes`,
        });
      }
    }
  }
}
