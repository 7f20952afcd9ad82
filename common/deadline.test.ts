import { describe, expect, it } from 'vitest';
import { ManualClock, flushMicrotasks } from './clock.js';
import { withTimeBudget } from './deadline.js';
import { ErrorCode, SpindleError, isSpindleError } from './errors.js';

/** A promise the test settles by hand. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The promise's outcome, without awaiting it: undefined while pending. */
function watch<T>(promise: Promise<T>) {
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { value, settled: true }),
    (error: unknown) => Object.assign(state, { error, settled: true }),
  );
  return state;
}

describe('withTimeBudget', () => {
  it('answers what the work answers within the budget, and leaves no timer behind', async () => {
    const clock = new ManualClock();
    const work = deferred<string>();
    let seen: AbortSignal | undefined;
    const outcome = watch(
      withTimeBudget(
        1_000,
        'cut of inode 7',
        (signal) => {
          seen = signal;
          return work.promise;
        },
        { clock },
      ),
    );
    await flushMicrotasks();
    expect(clock.pendingSleeps).toBe(1);
    await clock.advanceAsync(999);
    expect(outcome.settled).toBe(false);
    work.resolve('done');
    await flushMicrotasks();
    expect(outcome).toEqual({ settled: true, value: 'done' });
    expect(seen?.aborted).toBe(false);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('answers a retryable TIMEOUT naming the work at the budget, and aborts the work with it', async () => {
    const clock = new ManualClock();
    let seen: AbortSignal | undefined;
    // Work that ignores its signal and never ends: the answer still comes at the budget.
    const outcome = watch(
      withTimeBudget(
        1_000,
        'cut of inode 7',
        (signal) => {
          seen = signal;
          return new Promise<never>(() => undefined);
        },
        { clock },
      ),
    );
    await flushMicrotasks();
    await clock.advanceAsync(999);
    expect(outcome.settled).toBe(false);
    await clock.advanceAsync(1);
    expect(outcome.settled).toBe(true);
    const error = outcome.error as SpindleError;
    expect(isSpindleError(error, ErrorCode.TIMEOUT)).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('cut of inode 7: not done within 1000 ms');
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);
  });

  it('answers TIMEOUT, not the CANCELLED the aborted work ends with', async () => {
    const clock = new ManualClock();
    // Work that honours its signal the way the storage client does: it fails with CANCELLED.
    const run = withTimeBudget(500, 'length of inode 9', (signal) => clock.sleep(10_000, signal).then(() => 'late'), {
      clock,
    });
    const outcome = watch(run);
    await clock.advanceAsync(500);
    await flushMicrotasks();
    expect(isSpindleError(outcome.error, ErrorCode.TIMEOUT)).toBe(true);
    expect(clock.pendingSleeps).toBe(0);
  });

  it("passes the work's own errors through unchanged, and its later errors are ignored", async () => {
    const clock = new ManualClock();
    const failure = new SpindleError(ErrorCode.RETRIES_EXHAUSTED, 'chain 3 gave up');
    await expect(withTimeBudget(1_000, 'cut', async () => Promise.reject(failure), { clock })).rejects.toBe(failure);
    await expect(
      withTimeBudget(
        1_000,
        'cut',
        () => {
          throw failure;
        },
        { clock },
      ),
    ).rejects.toBe(failure);
    expect(clock.pendingSleeps).toBe(0);

    // Fails after the budget ran out: the caller already has its TIMEOUT; nothing unhandled.
    const late = deferred<never>();
    const outcome = watch(withTimeBudget(10, 'cut', () => late.promise, { clock }));
    await clock.advanceAsync(10);
    late.reject(failure);
    await flushMicrotasks();
    expect(isSpindleError(outcome.error, ErrorCode.TIMEOUT)).toBe(true);
  });

  it("aborts the work with the caller's reason, whose error passes through, and unhooks from the caller", async () => {
    const clock = new ManualClock();
    const caller = new AbortController();
    let seen: AbortSignal | undefined;
    const run = withTimeBudget(
      1_000,
      'cut',
      (signal) => {
        seen = signal;
        return clock.sleep(5_000, signal);
      },
      { clock, signal: caller.signal },
    );
    await flushMicrotasks();
    const reason = new Error('client went away');
    caller.abort(reason);
    await expect(run).rejects.toSatisfy((e: unknown) => isSpindleError(e, ErrorCode.CANCELLED));
    expect(seen?.reason).toBe(reason);
    expect(clock.pendingSleeps).toBe(0);

    // Already aborted: the work starts with an aborted signal.
    const aborted = await withTimeBudget(1_000, 'cut', async (signal) => signal.aborted, {
      clock,
      signal: AbortSignal.abort(),
    });
    expect(aborted).toBe(true);

    // A settled budget no longer listens to the caller's signal.
    const later = new AbortController();
    let workSignal: AbortSignal | undefined;
    await withTimeBudget(
      1_000,
      'cut',
      async (signal) => {
        workSignal = signal;
      },
      { clock, signal: later.signal },
    );
    later.abort();
    expect(workSignal?.aborted).toBe(false);
  });

  it('refuses a budget that is not a finite number of milliseconds (a bug in the caller)', async () => {
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      await expect(withTimeBudget(bad, 'cut', async () => 1)).rejects.toThrow(/time budget/);
    }
  });
});
