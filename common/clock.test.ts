import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  SplitMix64,
  createRng,
  flushMicrotasks,
  seedToU64,
  systemClock,
  systemRng,
  uniformBelow,
} from './clock.js';
import { ErrorCode, SpindleError, isSpindleError } from './errors.js';

describe('SplitMix64', () => {
  it('matches the reference splitmix64.c outputs', () => {
    const rng = createRng(0);
    expect([rng.nextU64(), rng.nextU64(), rng.nextU64(), rng.nextU64()]).toEqual([
      0xe220a8397b1dcdafn,
      0x6e789e6aa1b965f4n,
      0x06c45d188009454fn,
      0xf88bb8a8724c81ecn,
    ]);
    const r42 = createRng(42n);
    expect(r42.nextU64()).toBe(0xbdd732262feb6e95n);
    expect(r42.nextU64()).toBe(0x28efe333b266f103n);
  });

  it('number and bigint seeds agree; bigint seeds wrap mod 2^64', () => {
    expect(createRng(42).nextU64()).toBe(createRng(42n).nextU64());
    expect(seedToU64(-1n)).toBe((1n << 64n) - 1n);
    expect(() => createRng(-1)).toThrow(SpindleError);
    expect(() => createRng(0.5)).toThrow(SpindleError);
    expect(() => createRng(2 ** 53)).toThrow(SpindleError);
  });

  it('derives u32 and float from the high bits', () => {
    const a = createRng(7);
    const b = createRng(7);
    const x = a.nextU64();
    expect(b.nextU32()).toBe(Number(x >> 32n));
    const c = createRng(7);
    expect(c.nextFloat()).toBe(Number(x >> 11n) / 2 ** 53);
  });

  it('fill writes little-endian outputs, tail from the low bytes', () => {
    const bytes = new Uint8Array(11);
    createRng(0).fill(bytes);
    expect(Buffer.from(bytes).toString('hex')).toBe('afcd1d7b39a820e2' + 'f465b9');
  });

  it('nextInt stays in range, covers it, and rejects bad bounds', () => {
    const rng = createRng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = rng.nextInt(10);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(10);
      seen.add(v);
    }
    expect(seen.size).toBe(10);
    expect(rng.nextInt(1)).toBe(0);
    expect(() => rng.nextInt(0)).toThrow(SpindleError);
    expect(() => rng.nextInt(2.5)).toThrow(SpindleError);
    const big = rng.nextInt(Number.MAX_SAFE_INTEGER);
    expect(Number.isSafeInteger(big)).toBe(true);
  });

  it('uniformBelow rejects draws above the largest multiple of n', () => {
    // n = 2^63 + 1: limit = 2^64 - (2^64 mod n) = 2^63 + 1, so any draw >= 2^63 + 1 is rejected.
    const draws = [(1n << 64n) - 1n, 1n << 63n];
    const fake = { nextU64: () => draws.shift()! };
    expect(uniformBelow(fake, (1n << 63n) + 1n)).toBe(1n << 63n);
    expect(draws).toEqual([]);
  });

  it('systemRng gives different streams', () => {
    expect(systemRng().nextU64()).not.toBe(systemRng().nextU64());
    const bytes = new Uint8Array(32);
    systemRng().fill(bytes);
    expect(bytes.some((b) => b !== 0)).toBe(true);
  });

  it('SplitMix64 class is the createRng generator', () => {
    expect(new SplitMix64(5).nextU64()).toBe(createRng(5).nextU64());
  });
});

describe('ManualClock', () => {
  it('resolves sleeps only when advanced past their due time, in due order', async () => {
    const clock = new ManualClock(1_000);
    expect(clock.nowMs()).toBe(1_000);
    expect(clock.nowUs()).toBe(1_000_000);
    const order: string[] = [];
    void clock.sleep(50).then(() => order.push(`a@${clock.nowMs()}`));
    void clock.sleep(20).then(() => order.push(`b@${clock.nowMs()}`));
    void clock.sleep(20).then(() => order.push(`c@${clock.nowMs()}`));
    expect(clock.pendingSleeps).toBe(3);
    clock.advance(19);
    await flushMicrotasks();
    expect(order).toEqual([]);
    clock.advance(1);
    await flushMicrotasks();
    expect(order).toEqual(['b@1020', 'c@1020']);
    clock.advance(100);
    await flushMicrotasks();
    expect(order).toEqual(['b@1020', 'c@1020', 'a@1120']);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('sleep(0) resolves without advancing', async () => {
    const clock = new ManualClock();
    await clock.sleep(0);
    expect(clock.nowMs()).toBe(0);
  });

  it('abort rejects with CANCELLED and removes the sleeper', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const sleeping = clock.sleep(100, controller.signal);
    controller.abort();
    await expect(sleeping).rejects.toSatisfy((err: unknown) => isSpindleError(err, ErrorCode.CANCELLED));
    expect(clock.pendingSleeps).toBe(0);
    await expect(clock.sleep(1, controller.signal)).rejects.toBeInstanceOf(SpindleError);
  });

  it('advanceAsync drives a loop that sleeps again', async () => {
    const clock = new ManualClock();
    let ticks = 0;
    void (async () => {
      for (let i = 0; i < 5; i++) {
        await clock.sleep(10);
        ticks++;
      }
    })();
    await flushMicrotasks();
    await clock.advanceAsync(50, 10);
    expect(ticks).toBe(5);
  });

  it('refuses to go backwards', () => {
    expect(() => new ManualClock().advance(-1)).toThrow(SpindleError);
  });
});

describe('systemClock', () => {
  it('reads wall-clock time in ms and µs', () => {
    const ms = systemClock.nowMs();
    const us = systemClock.nowUs();
    expect(Math.abs(us / 1000 - ms)).toBeLessThan(1_000);
  });

  it('sleeps and can be cancelled', async () => {
    await systemClock.sleep(1);
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sleeping).rejects.toSatisfy((err: unknown) => isSpindleError(err, ErrorCode.CANCELLED));
    const aborted = AbortSignal.abort();
    await expect(systemClock.sleep(1, aborted)).rejects.toBeInstanceOf(SpindleError);
  });
});
