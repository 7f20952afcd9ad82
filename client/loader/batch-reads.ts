// Reading one rank's batch: the samples' index entries become as few range reads as possible, and
// every sample's bytes are checked against its CRC32C.
//
// Samples of one shard that lie next to each other (gap ≤ MERGE_GAP_BYTES) are read as one range
// up to MERGE_RANGE_MAX_BYTES; all ranges of a batch are issued at once, so the client's read
// coalescer (client/read-coalescer.ts) groups the chunk reads of every range by storage node into
// batched reads — one call per node per turn rather than one per sample.
//
// Guarantees: `readBatch` resolves to one buffer per entry, in the entries' order, each exactly the
// sample's bytes and matching its CRC32C; a sample whose bytes fail the check is read once more on
// its own (another replica may serve it) and, failing again, ends the batch with DATA_CORRUPTED
// naming the sample and shard. Samples are views into one buffer per batch (no copy per sample):
// a consumer that keeps one sample keeps its batch's buffer.
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { FileRange } from '../chunk-reads.js';
import type { IndexEntry } from './dataset/format.js';

/** Neighbouring samples this close are read in one range (the gap's bytes are read and dropped). */
export const MERGE_GAP_BYTES = 4096;
/** A merged range stops growing at this size, so one batch still spreads over chains. */
export const MERGE_RANGE_MAX_BYTES = 4 * 1024 * 1024;

/** What reading needs of a dataset: its shards' bytes. */
export interface ShardReader {
  /** Fills `target` from byte `position` of shard `shard`; resolves to the bytes read. */
  readShard(shard: number, position: number, target: Buffer, signal?: AbortSignal): Promise<number>;
  /** Reads every range of shard `shard` into its place in `target`, as one read of the client. */
  readShardRanges(shard: number, ranges: readonly FileRange[], target: Buffer, signal?: AbortSignal): Promise<void>;
}

/** One read of a shard's range and the samples (positions in the batch) inside it. */
export interface RangeRead {
  readonly shard: number;
  readonly offset: number;
  readonly length: number;
  readonly members: readonly number[];
}

/** Groups a batch's entries into range reads (pure; order of members follows offsets). */
export function planRangeReads(entries: readonly IndexEntry[]): RangeRead[] {
  const order = entries.map((_, i) => i);
  order.sort((a, b) => entries[a].shard - entries[b].shard || entries[a].offset - entries[b].offset);
  const ranges: RangeRead[] = [];
  let current: { shard: number; offset: number; end: number; members: number[] } | undefined;
  for (const at of order) {
    const { shard, offset, length } = entries[at];
    const end = offset + length;
    if (
      current !== undefined &&
      current.shard === shard &&
      offset <= current.end + MERGE_GAP_BYTES &&
      Math.max(end, current.end) - current.offset <= MERGE_RANGE_MAX_BYTES
    ) {
      current.end = Math.max(current.end, end);
      current.members.push(at);
      continue;
    }
    if (current !== undefined) ranges.push(toRange(current));
    current = { shard, offset, end, members: [at] };
  }
  if (current !== undefined) ranges.push(toRange(current));
  return ranges;
}

function toRange(open: { shard: number; offset: number; end: number; members: number[] }): RangeRead {
  return { shard: open.shard, offset: open.offset, length: open.end - open.offset, members: open.members };
}

/** Bytes the range reads of `entries` hold in memory (what the prefetch budget counts). */
export function rangeBytes(ranges: readonly RangeRead[]): number {
  return ranges.reduce((sum, range) => sum + range.length, 0);
}

/** Reads every sample of `entries` (planned as `ranges`); see the guarantees above. */
export async function readBatch(
  reader: ShardReader,
  entries: readonly IndexEntry[],
  ranges: readonly RangeRead[],
  signal?: AbortSignal,
): Promise<Buffer[]> {
  const samples: Buffer[] = new Array(entries.length);
  // One buffer per batch, not per range (fewer, larger buffers are far cheaper to collect), and one
  // client read per shard for all its ranges (one plan and retry loop, not one per sample).
  const whole = Buffer.allocUnsafe(rangeBytes(ranges));
  const byShard = new Map<number, FileRange[]>();
  let at = 0;
  for (const range of ranges) {
    const fileRanges = byShard.get(range.shard) ?? [];
    if (fileRanges.length === 0) byShard.set(range.shard, fileRanges);
    fileRanges.push({ offset: range.offset, length: range.length, targetOffset: at });
    for (const member of range.members) {
      const entry = entries[member];
      const start = at + entry.offset - range.offset;
      samples[member] = whole.subarray(start, start + entry.length);
    }
    at += range.length;
  }
  await Promise.all(
    [...byShard].map(([shard, fileRanges]) => reader.readShardRanges(shard, fileRanges, whole, signal)),
  );
  await Promise.all(
    entries.map(async (entry, at) => {
      if (crc32c(samples[at]) === entry.crc32c >>> 0) return;
      const again = await readExactly(reader, entry.shard, entry.offset, Buffer.allocUnsafe(entry.length), signal);
      if (crc32c(again) !== entry.crc32c >>> 0) {
        throw new SpindleError(
          ErrorCode.DATA_CORRUPTED,
          `a sample at byte ${entry.offset} of shard ${entry.shard} (${entry.length} bytes) fails its CRC32C twice: ` +
            "the dataset's stored bytes are damaged; run 'spindle dataset verify' and re-pack it",
        );
      }
      samples[at] = again;
    }),
  );
  return samples;
}

/** Fills `buffer` from byte `offset` of the shard; returns it. */
async function readExactly(
  reader: ShardReader,
  shard: number,
  offset: number,
  buffer: Buffer,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  const length = buffer.length;
  const got = await reader.readShard(shard, offset, buffer, signal);
  if (got !== length) {
    throw new SpindleError(
      ErrorCode.DATA_CORRUPTED,
      `shard ${shard} ends before byte ${offset + length} (read ${got} of ${length} bytes at ${offset}): ` +
        "the dataset's index points past its shard; run 'spindle dataset verify' and re-pack it",
    );
  }
  return buffer;
}
