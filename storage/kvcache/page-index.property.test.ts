// Property test of the page index against a brute-force model (testing/page-model.ts) and a naive
// reimplementation that decides everything by scanning all pages (testing/naive-page-index.ts): random
// put/get/exists/remove/evict/matchPrefix/lease/clock sequences over a small tree of prompts, with
// capacity tight enough that eviction, REJECTED_FULL, leases and TTLs all interact. After every
// operation: the index holds exactly the stored-and-not-dropped pages, prefix-closed, within
// capacity; matchPrefix equals the longest present prefix in O(log n) probes; no leased page is
// dropped; every put gets a status consistent with the model; and every answer and every dropped
// page (LRU victims included) is the naive index's.
//
// Replay one seed: SPINDLE_KV_SEED=1234 npx vitest run storage/kvcache/page-index.property.test.ts
// More seeds:      SPINDLE_KV_SEEDS=2000 npx vitest run storage/kvcache/page-index.property.test.ts
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock, type Rng, createRng } from '../../common/clock.js';
import { PAGE_SIZE_MIN_BYTES } from './constants.js';
import { PageIndex } from './page-index.js';
import type { PagePut } from './page-index-types.js';
import type { PageIndexStats } from './page-index-stats.js';
import { NaivePageIndex } from './testing/naive-page-index.js';
import { PageModel } from './testing/page-model.js';
import { pageKeyId } from './request-checks.js';

const SEEDS = Number(process.env.SPINDLE_KV_SEEDS ?? 200);
const ONE_SEED = process.env.SPINDLE_KV_SEED;
const STEPS_PER_SEED = 250;
const ROOTS = 4;
const STORM_ROOTS = 4;
const BRANCHING = 3;
const DEPTH_MAX = 10;

function keyOf(path: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`kv-property:${path}`).digest());
}

/** 16, 32 or 48 KiB, fixed per path so a re-put is identical. */
function sizeOf(path: string): number {
  return PAGE_SIZE_MIN_BYTES * (1 + (keyOf(path)[0]! % 3));
}

/** The prefixes of a random prompt: ['2', '2.1', '2.1.0', ...]. */
function randomChain(rng: Rng, firstRoot = 0, roots = ROOTS): string[] {
  const chain = [String(firstRoot + rng.nextInt(roots))];
  const depth = 1 + rng.nextInt(DEPTH_MAX);
  while (chain.length < depth) chain.push(`${chain.at(-1)}.${rng.nextInt(BRANCHING)}`);
  return chain;
}

function putsOf(chain: string[], from: number, to: number, rng: Rng): PagePut<string>[] {
  const ttlMs = rng.nextInt(5) === 0 ? 1 + rng.nextInt(200) : undefined;
  return chain.slice(from, to).map((path, i) => {
    const parent = chain[from + i - 1];
    const mismatch = rng.nextInt(40) === 0 ? PAGE_SIZE_MIN_BYTES : 0;
    return {
      key: keyOf(path),
      ...(parent === undefined ? {} : { parentKey: keyOf(parent) }),
      sizeBytes: sizeOf(path) + mismatch,
      location: path,
      ...(ttlMs === undefined ? {} : { ttlMs }),
    };
  });
}

class Run {
  readonly clock = new ManualClock(1_000);
  readonly model: PageModel;
  readonly index: PageIndex<string>;
  readonly naive: NaivePageIndex;
  private drops: string[] = [];

  constructor(readonly rng: Rng) {
    const capacityBytes = PAGE_SIZE_MIN_BYTES * (4 + rng.nextInt(16));
    const evictionsPerPutMax = 2 + rng.nextInt(8);
    this.model = new PageModel(capacityBytes, () => this.clock.nowMs());
    this.naive = new NaivePageIndex(this.clock, capacityBytes, evictionsPerPutMax);
    this.index = new PageIndex<string>({
      clock: this.clock,
      capacityBytes,
      evictionsPerPutMax,
      onPageDropped: (page) => {
        this.model.onDropped(page);
        this.drops.push(`${page.reason}:${pageKeyId(page.key)}`);
      },
    });
  }

  /** The index and the naive index dropped the same pages for the same reasons in this step. */
  private expectSameDrops(): void {
    expect(this.drops.sort(), 'pages dropped (reason:key)').toEqual(this.naive.takeDrops());
    this.drops = [];
  }

  step(): void {
    const roll = this.rng.nextInt(100);
    if (roll < 35) this.put(randomChain(this.rng));
    else if (roll < 40) this.put(randomChain(this.rng, ROOTS, STORM_ROOTS), true);
    else if (roll < 50) this.get();
    else if (roll < 55) this.exists();
    else if (roll < 58) this.remove();
    else if (roll < 60) this.evict();
    else if (roll < 85) this.matchPrefix();
    else this.advanceClock();
    this.expectSameDrops();
    this.model.checkIndex(this.index);
  }

  /** Time passes; both indexes drop what expired (listPages in checkIndex would do it for one). */
  private advanceClock(): void {
    this.clock.advance(this.rng.nextInt(100));
    this.model.begin('read');
    this.index.expireDue();
    this.naive.found([], false);
  }

  private put(chain: string[], whole = false): void {
    const from = whole || this.rng.nextInt(2) === 0 ? 0 : this.rng.nextInt(chain.length);
    const to = whole ? chain.length : from + 1 + this.rng.nextInt(chain.length - from);
    const puts = putsOf(chain, from, to, this.rng);
    const before = new Set(this.model.pages.keys());
    this.model.begin(
      'put',
      puts.map((p) => p.key),
    );
    const results = this.index.put(puts);
    const naiveResults = this.naive.put(puts);
    expect(results.map((r) => r.status)).toEqual(naiveResults.map((r) => r.status));
    results.forEach((result, i) => {
      // The index may hint earlier than the true earliest lease end (stale queue entries), never later.
      const naiveHint = naiveResults[i]!.retryAfterMs;
      if (naiveHint !== undefined) expect(result.retryAfterMs).toBeLessThanOrEqual(naiveHint);
      if (naiveHint === 0) expect(result.retryAfterMs).toBe(0);
    });
    this.model.applyPuts(puts, results, before);
  }

  private randomKeys(): Uint8Array[] {
    return Array.from({ length: 1 + this.rng.nextInt(4) }, () => keyOf(randomChain(this.rng).at(-1)!));
  }

  private get(): void {
    const keys = this.randomKeys();
    this.model.begin('read');
    const found = this.index.get(keys).map((lookup) => lookup.found);
    expect(found).toEqual(this.naive.found(keys, true));
  }

  private exists(): void {
    const keys = this.randomKeys();
    this.model.begin('read');
    expect(this.index.exists(keys)).toEqual(this.naive.found(keys, false));
  }

  private remove(): void {
    const keys = this.randomKeys();
    this.model.begin('remove');
    expect(this.index.remove(keys)).toEqual(this.naive.remove(keys));
  }

  /** An operator's eviction of some bytes (or of everything unleased). */
  private evict(): void {
    const bytesWanted =
      this.rng.nextInt(4) === 0 ? Number.POSITIVE_INFINITY : PAGE_SIZE_MIN_BYTES * this.rng.nextInt(6);
    this.model.begin('evict');
    expect(this.index.evictUnleased(bytesWanted)).toEqual(this.naive.evict(bytesWanted));
  }

  private matchPrefix(): void {
    const chain = randomChain(this.rng);
    const keys = chain.slice(this.rng.nextInt(3) === 0 ? this.rng.nextInt(chain.length) : 0).map(keyOf);
    const leaseMs = this.rng.nextInt(3) === 0 ? 1 + this.rng.nextInt(300) : undefined;
    this.model.begin('read');
    const probesBefore = this.index.stats.indexProbes;
    const result = this.index.matchPrefix(keys, leaseMs === undefined ? {} : { leaseMs });
    expect(this.index.stats.indexProbes - probesBefore).toBeLessThanOrEqual(Math.floor(Math.log2(keys.length)) + 1);
    expect(result.matchedCount, 'matchPrefix equals the longest present prefix').toBe(
      this.model.longestPresentPrefix(keys),
    );
    expect(result).toEqual(this.naive.matchPrefix(keys, leaseMs));
    if (result.leaseUntilMs !== undefined) this.model.applyLease(keys, result.matchedCount, result.leaseUntilMs);
  }
}

function runSeed(seed: number): PageIndexStats {
  const run = new Run(createRng(seed));
  let step = 0;
  try {
    for (; step < STEPS_PER_SEED; step++) run.step();
  } catch (err) {
    const replay = `SPINDLE_KV_SEED=${seed} npx vitest run storage/kvcache/page-index.property.test.ts`;
    throw new Error(`page index property failed at seed ${seed}, step ${step} (replay: ${replay}): ${err}`, {
      cause: err,
    });
  }
  return run.index.stats;
}

describe('page index against a brute-force model', () => {
  it(
    ONE_SEED === undefined ? `holds for ${SEEDS} seeds` : `holds for seed ${ONE_SEED}`,
    () => {
      const seeds = ONE_SEED === undefined ? Array.from({ length: SEEDS }, (_, i) => i + 1) : [Number(ONE_SEED)];
      const totals = new Map<string, number>();
      for (const seed of seeds) {
        const stats = runSeed(seed);
        for (const [name, count] of [...Object.entries(stats.putsByStatus), ...Object.entries(stats.dropsByReason)]) {
          totals.set(name, (totals.get(name) ?? 0) + count);
        }
      }
      console.log('page index property totals', Object.fromEntries(totals));
      // The workload must reach every outcome, or the properties above were checked on easy cases only.
      const unreached = [...totals].filter(([name, count]) => count === 0 && name !== 'REJECTED_TOO_LARGE');
      if (ONE_SEED === undefined) expect(unreached).toEqual([]);
    },
    Math.max(60_000, SEEDS * 250),
  ); // a sweep of many seeds takes longer; no seed is slow
});
