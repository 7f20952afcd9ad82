// Time and randomness, injected: production code takes a Clock and an Rng instead of calling
// Date.now(), setTimeout or Math.random() directly, so tests and the simulator can replace them
// (ManualClock, createRng(seed)) and a failing seed replays exactly.
//
// Guarantees: systemClock timers are unref'd (a pending sleep never keeps a process alive);
// sleeps reject with SpindleError(CANCELLED) when their signal aborts; createRng(seed) yields the
// same sequence for the same seed on every machine and Node version (SplitMix64 on BigInt).
import { randomBytes, randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ErrorCode, SpindleError } from './errors.js';

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch. */
  nowMs(): number;
  /** Wall-clock microseconds since the Unix epoch (high resolution; for timestamps and latency). */
  nowUs(): number;
  /** Resolves after `ms`; rejects with SpindleError(CANCELLED) if `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function cancelled(signal: AbortSignal): SpindleError {
  return new SpindleError(ErrorCode.CANCELLED, 'sleep cancelled', { cause: signal.reason });
}

/** The real clock. nowUs is monotonic within a process (performance.now on the time origin). */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  nowUs: () => Math.floor((performance.timeOrigin + performance.now()) * 1000),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(cancelled(signal));
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(cancelled(signal!));
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

interface ManualSleeper {
  readonly dueUs: number;
  readonly order: number;
  readonly resolve: () => void;
}

/**
 * A clock that moves only when told. `advance(ms)` moves time forward and resolves every sleep
 * that has become due, earliest first (ties in the order they were started). Resolution is a
 * promise settlement, so the sleepers' continuations run after the current synchronous code:
 * `clock.advance(100); await flush()` or use `advanceAsync`.
 */
export class ManualClock implements Clock {
  private currentUs: number;
  private sleepers: ManualSleeper[] = [];
  private order = 0;

  constructor(startMs = 0) {
    this.currentUs = Math.round(startMs * 1000);
  }

  nowMs(): number {
    return Math.floor(this.currentUs / 1000);
  }

  nowUs(): number {
    return this.currentUs;
  }

  /** Number of sleeps waiting for time to pass (useful to wait until a loop is parked). */
  get pendingSleeps(): number {
    return this.sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(cancelled(signal));
        return;
      }
      if (!(ms > 0)) {
        resolve();
        return;
      }
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(cancelled(signal!));
      };
      const sleeper: ManualSleeper = {
        dueUs: this.currentUs + Math.max(1, Math.round(ms * 1000)),
        order: this.order++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Moves time forward by `ms` and resolves the sleeps that are due. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `ManualClock.advance needs ms >= 0, got ${ms}`);
    const targetUs = this.currentUs + Math.round(ms * 1000);
    for (;;) {
      const due = this.sleepers
        .filter((s) => s.dueUs <= targetUs)
        .sort((a, b) => a.dueUs - b.dueUs || a.order - b.order)[0];
      if (due === undefined) break;
      this.sleepers = this.sleepers.filter((s) => s !== due);
      this.currentUs = Math.max(this.currentUs, due.dueUs);
      due.resolve();
    }
    this.currentUs = targetUs;
  }

  /**
   * Advances in steps of at most `stepMs`, letting continuations run between steps, so a loop that
   * sleeps again after waking is driven through all of its iterations within `ms`.
   */
  async advanceAsync(ms: number, stepMs = ms): Promise<void> {
    let left = ms;
    do {
      const step = Math.min(left, Math.max(stepMs, 0.001));
      this.advance(step);
      left -= step;
      await flushMicrotasks();
    } while (left > 0);
  }
}

/** Lets pending promise continuations run (a macrotask turn). */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface Rng {
  /** Uniform integer in [0, 2^32). */
  nextU32(): number;
  /** Uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number;
  /** Uniform integer in [0, maxExclusive), unbiased; maxExclusive is a safe integer >= 1. */
  nextInt(maxExclusive: number): number;
  /** Uniform integer in [0, 2^64). */
  nextU64(): bigint;
  /** Fills `bytes` with random bytes. */
  fill(bytes: Uint8Array): void;
}

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;
const TWO_POW_53 = 2 ** 53;

/**
 * Converts a seed to the 64-bit SplitMix64 state. A number must be a safe non-negative integer
 * and is taken as its exact integer value; a bigint is reduced modulo 2^64 (so -1n = 2^64-1).
 */
export function seedToU64(seed: number | bigint): bigint {
  if (typeof seed === 'bigint') return BigInt.asUintN(64, seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `an rng seed must be a safe non-negative integer or a bigint, got ${seed}`,
    );
  }
  return BigInt(seed);
}

/**
 * SplitMix64 (Steele, Lea, Flood 2014; the reference `splitmix64.c` by Vigna): state += gamma;
 * z = state; z = (z ^ z>>30) * 0xbf58476d1ce4e5b9; z = (z ^ z>>27) * 0x94d049bb133111eb;
 * return z ^ z>>31 — all mod 2^64. Pinned: seed 0 yields 0xe220a8397b1dcdaf first.
 */
export class SplitMix64 implements Rng {
  private state: bigint;

  constructor(seed: number | bigint) {
    this.state = seedToU64(seed);
  }

  nextU64(): bigint {
    this.state = (this.state + GOLDEN_GAMMA) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }

  /** The high 32 bits of the next 64-bit output. */
  nextU32(): number {
    return Number(this.nextU64() >> 32n);
  }

  /** The high 53 bits of the next output divided by 2^53. */
  nextFloat(): number {
    return Number(this.nextU64() >> 11n) / TWO_POW_53;
  }

  /**
   * Unbiased by rejection: draw x uniformly in [0, 2^64); accept when x < 2^64 - (2^64 mod n)
   * (the largest multiple of n), and return x mod n. Same as placement.ts uses.
   */
  nextInt(maxExclusive: number): number {
    if (!Number.isSafeInteger(maxExclusive) || maxExclusive < 1) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `nextInt needs a safe integer bound >= 1, got ${maxExclusive}`,
      );
    }
    return Number(uniformBelow(this, BigInt(maxExclusive)));
  }

  /** Little-endian bytes of successive 64-bit outputs (the tail uses the low bytes of the last). */
  fill(bytes: Uint8Array): void {
    for (let offset = 0; offset < bytes.length; offset += 8) {
      let value = this.nextU64();
      const end = Math.min(offset + 8, bytes.length);
      for (let i = offset; i < end; i++) {
        bytes[i] = Number(value & 0xffn);
        value >>= 8n;
      }
    }
  }
}

const TWO_POW_64 = 1n << 64n;

/** Uniform integer in [0, n) for 1 <= n <= 2^64, by rejection on 64-bit draws (unbiased). */
export function uniformBelow(rng: Pick<Rng, 'nextU64'>, n: bigint): bigint {
  if (n < 1n || n > TWO_POW_64)
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `uniformBelow needs 1 <= n <= 2^64, got ${n}`);
  const limit = TWO_POW_64 - (TWO_POW_64 % n);
  for (;;) {
    const x = rng.nextU64();
    if (x < limit) return x % n;
  }
}

/** A deterministic generator: the same seed gives the same sequence everywhere. */
export function createRng(seed: number | bigint): Rng {
  return new SplitMix64(seed);
}

/** A generator seeded from the OS CSPRNG (for ids, seeds and jitter; not for secrets). */
export function systemRng(): Rng {
  const rng = new SplitMix64(randomBytes(8).readBigUInt64LE(0));
  rng.fill = (bytes: Uint8Array) => {
    randomFillSync(bytes);
  };
  return rng;
}
