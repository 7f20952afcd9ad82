// The conformance suite every KvEngine passes (memory, lmdb, etcd, …): one vitest describe block
// per engine, called from that engine's test file:
//
//   runKvConformance('lmdb', async () => { const engine = …; return { engine, cleanup, reopen } });
//
// It checks the contract of meta/kv/engine.ts: basic reads and writes, own-write visibility,
// ordered binary ranges (limit, reverse, bounds, 0x00/0xFF bytes), atomicity of a thrown
// transaction, serializability under concurrency (counter, bank invariant, write skew, phantoms,
// sequence allocation), snapshot reads, read-only transactions, large values, bounded retries that
// surface TXN_CONFLICT, cancellation, close, and durability across close/reopen when the factory
// can reopen. Each test opens a fresh engine and cleans it up.
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import type { KvEngine, KvPair, KvTxn } from '../engine.js';

export interface KvConformanceHandle {
  engine: KvEngine;
  /** Closes `engine` (idempotently) and removes its storage. */
  cleanup: () => Promise<void>;
  /**
   * Opens a new engine over the same storage. The suite closes the previous engine before calling
   * it and closes the returned engine itself. Omit for engines without persistence (memory).
   */
  reopen?: () => Promise<KvEngine>;
}

const ONE_MIB = 1024 * 1024;

function bytes(...values: number[]): Buffer {
  return Buffer.from(values);
}

function text(value: string): Buffer {
  return Buffer.from(value, 'utf8');
}

function hex(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value).toString('hex');
}

function keysOf(pairs: KvPair[]): string[] {
  return pairs.map((pair) => Buffer.from(pair.key).toString('hex'));
}

function u64(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

function readU64(value: Uint8Array | undefined): number {
  if (value === undefined) return 0;
  return Number(Buffer.from(value).readBigUInt64BE(0));
}

/** Resolves every arrival once `count` callers have arrived. */
function barrier(count: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return () => {
    arrived++;
    if (arrived >= count) release();
    return all;
  };
}

/** Deterministic bytes (no randomness in tests). */
function patternBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

/** A tiny seeded generator for the model test. */
function seeded(seed: number): (maxExclusive: number) => number {
  let state = seed >>> 0 || 1;
  return (maxExclusive) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % maxExclusive;
  };
}

async function put(engine: KvEngine, key: Uint8Array, value: Uint8Array): Promise<void> {
  await engine.transaction(async (txn) => txn.put(key, value));
}

async function get(engine: KvEngine, key: Uint8Array): Promise<Uint8Array | undefined> {
  return engine.transaction((txn) => txn.get(key), { readOnly: true });
}

async function range(
  engine: KvEngine,
  start: Uint8Array,
  end: Uint8Array,
  options?: { limit?: number; reverse?: boolean },
): Promise<KvPair[]> {
  return engine.transaction((txn) => txn.getRange(start, end, options), { readOnly: true });
}

function expectSpindleError(error: unknown, code: ErrorCode): SpindleError {
  expect(error).toBeInstanceOf(SpindleError);
  expect((error as SpindleError).errorCode).toBe(code);
  return error as SpindleError;
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

export function runKvConformance(name: string, open: () => Promise<KvConformanceHandle>): void {
  describe(`KvEngine conformance: ${name}`, () => {
    const handles: KvConformanceHandle[] = [];
    const extraEngines: KvEngine[] = [];

    async function fresh(): Promise<KvConformanceHandle> {
      const handle = await open();
      handles.push(handle);
      return handle;
    }

    afterEach(async () => {
      for (const engine of extraEngines.splice(0)) await engine.close();
      for (const handle of handles.splice(0)) await handle.cleanup();
    });

    describe('basics', () => {
      it('gets undefined for a missing key, then what was put, then undefined after delete', async () => {
        const { engine } = await fresh();
        expect(engine.name).toBeTypeOf('string');
        expect(await get(engine, text('k'))).toBeUndefined();
        await put(engine, text('k'), text('v1'));
        expect(hex(await get(engine, text('k')))).toBe(hex(text('v1')));
        await put(engine, text('k'), text('v2'));
        expect(hex(await get(engine, text('k')))).toBe(hex(text('v2')));
        await engine.transaction(async (txn) => txn.delete(text('k')));
        expect(await get(engine, text('k'))).toBeUndefined();
        // Deleting a missing key is a no-op.
        await engine.transaction(async (txn) => txn.delete(text('never')));
        expect(await get(engine, text('never'))).toBeUndefined();
      });

      it('stores empty values as empty, not as absent', async () => {
        const { engine } = await fresh();
        await put(engine, text('empty'), new Uint8Array(0));
        const value = await get(engine, text('empty'));
        expect(value).toBeDefined();
        expect(value!.byteLength).toBe(0);
        expect(keysOf(await range(engine, text('a'), text('z')))).toEqual([hex(text('empty'))]);
      });

      it('returns the value fn resolves to', async () => {
        const { engine } = await fresh();
        const result = await engine.transaction(async (txn) => {
          txn.put(text('a'), text('1'));
          return { answer: 42 };
        });
        expect(result).toEqual({ answer: 42 });
      });

      it('is not affected by callers mutating buffers they passed in or got back', async () => {
        const { engine } = await fresh();
        const key = text('key');
        const value = text('value');
        await engine.transaction(async (txn) => {
          txn.put(key, value);
          value.fill(0x21);
          key.fill(0x21);
        });
        const got = await get(engine, text('key'));
        expect(Buffer.from(got!).toString()).toBe('value');
        got!.fill(0x22);
        const pairs = await range(engine, text('a'), text('z'));
        expect(Buffer.from(pairs[0]!.value).toString()).toBe('value');
        pairs[0]!.value.fill(0x23);
        (pairs[0]!.key as Uint8Array).fill(0x23);
        expect(Buffer.from((await get(engine, text('key')))!).toString()).toBe('value');
        expect(await get(engine, text('!!!'))).toBeUndefined();
      });

      it('rejects an empty key with INVALID_ARGUMENT and writes nothing', async () => {
        const { engine } = await fresh();
        const error = await caught(
          engine.transaction(async (txn) => {
            txn.put(text('ok'), text('1'));
            txn.put(new Uint8Array(0), text('x'));
          }),
        );
        expectSpindleError(error, ErrorCode.INVALID_ARGUMENT);
        expect(await get(engine, text('ok'))).toBeUndefined();
      });
    });

    describe('own writes', () => {
      it('sees its own puts and deletes before commit, in gets and ranges', async () => {
        const { engine } = await fresh();
        await engine.transaction(async (txn) => {
          txn.put(text('p/1'), text('one'));
          txn.put(text('p/3'), text('three'));
          txn.put(text('p/5'), text('five'));
        });
        await engine.transaction(async (txn) => {
          expect(hex(await txn.get(text('p/1')))).toBe(hex(text('one')));
          txn.put(text('p/2'), text('two'));
          txn.delete(text('p/3'));
          txn.put(text('p/5'), text('FIVE'));
          txn.put(text('p/4'), text('x'));
          txn.put(text('p/4'), text('four'));
          expect(hex(await txn.get(text('p/2')))).toBe(hex(text('two')));
          expect(await txn.get(text('p/3'))).toBeUndefined();
          expect(hex(await txn.get(text('p/4')))).toBe(hex(text('four')));
          const all = await txn.getRange(text('p/'), text('p0'));
          expect(all.map((pair) => Buffer.from(pair.value).toString())).toEqual(['one', 'two', 'four', 'FIVE']);
          const reversed = await txn.getRange(text('p/'), text('p0'), { reverse: true, limit: 3 });
          expect(reversed.map((pair) => Buffer.from(pair.value).toString())).toEqual(['FIVE', 'four', 'two']);
          const limited = await txn.getRange(text('p/2'), text('p0'), { limit: 2 });
          expect(limited.map((pair) => Buffer.from(pair.value).toString())).toEqual(['two', 'four']);
          // Put after delete revives the key.
          txn.delete(text('p/1'));
          expect(await txn.get(text('p/1'))).toBeUndefined();
          txn.put(text('p/1'), text('uno'));
          expect(Buffer.from((await txn.get(text('p/1')))!).toString()).toBe('uno');
        });
        const after = await range(engine, text('p/'), text('p0'));
        expect(after.map((pair) => Buffer.from(pair.value).toString())).toEqual(['uno', 'two', 'four', 'FIVE']);
      });

      it('does not show uncommitted writes to other transactions', async () => {
        const { engine } = await fresh();
        const inside = barrier(2);
        const seen = barrier(2);
        const writer = engine.transaction(async (txn) => {
          txn.put(text('hidden'), text('1'));
          await inside();
          await seen();
        });
        const reader = engine.transaction(
          async (txn) => {
            await inside();
            const value = await txn.get(text('hidden'));
            const pairs = await txn.getRange(text('a'), text('z'));
            await seen();
            return { value, pairs };
          },
          { readOnly: true },
        );
        const [, observed] = await Promise.all([writer, reader]);
        expect(observed.value).toBeUndefined();
        expect(observed.pairs).toEqual([]);
        expect(hex(await get(engine, text('hidden')))).toBe(hex(text('1')));
      });
    });

    describe('ranges', () => {
      async function seed(engine: KvEngine, keys: string[]): Promise<void> {
        await engine.transaction(async (txn) => {
          for (const key of keys) txn.put(text(key), text(`v:${key}`));
        });
      }

      it('returns keys in bytewise order with start inclusive and end exclusive', async () => {
        const { engine } = await fresh();
        await seed(engine, ['b', 'a', 'a.txt', 'aa', 'c', 'a\u0000', 'B', '0', 'd']);
        const pairs = await range(engine, text('a'), text('c'));
        expect(pairs.map((pair) => Buffer.from(pair.key).toString())).toEqual(['a', 'a\u0000', 'a.txt', 'aa', 'b']);
        expect(pairs.map((pair) => Buffer.from(pair.value).toString())).toEqual([
          'v:a',
          'v:a\u0000',
          'v:a.txt',
          'v:aa',
          'v:b',
        ]);
        const all = await range(engine, text('0'), text('e'));
        expect(all.map((pair) => Buffer.from(pair.key).toString())).toEqual([
          '0',
          'B',
          'a',
          'a\u0000',
          'a.txt',
          'aa',
          'b',
          'c',
          'd',
        ]);
      });

      it('applies limit and reverse', async () => {
        const { engine } = await fresh();
        await seed(engine, ['k1', 'k2', 'k3', 'k4', 'k5']);
        const names = (pairs: KvPair[]) => pairs.map((pair) => Buffer.from(pair.key).toString());
        expect(names(await range(engine, text('k'), text('l'), { limit: 2 }))).toEqual(['k1', 'k2']);
        expect(names(await range(engine, text('k'), text('l'), { reverse: true }))).toEqual([
          'k5',
          'k4',
          'k3',
          'k2',
          'k1',
        ]);
        expect(names(await range(engine, text('k'), text('l'), { reverse: true, limit: 2 }))).toEqual(['k5', 'k4']);
        // Reverse starts just below `end` and includes `start`.
        expect(names(await range(engine, text('k2'), text('k4'), { reverse: true }))).toEqual(['k3', 'k2']);
        expect(names(await range(engine, text('k2'), text('k4')))).toEqual(['k2', 'k3']);
        expect(names(await range(engine, text('k'), text('l'), { limit: 0 }))).toEqual([]);
        expect(names(await range(engine, text('k'), text('l'), { limit: 100 }))).toEqual([
          'k1',
          'k2',
          'k3',
          'k4',
          'k5',
        ]);
        // Empty and inverted intervals.
        expect(names(await range(engine, text('k3'), text('k3')))).toEqual([]);
        expect(names(await range(engine, text('k4'), text('k2')))).toEqual([]);
        expect(names(await range(engine, text('k4'), text('k2'), { reverse: true }))).toEqual([]);
        // Bounds that are not keys.
        expect(names(await range(engine, text('k2a'), text('k4a')))).toEqual(['k3', 'k4']);
        expect(names(await range(engine, text('k2a'), text('k4a'), { reverse: true }))).toEqual(['k4', 'k3']);
      });

      it('handles binary keys with 0x00 and 0xFF bytes in order, forward and reverse', async () => {
        const { engine } = await fresh();
        const keys = [
          bytes(0x00),
          bytes(0x00, 0x00),
          bytes(0x00, 0xff),
          bytes(0x01),
          bytes(0x7f),
          bytes(0x80),
          bytes(0xc3),
          bytes(0xc3, 0x28),
          bytes(0xff),
          bytes(0xff, 0x00),
          bytes(0xff, 0xff),
          bytes(0xff, 0xff, 0xff),
        ];
        await engine.transaction(async (txn) => {
          // Insert in a scrambled order.
          for (const index of [5, 11, 0, 7, 2, 9, 1, 10, 3, 8, 6, 4]) txn.put(keys[index]!, bytes(index, 0x00, 0xff));
        });
        const sorted = [...keys].sort(Buffer.compare).map((key) => key.toString('hex'));
        expect(keys.map((key) => key.toString('hex'))).toEqual(sorted);
        const everything = await range(engine, bytes(0x00), bytes(0xff, 0xff, 0xff, 0xff));
        expect(keysOf(everything)).toEqual(sorted);
        expect(everything.map((pair) => hex(pair.value))).toEqual(
          keys.map((_key, index) => hex(bytes(index, 0x00, 0xff))),
        );
        expect(keysOf(await range(engine, bytes(0x00), bytes(0xff, 0xff, 0xff, 0xff), { reverse: true }))).toEqual(
          [...sorted].reverse(),
        );
        // An empty start bound means "from the first key".
        expect(keysOf(await range(engine, new Uint8Array(0), bytes(0x01)))).toEqual(['00', '0000', '00ff']);
        expect(keysOf(await range(engine, new Uint8Array(0), bytes(0x01), { reverse: true }))).toEqual([
          '00ff',
          '0000',
          '00',
        ]);
        expect(keysOf(await range(engine, bytes(0x00, 0x00), bytes(0xff)))).toEqual(sorted.slice(1, 8));
        expect(keysOf(await range(engine, bytes(0xff), bytes(0xff, 0xff), { reverse: true }))).toEqual(['ff00', 'ff']);
        expect(hex(await get(engine, bytes(0x00)))).toBe(hex(bytes(0, 0x00, 0xff)));
        expect(hex(await get(engine, bytes(0xff, 0xff, 0xff)))).toBe(hex(bytes(11, 0x00, 0xff)));
        expect(await get(engine, bytes(0xff, 0xff, 0xff, 0xff))).toBeUndefined();
      });

      it('matches a model under a seeded mix of puts, deletes and ranges', async () => {
        const { engine } = await fresh();
        const random = seeded(20240601);
        const model = new Map<string, string>(); // hex key -> hex value
        const keyAt = (index: number) => bytes(0x6b, index >> 4, (index & 0x0f) === 0 ? 0xff : index & 0x0f);
        for (let round = 0; round < 40; round++) {
          await engine.transaction(async (txn) => {
            const local = new Map(model);
            for (let op = 0; op < 6; op++) {
              const key = keyAt(random(64));
              const choice = random(4);
              if (choice === 0) {
                txn.delete(key);
                local.delete(key.toString('hex'));
              } else if (choice === 1) {
                expect(hex(await txn.get(key))).toBe(local.get(key.toString('hex')));
              } else {
                const value = patternBytes(1 + random(40), round * 100 + op);
                txn.put(key, value);
                local.set(key.toString('hex'), value.toString('hex'));
              }
              const start = keyAt(random(64));
              const end = keyAt(random(64));
              const limit = random(3) === 0 ? random(5) : undefined;
              const reverse = random(2) === 0;
              const got = await txn.getRange(start, end, { limit, reverse });
              let expected = [...local.keys()]
                .filter(
                  (k) =>
                    Buffer.compare(Buffer.from(k, 'hex'), start) >= 0 && Buffer.compare(Buffer.from(k, 'hex'), end) < 0,
                )
                .sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
              if (reverse) expected.reverse();
              if (limit !== undefined) expected = expected.slice(0, limit);
              expect(keysOf(got)).toEqual(expected);
              expect(got.map((pair) => hex(pair.value))).toEqual(expected.map((k) => local.get(k)));
            }
            model.clear();
            for (const [k, v] of local) model.set(k, v);
          });
        }
        const final = await range(engine, bytes(0x6b), bytes(0x6c));
        expect(keysOf(final).sort()).toEqual([...model.keys()].sort());
      });
    });

    describe('atomicity', () => {
      it('writes nothing when fn throws, and rethrows the same error', async () => {
        const { engine } = await fresh();
        await put(engine, text('a'), text('old'));
        const boom = new Error('boom');
        const error = await caught(
          engine.transaction(async (txn) => {
            txn.put(text('a'), text('new'));
            txn.put(text('b'), text('new'));
            await txn.get(text('a'));
            txn.delete(text('a'));
            throw boom;
          }),
        );
        expect(error).toBe(boom);
        expect(hex(await get(engine, text('a')))).toBe(hex(text('old')));
        expect(await get(engine, text('b'))).toBeUndefined();
      });

      it('propagates a SpindleError from fn unchanged and does not retry it', async () => {
        const { engine } = await fresh();
        let calls = 0;
        const thrown = new SpindleError(ErrorCode.EXISTS, 'already there');
        const error = await caught(
          engine.transaction(async (txn) => {
            calls++;
            txn.put(text('x'), text('1'));
            throw thrown;
          }),
        );
        expect(error).toBe(thrown);
        expect(calls).toBe(1);
        expect(await get(engine, text('x'))).toBeUndefined();
      });

      it('commits all writes of a transaction or none, as seen by concurrent readers', async () => {
        const { engine } = await fresh();
        const keys = Array.from({ length: 20 }, (_unused, index) => text(`atom/${String(index).padStart(2, '0')}`));
        const writers = Array.from({ length: 10 }, (_unused, round) =>
          engine.transaction(async (txn) => {
            for (const key of keys) txn.put(key, u64(round));
          }),
        );
        const readers = Array.from({ length: 10 }, () =>
          engine.transaction(
            async (txn) => {
              const pairs = await txn.getRange(text('atom/'), text('atom0'));
              const values = new Set(pairs.map((pair) => readU64(pair.value)));
              return { count: pairs.length, distinct: values.size };
            },
            { readOnly: true },
          ),
        );
        await Promise.all(writers);
        for (const observed of await Promise.all(readers)) {
          expect([0, 20]).toContain(observed.count);
          expect(observed.distinct).toBeLessThanOrEqual(1);
        }
      });
    });

    describe('serializability', () => {
      it('ends at 50 after 50 concurrent increments of one counter', async () => {
        const { engine } = await fresh();
        const key = text('counter');
        await Promise.all(
          Array.from({ length: 50 }, () =>
            engine.transaction(async (txn) => {
              const value = readU64(await txn.get(key));
              txn.put(key, u64(value + 1));
            }),
          ),
        );
        expect(readU64(await get(engine, key))).toBe(50);
      });

      it('keeps the bank invariant under concurrent transfers and audits', async () => {
        const { engine } = await fresh();
        const accountA = text('acct/a');
        const accountB = text('acct/b');
        await engine.transaction(async (txn) => {
          txn.put(accountA, u64(50));
          txn.put(accountB, u64(50));
        });
        const inconsistent: string[] = [];
        const transfers = Array.from({ length: 30 }, (_unused, index) =>
          engine.transaction(async (txn) => {
            const a = readU64(await txn.get(accountA));
            const b = readU64(await txn.get(accountB));
            if (a + b !== 100) inconsistent.push(`transfer ${index} saw ${a}+${b}`);
            const amount = (index % 7) + 1;
            const [from, to, fromKey, toKey] =
              index % 2 === 0 ? [a, b, accountA, accountB] : [b, a, accountB, accountA];
            if (from < amount) return false;
            txn.put(fromKey, u64(from - amount));
            txn.put(toKey, u64(to + amount));
            return true;
          }),
        );
        const audits = Array.from({ length: 10 }, () =>
          engine.transaction(
            async (txn) => {
              const pairs = await txn.getRange(text('acct/'), text('acct0'));
              return pairs.reduce((sum, pair) => sum + readU64(pair.value), 0);
            },
            { readOnly: true },
          ),
        );
        await Promise.all(transfers);
        for (const sum of await Promise.all(audits)) expect(sum).toBe(100);
        expect(inconsistent).toEqual([]);
        const a = readU64(await get(engine, accountA));
        const b = readU64(await get(engine, accountB));
        expect(a + b).toBe(100);
      });

      it('prevents write skew: two overlapping transactions cannot both break the invariant', async () => {
        const { engine } = await fresh();
        const doctorA = text('oncall/a');
        const doctorB = text('oncall/b');
        await engine.transaction(async (txn) => {
          txn.put(doctorA, u64(1));
          txn.put(doctorB, u64(1));
        });
        const bothRead = barrier(2);
        const goOffCall = (self: Uint8Array) => {
          let firstAttempt = true;
          return engine.transaction(async (txn) => {
            const onCall = readU64(await txn.get(doctorA)) + readU64(await txn.get(doctorB));
            if (firstAttempt) {
              firstAttempt = false;
              await bothRead(); // both have read before either commits
            }
            if (onCall >= 2) {
              txn.put(self, u64(0));
              return true;
            }
            return false;
          });
        };
        const results = await Promise.all([goOffCall(doctorA), goOffCall(doctorB)]);
        expect(results.filter(Boolean).length).toBe(1);
        const onCall = readU64(await get(engine, doctorA)) + readU64(await get(engine, doctorB));
        expect(onCall).toBe(1);
      });

      it('protects range reads from phantoms: count-then-insert never overshoots', async () => {
        const { engine } = await fresh();
        const slotsMax = 5;
        const contenders = 20;
        const allCounted = barrier(contenders);
        const results = await Promise.all(
          Array.from({ length: contenders }, (_unused, index) => {
            let firstAttempt = true;
            return engine.transaction(async (txn) => {
              const taken = await txn.getRange(text('slot/'), text('slot0'));
              if (firstAttempt) {
                firstAttempt = false;
                await allCounted();
              }
              if (taken.length >= slotsMax) return false;
              txn.put(text(`slot/${String(index).padStart(2, '0')}`), u64(index));
              return true;
            });
          }),
        );
        expect(results.filter(Boolean).length).toBe(slotsMax);
        expect((await range(engine, text('slot/'), text('slot0'))).length).toBe(slotsMax);
      });

      it('protects a limited reverse scan: concurrent "next id" allocations are unique and dense', async () => {
        const { engine } = await fresh();
        const allocators = 20;
        const allRead = barrier(allocators);
        const ids = await Promise.all(
          Array.from({ length: allocators }, () => {
            let firstAttempt = true;
            return engine.transaction(async (txn) => {
              const last = await txn.getRange(text('seq/'), text('seq0'), { reverse: true, limit: 1 });
              if (firstAttempt) {
                firstAttempt = false;
                await allRead();
              }
              const next = last.length === 0 ? 0 : readU64(last[0]!.key.subarray(4)) + 1;
              txn.put(Buffer.concat([text('seq/'), u64(next)]), text('taken'));
              return next;
            });
          }),
        );
        expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: allocators }, (_unused, index) => index));
        expect((await range(engine, text('seq/'), text('seq0'))).length).toBe(allocators);
      });

      it('re-runs a transaction whose limited scan returned a key a concurrent writer then changed', async () => {
        const { engine } = await fresh();
        await engine.transaction(async (txn) => {
          txn.put(text('q/1'), text('first'));
          txn.put(text('q/2'), text('middle'));
          txn.put(text('q/3'), text('last'));
        });
        for (const reverse of [false, true]) {
          const seen: string[] = [];
          let firstAttempt = true;
          await engine.transaction(async (txn) => {
            const [edge] = await txn.getRange(text('q/'), text('q0'), { limit: 1, reverse });
            seen.push(Buffer.from(edge!.value).toString());
            if (firstAttempt) {
              firstAttempt = false;
              await engine.transaction(async (writer) => writer.put(edge!.key, text(`changed-${reverse}`)));
            }
            txn.put(text(`q-copy-${reverse}`), edge!.value);
          });
          expect(seen).toEqual([reverse ? 'last' : 'first', `changed-${reverse}`]);
          expect(Buffer.from((await get(engine, text(`q-copy-${reverse}`)))!).toString()).toBe(`changed-${reverse}`);
        }
      });

      it('keeps concurrent independent transactions independent (no lost writes)', async () => {
        const { engine } = await fresh();
        const count = 200;
        await Promise.all(
          Array.from({ length: count }, (_unused, index) =>
            engine.transaction(async (txn) => {
              const name = text(`dent/${String(index).padStart(4, '0')}`);
              const inode = text(`inod/${String(index).padStart(4, '0')}`);
              expect(await txn.get(name)).toBeUndefined();
              expect(await txn.get(inode)).toBeUndefined();
              await txn.get(text('root'));
              txn.put(name, u64(index));
              txn.put(inode, u64(index * 2));
              txn.put(text(`gcqu/${String(index).padStart(4, '0')}`), u64(1));
            }),
          ),
        );
        const dentries = await range(engine, text('dent/'), text('dent0'));
        expect(dentries.length).toBe(count);
        expect(dentries.map((pair) => readU64(pair.value))).toEqual(
          Array.from({ length: count }, (_unused, index) => index),
        );
        expect((await range(engine, text('inod/'), text('inod0'))).length).toBe(count);
      });

      it('runs seeded concurrent workers whose reads always match their own models', async () => {
        const { engine } = await fresh();
        const workers = 6;
        await Promise.all(
          Array.from({ length: workers }, async (_unused, worker) => {
            const random = seeded(1000 + worker);
            const model = new Map<number, string>();
            const key = (index: number) => bytes(0x77, worker, index);
            for (let round = 0; round < 25; round++) {
              await engine.transaction(async (txn) => {
                const local = new Map(model);
                for (let op = 0; op < 4; op++) {
                  const index = random(16);
                  if (random(3) === 0) {
                    txn.delete(key(index));
                    local.delete(index);
                  } else {
                    const value = `${worker}:${round}:${op}`;
                    txn.put(key(index), text(value));
                    local.set(index, value);
                  }
                }
                const pairs = await txn.getRange(bytes(0x77, worker), bytes(0x77, worker + 1));
                const expected = [...local.keys()].sort((a, b) => a - b);
                expect(pairs.map((pair) => pair.key[2])).toEqual(expected);
                expect(pairs.map((pair) => Buffer.from(pair.value).toString())).toEqual(
                  expected.map((index) => local.get(index)),
                );
                model.clear();
                for (const [k, v] of local) model.set(k, v);
              });
            }
          }),
        );
      });
    });

    describe('snapshots and read-only transactions', () => {
      it('gives a read-only transaction a consistent snapshot while a writer commits, without conflict', async () => {
        const { engine } = await fresh();
        await engine.transaction(async (txn) => {
          txn.put(text('acct/a'), u64(60));
          txn.put(text('acct/b'), u64(40));
        });
        let calls = 0;
        const observed = await engine.transaction(
          async (txn) => {
            calls++;
            const a = readU64(await txn.get(text('acct/a')));
            await engine.transaction(async (writer) => {
              writer.put(text('acct/a'), u64(10));
              writer.put(text('acct/b'), u64(90));
              writer.put(text('acct/c'), u64(0));
            });
            const b = readU64(await txn.get(text('acct/b')));
            const all = await txn.getRange(text('acct/'), text('acct0'));
            return { a, b, keys: all.length };
          },
          { readOnly: true },
        );
        expect(calls).toBe(1);
        expect(observed).toEqual({ a: 60, b: 40, keys: 2 });
        expect(readU64(await get(engine, text('acct/a')))).toBe(10);
      });

      it('gives a read-write transaction a consistent snapshot, then re-runs it after the conflict', async () => {
        const { engine } = await fresh();
        await engine.transaction(async (txn) => {
          txn.put(text('acct/a'), u64(60));
          txn.put(text('acct/b'), u64(40));
        });
        const sums: number[] = [];
        let firstAttempt = true;
        await engine.transaction(async (txn) => {
          const a = readU64(await txn.get(text('acct/a')));
          if (firstAttempt) {
            firstAttempt = false;
            await engine.transaction(async (writer) => {
              writer.put(text('acct/a'), u64(30));
              writer.put(text('acct/b'), u64(70));
            });
          }
          const b = readU64(await txn.get(text('acct/b')));
          sums.push(a + b);
          txn.put(text('acct/a'), u64(a - 5));
          txn.put(text('acct/b'), u64(b + 5));
        });
        expect(sums).toEqual([100, 100]);
        expect(readU64(await get(engine, text('acct/a')))).toBe(25);
        expect(readU64(await get(engine, text('acct/b')))).toBe(75);
      });

      it('rejects writes inside a read-only transaction', async () => {
        const { engine } = await fresh();
        const error = await caught(
          engine.transaction(
            async (txn) => {
              txn.put(text('ro'), text('1'));
            },
            { readOnly: true },
          ),
        );
        expect(error).toBeInstanceOf(Error);
        expect(await get(engine, text('ro'))).toBeUndefined();
      });

      it('serves many concurrent read-only transactions', async () => {
        const { engine } = await fresh();
        await engine.transaction(async (txn) => {
          for (let i = 0; i < 50; i++) txn.put(text(`r/${String(i).padStart(2, '0')}`), u64(i));
        });
        const results = await Promise.all(
          Array.from({ length: 200 }, (_unused, index) =>
            engine.transaction(
              async (txn) => readU64(await txn.get(text(`r/${String(index % 50).padStart(2, '0')}`))),
              {
                readOnly: true,
              },
            ),
          ),
        );
        expect(results).toEqual(Array.from({ length: 200 }, (_unused, index) => index % 50));
      });
    });

    describe('values', () => {
      it('stores and returns 1 MiB values intact, in gets and ranges', async () => {
        const { engine } = await fresh();
        const big = patternBytes(ONE_MIB, 7);
        const big2 = patternBytes(ONE_MIB, 8);
        await engine.transaction(async (txn) => {
          txn.put(text('big/1'), big);
          txn.put(text('big/2'), big2);
        });
        const got = await get(engine, text('big/1'));
        expect(got!.byteLength).toBe(ONE_MIB);
        expect(Buffer.compare(Buffer.from(got!), big)).toBe(0);
        const pairs = await range(engine, text('big/'), text('big0'));
        expect(pairs.length).toBe(2);
        expect(Buffer.compare(Buffer.from(pairs[1]!.value), big2)).toBe(0);
        await engine.transaction(async (txn) => txn.delete(text('big/1')));
        expect(await get(engine, text('big/1'))).toBeUndefined();
      });

      it('round-trips every byte value', async () => {
        const { engine } = await fresh();
        const all = Buffer.from(Array.from({ length: 256 }, (_unused, index) => index));
        await put(engine, bytes(0x00, 0xff, 0x00), all);
        expect(hex(await get(engine, bytes(0x00, 0xff, 0x00)))).toBe(all.toString('hex'));
      });
    });

    describe('conflicts and cancellation', () => {
      it('gives up with a retryable TXN_CONFLICT when every attempt conflicts', async () => {
        const { engine } = await fresh();
        const key = text('hot');
        await put(engine, key, u64(0));
        let attempts = 0;
        const error = await caught(
          engine.transaction(async (txn: KvTxn) => {
            attempts++;
            const value = readU64(await txn.get(key));
            // A concurrent writer commits to the key this transaction read, every time.
            await engine.transaction(async (writer) => writer.put(key, u64(value + 1000)));
            txn.put(text('loser'), u64(attempts));
          }),
        );
        const conflict = expectSpindleError(error, ErrorCode.TXN_CONFLICT);
        expect(conflict.retryable).toBe(true);
        expect(attempts).toBeGreaterThan(1);
        expect(attempts).toBeLessThanOrEqual(1001);
        expect(await get(engine, text('loser'))).toBeUndefined();
        // The engine is healthy afterwards.
        await put(engine, text('after'), text('ok'));
        expect(hex(await get(engine, text('after')))).toBe(hex(text('ok')));
      });

      it('rejects with CANCELLED and does not run fn when the signal is already aborted', async () => {
        const { engine } = await fresh();
        const controller = new AbortController();
        controller.abort();
        let calls = 0;
        const error = await caught(
          engine.transaction(
            async (txn) => {
              calls++;
              txn.put(text('never'), text('1'));
            },
            { signal: controller.signal },
          ),
        );
        expectSpindleError(error, ErrorCode.CANCELLED);
        expect(calls).toBe(0);
        expect(await get(engine, text('never'))).toBeUndefined();
      });

      it('writes nothing when the signal aborts while fn runs', async () => {
        const { engine } = await fresh();
        const controller = new AbortController();
        const error = await caught(
          engine.transaction(
            async (txn) => {
              txn.put(text('aborted'), text('1'));
              await txn.get(text('x'));
              controller.abort();
            },
            { signal: controller.signal },
          ),
        );
        expectSpindleError(error, ErrorCode.CANCELLED);
        expect(await get(engine, text('aborted'))).toBeUndefined();
      });
    });

    describe('lifecycle', () => {
      it('closes idempotently and refuses transactions afterwards', async () => {
        const { engine } = await fresh();
        await put(engine, text('k'), text('v'));
        await Promise.all([engine.close(), engine.close()]);
        await engine.close();
        const error = await caught(engine.transaction(async (txn) => txn.get(text('k'))));
        expect(error).toBeInstanceOf(SpindleError);
      });

      it('keeps committed data across close and reopen', async (context) => {
        const handle = await fresh();
        if (handle.reopen === undefined) {
          context.skip();
          return;
        }
        const big = patternBytes(ONE_MIB, 99);
        const { engine } = handle;
        await Promise.all(
          Array.from({ length: 100 }, (_unused, index) =>
            put(engine, text(`dur/${String(index).padStart(3, '0')}`), u64(index)),
          ),
        );
        await put(engine, text('dur-big'), big);
        await engine.transaction(async (txn) => txn.delete(text('dur/050')));
        await engine.close();
        const reopened = await handle.reopen();
        extraEngines.push(reopened);
        const pairs = await range(reopened, text('dur/'), text('dur0'));
        expect(pairs.length).toBe(99);
        expect(pairs.map((pair) => readU64(pair.value))).toEqual(
          Array.from({ length: 100 }, (_unused, index) => index).filter((index) => index !== 50),
        );
        expect(Buffer.compare(Buffer.from((await get(reopened, text('dur-big')))!), big)).toBe(0);
        // And it keeps working.
        await put(reopened, text('dur/050'), u64(5050));
        expect(readU64(await get(reopened, text('dur/050')))).toBe(5050);
      });
    });
  });
}
