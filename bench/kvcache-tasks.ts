// The bench worker task of suite `kvcache` (bench/kvcache.ts), run by bench/kvcache-worker.ts, and
// the pages every step writes. One task per client process holds every step of the run, so the
// processes are started once; the coordinator starts each step on all of them at once ("go").
//
// Keys are 32-byte hash chains, as engines make them: a batch is one prompt's chain of `batch`
// pages, key 0 = SHA-256 of a name unique to the run, step, client and batch, key i = SHA-256 of key
// i-1 (its parent). Values are cut from one pseudo-random buffer, each stamped in its first 16
// bytes with its key's, so a get checks it got its own page, never another.
import { createHash } from 'node:crypto';

export type KvSystem = 'spindle' | 'redis';

/** The trace of bench/kvcache-trace.ts: conversations under Zipf-popular system prompts. */
export interface TracePlan {
  seed: number;
  systemPrompts: number;
  systemPages: number;
  conversations: number;
  turns: number;
  pagesPerTurn: number;
  activeConversations: number;
  zipfExponent: number;
  pageBytes: number;
  /** Spindle's matchPrefix lease between the lookup and the load. */
  leaseMs: number;
}

export type KvStep =
  /** Each client < clients puts (or gets) batches of one chain each until maxBatches or seconds. */
  | {
      kind: 'throughput';
      system: KvSystem;
      op: 'put' | 'get';
      /** Names the keys: a get step reads what the put step of the same name wrote. */
      name: string;
      pageBytes: number;
      batch: number;
      clients: number;
      maxBatches: number;
      /** A get cycles over the batches put until it made this many (for enough latency samples). */
      minBatches: number;
      seconds: number;
    }
  /** Client 0 puts `chains` chains of `chainKeys` pages (every other chain only its first tenth). */
  | { kind: 'match-setup'; system: KvSystem; chains: number; chainKeys: number; pageBytes: number }
  /** Client 0 asks `queries` times how much of one of those chains is stored (with a lease on Spindle). */
  | { kind: 'match'; system: KvSystem; chainKeys: number; queries: number; leaseMs?: number }
  /** Client 0 replays the trace against a cache of half its working set. */
  | { kind: 'trace'; system: KvSystem; plan: TracePlan };

export interface KvcacheTask {
  kind: 'kvcache';
  meta: string;
  redisPort: number;
  clientIndex: number;
  /** Unique to the run: keys of two runs never meet in a cluster given with --meta. */
  runId: string;
  /** Remove the Spindle pages left after the last step (a --meta cluster outlives the bench). */
  removeLeftovers: boolean;
  steps: KvStep[];
}

/** What a worker reports after each step (clients outside the step report nothing measured). */
export interface KvStepReport {
  index: number;
  /** Wall-clock ms since the epoch (performance.timeOrigin + now): comparable between processes. */
  startedAtMs: number;
  endedAtMs: number;
  ops: number;
  /** Pages moved (put or got) and their bytes. */
  pages: number;
  bytes: number;
  latenciesMs: number[];
  /** Step-specific figures (the trace's hits, the namespace's capacity …). */
  figures: Record<string, number>;
}

export const KIB = 1024;
const STAMP_BYTES = 16;

/** The chain of `length` keys starting from SHA-256 of `name`. */
export function keyChain(name: string, length: number): Buffer[] {
  const keys: Buffer[] = [createHash('sha256').update(name).digest()];
  while (keys.length < length)
    keys.push(
      createHash('sha256')
        .update(keys[keys.length - 1]!)
        .digest(),
    );
  return keys;
}

/** The name of a throughput batch's chain. */
export function batchName(runId: string, stepName: string, client: number, batch: number): string {
  return `${runId}/${stepName}/${client}/${batch}`;
}

let patternCache: Buffer | undefined;
/** One pseudo-random buffer (xorshift32) every value is cut from: nothing compresses it. */
function pattern(bytes: number): Buffer {
  if (patternCache === undefined || patternCache.length < bytes) {
    const b = Buffer.allocUnsafe(bytes);
    let x = 0x3c6ef372;
    for (let i = 0; i + 4 <= bytes; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b.writeUInt32LE(x >>> 0, i);
    }
    patternCache = b;
  }
  return patternCache;
}

/** `count` page buffers of `pageBytes`, ready to be stamped and reused batch after batch. */
export function pageBuffers(count: number, pageBytes: number): Buffer[] {
  const source = pattern(pageBytes);
  return Array.from({ length: count }, () => Buffer.from(source.subarray(0, pageBytes)));
}

/** Writes a page's identity into its first 16 bytes: the first 16 bytes of its key. */
export function stampPage(page: Buffer, key: Buffer): void {
  key.copy(page, 0, 0, STAMP_BYTES);
}

/** True when `value` is the page of `key`: its length, its stamp and its last bytes. */
export function isPage(value: Buffer | undefined, pageBytes: number, key: Buffer): boolean {
  if (value === undefined || value.length !== pageBytes) return false;
  if (value.compare(key, 0, STAMP_BYTES, 0, STAMP_BYTES) !== 0) return false;
  // The tail as well (a truncated or shifted value fails here); a full compare would dominate the timing.
  const tail = Math.max(STAMP_BYTES, pageBytes - 64);
  return value.compare(pattern(pageBytes), tail, pageBytes, tail, pageBytes) === 0;
}
