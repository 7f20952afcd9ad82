import { describe, expect, it } from 'vitest';
import { ManualClock, createRng, flushMicrotasks, type Clock } from './clock.js';
import { RETRY_ATTEMPTS_MAX } from './constants.js';
import { ErrorCode, SpindleError, isSpindleError } from './errors.js';
import { backoffDelayMs, retryWithBackoff, sleepAwake, type RetryStep } from './retry.js';

/** A clock whose sleeps return at once and move time forward by the slept amount. */
function fakeClock(): Clock & { sleeps: number[] } {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    nowMs: () => now,
    nowUs: () => now * 1000,
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) throw new SpindleError(ErrorCode.CANCELLED, 'sleep cancelled');
      sleeps.push(ms);
      now += ms;
    },
  };
}

const retryable = () => new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'node down');

describe('retryWithBackoff', () => {
  it('retries retryable errors until success', async () => {
    const clock = fakeClock();
    const seen: number[] = [];
    const result = await retryWithBackoff(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw retryable();
        return 'done';
      },
      { clock, rng: createRng(1), initialMs: 10, maxMs: 100, deadlineMs: 10_000 },
    );
    expect(result).toBe('done');
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(clock.sleeps).toHaveLength(3);
  });

  it('throws non-retryable errors at once', async () => {
    let calls = 0;
    const err = new SpindleError(ErrorCode.NOT_FOUND, 'no such file');
    await expect(
      retryWithBackoff(
        async () => {
          calls++;
          throw err;
        },
        { clock: fakeClock(), rng: createRng(1) },
      ),
    ).rejects.toBe(err);
    expect(calls).toBe(1);
  });

  it('fails with a SpindleError whatever the attempt threw, naming the operation', async () => {
    const plain = new Error('bug');
    const outcome = await retryWithBackoff(async () => Promise.reject(plain), {
      clock: fakeClock(),
      what: 'meta.Stat',
    }).catch((e: unknown) => e);
    expect(isSpindleError(outcome, ErrorCode.INTERNAL)).toBe(true);
    expect((outcome as SpindleError).message).toBe('meta.Stat: bug');
    expect((outcome as SpindleError).cause).toBe(plain);
    const fsError = Object.assign(new Error('open /x'), { code: 'ENOENT' });
    const io = await retryWithBackoff(async () => Promise.reject(fsError), { clock: fakeClock() }).catch(
      (e: unknown) => e,
    );
    expect(isSpindleError(io, ErrorCode.IO_ERROR)).toBe(true);
    expect((io as SpindleError).message).toBe('ENOENT: open /x');
  });

  it('uses full-jitter exponential delays capped at maxMs', async () => {
    const clock = fakeClock();
    await expect(
      retryWithBackoff(async () => Promise.reject(retryable()), {
        clock,
        rng: createRng(9),
        initialMs: 10,
        maxMs: 80,
        deadlineMs: 1_000,
      }),
    ).rejects.toSatisfy((e: unknown) => isSpindleError(e, ErrorCode.RETRIES_EXHAUSTED));
    expect(clock.sleeps.length).toBeGreaterThan(10);
    clock.sleeps.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThanOrEqual(Math.min(80, 10 * 2 ** i));
    });
    // Deterministic with a seeded rng.
    const rng = createRng(9);
    expect(clock.sleeps[0]).toBe(backoffDelayMs(0, 10, 80, rng));
  });

  it('gives up at the deadline with RETRIES_EXHAUSTED carrying the last error', async () => {
    const clock = fakeClock();
    const last = retryable();
    let caught: unknown;
    try {
      await retryWithBackoff(async () => Promise.reject(last), {
        clock,
        rng: createRng(3),
        initialMs: 100,
        maxMs: 100,
        deadlineMs: 1_000,
        what: 'storage.Write',
      });
    } catch (err) {
      caught = err;
    }
    expect(isSpindleError(caught, ErrorCode.RETRIES_EXHAUSTED)).toBe(true);
    const err = caught as SpindleError;
    expect(err.cause).toBe(last);
    expect(err.message).toMatch(/^storage\.Write: gave up after \d+ attempts/);
    expect(err.message).toMatch(/RPC_UNAVAILABLE/);
    expect(clock.nowMs()).toBeLessThan(1_000);
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBeLessThan(1_000);
  });

  it("rethrows the last error itself with exhausted: 'rethrow', typed", async () => {
    const last = retryable();
    await expect(
      retryWithBackoff(async () => Promise.reject(last), { clock: fakeClock(), deadlineMs: 0, exhausted: 'rethrow' }),
    ).rejects.toBe(last);
    const plain = new Error('flaky');
    const outcome = await retryWithBackoff(async () => Promise.reject(plain), {
      clock: fakeClock(),
      deadlineMs: 0,
      exhausted: 'rethrow',
      what: 'forward',
      classify: () => 'retry',
    }).catch((e: unknown) => e);
    expect(isSpindleError(outcome, ErrorCode.INTERNAL)).toBe(true);
    expect((outcome as SpindleError).message).toBe('forward: flaky');
  });

  it('waits at least minMs, whatever the jitter drew', async () => {
    const clock = fakeClock();
    let n = 0;
    await retryWithBackoff(
      async () => {
        if (n++ < 5) throw retryable();
      },
      { clock, rng: { nextFloat: () => 0 }, initialMs: 10, maxMs: 100, minMs: 7 },
    );
    expect(clock.sleeps).toEqual([7, 7, 7, 7, 7]);
  });

  it(`stops a loop with a deadline after ${RETRY_ATTEMPTS_MAX} attempts, however little time they took`, async () => {
    const clock = fakeClock();
    let calls = 0;
    const outcome = await retryWithBackoff(
      async () => {
        calls++;
        throw retryable();
      },
      { clock, rng: { nextFloat: () => 0 }, deadlineMs: 1_000 },
    ).catch((e: unknown) => e);
    expect(isSpindleError(outcome, ErrorCode.RETRIES_EXHAUSTED)).toBe(true);
    expect(calls).toBe(RETRY_ATTEMPTS_MAX);
    expect(clock.nowMs()).toBe(0);
  });

  it('retries without end with deadlineMs Infinity: past the attempt cap, until success', async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await retryWithBackoff(
      async (attempt) => {
        calls++;
        if (attempt < RETRY_ATTEMPTS_MAX + 5) throw retryable();
        return attempt;
      },
      { clock, rng: { nextFloat: () => 0.5 }, initialMs: 1, maxMs: 4, minMs: 1, deadlineMs: Number.POSITIVE_INFINITY },
    );
    expect(result).toBe(RETRY_ATTEMPTS_MAX + 5);
    expect(calls).toBe(RETRY_ATTEMPTS_MAX + 6);
    expect(Math.min(...clock.sleeps)).toBeGreaterThanOrEqual(1);
  });

  it('ends a loop without a deadline only by its policy or its signal', async () => {
    const controller = new AbortController();
    let calls = 0;
    const run = retryWithBackoff(
      async () => {
        if (++calls === 3) controller.abort();
        throw retryable();
      },
      { clock: fakeClock(), minMs: 1, deadlineMs: Number.POSITIVE_INFINITY, signal: controller.signal },
    );
    await expect(run).rejects.toSatisfy((e: unknown) => isSpindleError(e, ErrorCode.CANCELLED));
    expect(calls).toBe(3);
    const final = new SpindleError(ErrorCode.NOT_FOUND, 'gone');
    await expect(
      retryWithBackoff(async () => Promise.reject(final), {
        clock: fakeClock(),
        minMs: 1,
        deadlineMs: Number.POSITIVE_INFINITY,
      }),
    ).rejects.toBe(final);
  });

  it('refuses a loop without a deadline that could spin (no least wait): a bug in the caller', async () => {
    await expect(
      retryWithBackoff(async () => 1, { clock: fakeClock(), deadlineMs: Number.POSITIVE_INFINITY }),
    ).rejects.toThrow(/minMs/);
  });

  it('calls onRetry before each wait with the attempt, the policy action and the wait', async () => {
    const clock = fakeClock();
    const steps: Array<RetryStep<'again'>> = [];
    let n = 0;
    await retryWithBackoff(
      async () => {
        if (n++ < 2) throw new Error('flaky');
        return n;
      },
      {
        clock,
        rng: createRng(2),
        classify: (err) => (err instanceof Error && err.message === 'flaky' ? 'again' : 'fail'),
        onRetry: (_err, step) => {
          steps.push(step);
        },
      },
    );
    expect(steps.map(({ attempt, action }) => [attempt, action])).toEqual([
      [0, 'again'],
      [1, 'again'],
    ]);
    expect(clock.sleeps).toEqual(steps.map((step) => step.delayMs));
  });

  it('surfaces an error its policy fails unchanged, even a retryable one', async () => {
    const err = retryable();
    let calls = 0;
    await expect(
      retryWithBackoff(
        async () => {
          calls++;
          throw err;
        },
        { clock: fakeClock(), classify: () => 'fail' },
      ),
    ).rejects.toBe(err);
    expect(calls).toBe(1);
  });

  it('retries the actions the policy marks as at-once without waiting', async () => {
    const clock = fakeClock();
    const steps: Array<RetryStep<'elsewhere' | 'later'>> = [];
    let n = 0;
    await retryWithBackoff(
      async () => {
        n++;
        if (n < 4) throw new SpindleError(n % 2 === 1 ? ErrorCode.RPC_UNAVAILABLE : ErrorCode.TIMEOUT, 'down');
        return n;
      },
      {
        clock,
        rng: { nextFloat: () => 0.5 },
        initialMs: 10,
        classify: (err) => (isSpindleError(err, ErrorCode.RPC_UNAVAILABLE) ? 'elsewhere' : 'later'),
        retriesAtOnce: (action) => action === 'elsewhere',
        onRetry: (_err, step) => void steps.push(step),
      },
    );
    expect(steps.map(({ action, delayMs }) => [action, delayMs])).toEqual([
      ['elsewhere', 0],
      ['later', 10],
      ['elsewhere', 0],
    ]);
    expect(clock.sleeps).toEqual([10]);
  });

  it('gives up rather than wait past the deadline when onRetry took the time left', async () => {
    const clock = fakeClock();
    let calls = 0;
    const outcome = await retryWithBackoff(
      async () => {
        calls++;
        throw retryable();
      },
      {
        clock,
        rng: { nextFloat: () => 0.5 },
        initialMs: 100,
        deadlineMs: 1_000,
        // A routing refresh that hangs until the deadline is all but over.
        onRetry: () => clock.sleep(990),
      },
    ).catch((e: unknown) => e);
    expect(isSpindleError(outcome, ErrorCode.RETRIES_EXHAUSTED)).toBe(true);
    expect(calls).toBe(1);
    expect(clock.nowMs()).toBe(990);
  });

  it('stops with CANCELLED when the signal aborts during a wait', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    let calls = 0;
    const run = retryWithBackoff(
      async () => {
        calls++;
        throw retryable();
      },
      { clock, rng: { nextFloat: () => 0.5 }, initialMs: 1_000, signal: controller.signal, what: 'op' },
    );
    await flushMicrotasks();
    expect(clock.pendingSleeps).toBe(1);
    controller.abort();
    await expect(run).rejects.toSatisfy(
      (e: unknown) => isSpindleError(e, ErrorCode.CANCELLED) && (e as Error).message === 'op: cancelled',
    );
    expect(calls).toBe(1);
  });

  it('stops with CANCELLED when the signal aborts', async () => {
    const controller = new AbortController();
    let calls = 0;
    const run = retryWithBackoff(
      async () => {
        calls++;
        if (calls === 2) controller.abort();
        throw retryable();
      },
      { clock: fakeClock(), signal: controller.signal },
    );
    await expect(run).rejects.toSatisfy((e: unknown) => isSpindleError(e, ErrorCode.CANCELLED));
    expect(calls).toBe(2);
    await expect(retryWithBackoff(async () => 1, { signal: AbortSignal.abort() })).rejects.toSatisfy((e: unknown) =>
      isSpindleError(e, ErrorCode.CANCELLED),
    );
  });
});

describe('backoffDelayMs', () => {
  it('doubles up to the cap with full jitter; a negative attempt counts as the first', () => {
    const top = { nextFloat: () => 0.999999 };
    expect([-1, 0, 1, 2, 3, 10].map((attempt) => Math.round(backoffDelayMs(attempt, 10, 100, top)))).toEqual([
      10, 10, 20, 40, 80, 100,
    ]);
  });
});

describe('sleepAwake', () => {
  it("holds a referenced timer while it sleeps (an unref'd clock alone would let the process exit)", async () => {
    const clock = new ManualClock();
    const timers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
    const before = timers();
    const sleeping = sleepAwake(clock, 50);
    expect(timers()).toBe(before + 1);
    await clock.advanceAsync(50);
    await sleeping;
    expect(timers()).toBe(before);
  });
});
