// Unit tests of the page index: bad input, each put status, prefix-closed LRU eviction, leases,
// TTL expiry, subtree removal and the probe count of matchPrefix.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { PAGE_SIZE_MAX_BYTES, PAGE_SIZE_MIN_BYTES } from './constants.js';
import { PageIndex } from './page-index.js';
import type { DroppedPage } from './page-index-types.js';
import { DropReason, PutStatus, RemoveStatus } from './statuses.js';
import { chainKeys, chainPuts } from './testing/chains.js';

const PAGE = PAGE_SIZE_MIN_BYTES;

function setup(capacityPages: number) {
  const clock = new ManualClock(10_000);
  const dropped: DroppedPage<number>[] = [];
  const index = new PageIndex<number>({
    clock,
    capacityBytes: capacityPages * PAGE,
    onPageDropped: (page) => dropped.push(page),
  });
  return { clock, dropped, index };
}

function statuses(results: readonly { status: string }[]): string[] {
  return results.map((r) => r.status);
}

function expectInvalid(action: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    action();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SpindleError);
  expect((caught as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
  expect((caught as SpindleError).message).toMatch(message);
}

describe('bad input gets an error naming the field and changes nothing', () => {
  const keys = chainKeys('bad', 3);
  const cases: Array<[string, () => unknown, RegExp]> = [];
  const { index } = setup(16);
  index.put(chainPuts(keys, { to: 1 }));
  const indexState = () => ({ pages: index.pageCount, bytes: index.bytesUsed, puts: { ...index.stats.putsByStatus } });
  const snapshot = indexState();
  cases.push(
    [
      'empty key',
      () =>
        index.put([...chainPuts(keys, { from: 1, to: 2 }), { key: new Uint8Array(0), sizeBytes: PAGE, location: 0 }]),
      /pages\[1\]\.key is empty/,
    ],
    [
      'short key',
      () => index.get([keys[0]!, keys[1]!.subarray(0, 31)]),
      /keys\[1\] has 31 bytes: a page key has 32 bytes/,
    ],
    [
      '129 keys',
      () => index.exists(Array.from({ length: 129 }, () => keys[0]!)),
      /keys has 129 entries: a batch has at most 128/,
    ],
    [
      '129 puts',
      () => index.put(Array.from({ length: 129 }, () => chainPuts(keys, { to: 1 })[0]!)),
      /pages has 129 entries/,
    ],
    [
      'page below 16 KiB',
      () => index.put(chainPuts(keys, { from: 1, to: 2, sizeBytes: PAGE - 1 })),
      /pages\[0\]\.sizeBytes must be an integer in 16384\.\.33554432/,
    ],
    [
      'page above 32 MiB',
      () => index.put(chainPuts(keys, { from: 1, to: 2, sizeBytes: PAGE_SIZE_MAX_BYTES + 1 })),
      /pages\[0\]\.sizeBytes/,
    ],
    [
      'own parent',
      () => index.put([{ key: keys[1]!, parentKey: keys[1]!, sizeBytes: PAGE, location: 0 }]),
      /pages\[0\]\.parentKey equals its key/,
    ],
    [
      'bad parent',
      () => index.put([{ key: keys[1]!, parentKey: new Uint8Array(5), sizeBytes: PAGE, location: 0 }]),
      /pages\[0\]\.parentKey has 5 bytes/,
    ],
    [
      'zero TTL',
      () => index.put(chainPuts(keys, { from: 1, to: 2, ttlMs: 0 })),
      /pages\[0\]\.ttlMs must be an integer in 1\.\./,
    ],
    ['negative lease', () => index.matchPrefix(keys, { leaseMs: -1 }), /leaseMs must be an integer in 0\.\./],
    ['remove empty key', () => index.remove([new Uint8Array(0)]), /keys\[0\] is empty/],
    [
      'a chain of 16,385 keys',
      () => index.matchPrefix(Array.from({ length: 16_385 }, () => keys[0]!)),
      /keys has 16385 entries: a batch has at most 16384/,
    ],
  );
  it.each(cases)('%s', (_name, action, message) => {
    expectInvalid(action, message);
    expect(indexState()).toEqual(snapshot);
  });

  it('a matchPrefix over keys that are not one chain is refused', () => {
    const other = chainKeys('other', 2);
    index.put(chainPuts(other));
    expectInvalid(() => index.matchPrefix([keys[0]!, other[1]!]), /keys\[0\] is not the parent of keys\[1\]/);
  });
});

describe('put statuses', () => {
  it('stores, recognises identical re-puts, and refuses what would break the tree or the capacity', () => {
    const { index } = setup(3);
    const keys = chainKeys('p', 4);
    expect(statuses(index.put(chainPuts(keys, { from: 1, to: 2 })))).toEqual([PutStatus.PARENT_MISSING]);
    expect(statuses(index.put(chainPuts(keys, { to: 2 })))).toEqual([PutStatus.STORED, PutStatus.STORED]);
    expect(statuses(index.put(chainPuts(keys, { to: 2 })))).toEqual([
      PutStatus.ALREADY_PRESENT,
      PutStatus.ALREADY_PRESENT,
    ]);
    expect(statuses(index.put(chainPuts(keys, { to: 1, sizeBytes: 2 * PAGE })))).toEqual([PutStatus.REJECTED_MISMATCH]);
    expect(statuses(index.put(chainPuts(chainKeys('big', 1), { sizeBytes: 4 * PAGE })))).toEqual([
      PutStatus.REJECTED_TOO_LARGE,
    ]);
    expect(index.stats.putsByStatus).toMatchObject({ STORED: 2, ALREADY_PRESENT: 2, PARENT_MISSING: 1 });
    expect(index.matchPrefix(keys).matchedCount).toBe(2);
  });
});

describe('prefix-closed LRU eviction', () => {
  it('evicts the least recently used leaf; a page goes only after its children', () => {
    const { index, dropped } = setup(4);
    const a = chainKeys('a', 3);
    const b = chainKeys('b', 1);
    index.put(chainPuts(a));
    index.put(chainPuts(b));
    index.get(b); // b is now more recent than every page of a
    for (const name of ['c', 'd', 'e']) {
      expect(statuses(index.put(chainPuts(chainKeys(name, 1))))).toEqual([PutStatus.STORED]);
    }
    expect(dropped.map((d) => d.location)).toEqual([2, 1, 0]); // a's pages, deepest first
    expect(dropped.every((d) => d.reason === DropReason.CAPACITY)).toBe(true);
    expect(index.exists([b[0]!])).toEqual([true]);
    expect(index.stats.dropsByReason.CAPACITY).toBe(3);
  });

  it('exists does not count as a use, get does', () => {
    const { index, dropped } = setup(2);
    const [x, y] = [chainKeys('x', 1), chainKeys('y', 1)];
    index.put(chainPuts(x));
    index.put(chainPuts(y));
    index.exists(x);
    index.put(chainPuts(chainKeys('z', 1)));
    expect(dropped.map((d) => d.key)).toEqual([x[0]]);
    index.get(y);
    index.put(chainPuts(chainKeys('w', 1)));
    expect(index.exists(y)).toEqual([true]);
  });

  it('never evicts the parent of the page being put', () => {
    const { index } = setup(2);
    const keys = chainKeys('p', 2);
    index.put(chainPuts(keys, { to: 1 }));
    index.put(chainPuts(chainKeys('q', 1)));
    index.get(chainKeys('q', 1)); // the parent is the LRU leaf when its child arrives
    expect(statuses(index.put(chainPuts(keys, { from: 1 })))).toEqual([PutStatus.STORED]);
    expect(index.matchPrefix(keys).matchedCount).toBe(2);
  });
});

describe('leases', () => {
  it('keep matched pages through an eviction storm; then they may go', () => {
    const { clock, index, dropped } = setup(4);
    const keys = chainKeys('prompt', 4);
    index.put(chainPuts(keys));
    const { matchedCount, leaseUntilMs } = index.matchPrefix(keys, { leaseMs: 1000 });
    expect([matchedCount, leaseUntilMs]).toEqual([4, clock.nowMs() + 1000]);
    for (let i = 0; i < 50; i++) {
      clock.advance(10);
      const [result] = index.put(chainPuts(chainKeys(`storm-${i}`, 1)));
      expect(result).toEqual({ status: PutStatus.REJECTED_FULL, retryAfterMs: leaseUntilMs! - clock.nowMs() });
    }
    expect(dropped).toEqual([]);
    expect(index.matchPrefix(keys).matchedCount).toBe(4);
    clock.advance(leaseUntilMs! - clock.nowMs());
    expect(statuses(index.put(chainPuts(chainKeys('after', 1))))).toEqual([PutStatus.STORED]);
    expect(dropped.map((d) => d.location)).toEqual([3]);
  });

  it('hold the ancestors of a chain matched from its middle', () => {
    const { index } = setup(8);
    const keys = chainKeys('mid', 4);
    index.put(chainPuts(keys));
    expect(index.matchPrefix(keys.slice(2), { leaseMs: 500 }).matchedCount).toBe(2);
    expect(index.remove([keys[0]!])).toEqual([{ status: RemoveStatus.REJECTED_LEASED, retryAfterMs: 500 }]);
  });
});

describe('remove', () => {
  it('takes the page with its whole subtree, leaving other branches', () => {
    const { index, dropped } = setup(16);
    const trunk = chainKeys('trunk', 2);
    const left = chainKeys('left', 2, trunk);
    const right = chainKeys('right', 1, trunk);
    index.put(chainPuts(left));
    index.put(chainPuts(right, { from: 2 }));
    expect(index.remove([left[2]!, chainKeys('absent', 1)[0]!])).toEqual([
      { status: RemoveStatus.REMOVED, removedPages: 2 },
      { status: RemoveStatus.NOT_FOUND },
    ]);
    expect(dropped.map((d) => [d.location, d.reason])).toEqual([
      [3, DropReason.REMOVED],
      [2, DropReason.REMOVED],
    ]);
    expect(index.matchPrefix(left).matchedCount).toBe(2);
    expect(index.matchPrefix(right).matchedCount).toBe(3);
  });
});

describe('TTL', () => {
  it('an expired page is absent and goes with its subtree, children first', () => {
    const { clock, index, dropped } = setup(16);
    const keys = chainKeys('ttl', 3);
    index.put(chainPuts(keys, { to: 1, ttlMs: 100 }));
    index.put(chainPuts(keys, { from: 1 })); // no TTL of their own: they inherit the root's
    clock.advance(99);
    expect(index.matchPrefix(keys).matchedCount).toBe(3);
    clock.advance(1);
    expect(index.exists(keys)).toEqual([false, false, false]);
    expect(dropped.map((d) => [d.location, d.reason])).toEqual([
      [2, DropReason.EXPIRED],
      [1, DropReason.EXPIRED],
      [0, DropReason.EXPIRED],
    ]);
  });

  it('a lease holds a page past its TTL, but the page takes no new children', () => {
    const { clock, index } = setup(16);
    const keys = chainKeys('held', 2);
    index.put(chainPuts(keys, { to: 1, ttlMs: 100 }));
    index.matchPrefix(keys, { leaseMs: 500 });
    clock.advance(200);
    expect(index.get(keys.slice(0, 1))[0]).toEqual({ found: true, sizeBytes: PAGE, location: 0 });
    expect(statuses(index.put(chainPuts(keys, { from: 1 })))).toEqual([PutStatus.PARENT_EXPIRED]);
    clock.advance(300);
    expect(index.exists(keys.slice(0, 1))).toEqual([false]);
  });
});

describe('matchPrefix cost', () => {
  it('answers a 1,000-key chain with at most ceil(log2(1001)) = 10 index probes', () => {
    const { index } = setup(2000);
    const keys = chainKeys('long', 1000);
    for (let from = 0; from < 700; from += 128) index.put(chainPuts(keys, { from, to: Math.min(700, from + 128) }));
    for (const [chain, expected] of [
      [keys, 700],
      [keys.slice(0, 700), 700],
      [chainKeys('cold', 1000), 0],
    ] as const) {
      const probesBefore = index.stats.indexProbes;
      expect(index.matchPrefix(chain).matchedCount).toBe(expected);
      expect(index.stats.indexProbes - probesBefore).toBeLessThanOrEqual(10);
    }
    expect(index.stats).toMatchObject({ matchCalls: 3, matchHitKeys: 1400, matchMissKeys: 1300 });
  });
});
