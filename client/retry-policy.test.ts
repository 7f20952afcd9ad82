import { describe, expect, it } from 'vitest';
import { ManualClock, createRng, flushMicrotasks } from '../common/clock.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { backoffDelayMs } from '../common/retry.js';
import { backoffMs, storageRetryAction, withRetries } from './retry-policy.js';

const err = (code: ErrorCode) => new SpindleError(code, 'test');

describe('backoffMs', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    const top = { nextFloat: () => 0.999999 };
    const bottom = { nextFloat: () => 0 };
    const options = { initialMs: 10, maxMs: 100 };
    expect([0, 1, 2, 3, 4, 10].map((attempt) => backoffMs(attempt, options, top))).toEqual([10, 20, 40, 80, 100, 100]);
    expect(backoffMs(3, options, bottom)).toBe(0);
  });

  it('is common/retry.ts backoffDelayMs rounded to whole milliseconds (one formula)', () => {
    const a = createRng(7);
    const b = createRng(7);
    for (let attempt = 0; attempt < 20; attempt++) {
      expect(backoffMs(attempt, { initialMs: 5, maxMs: 300 }, a)).toBe(Math.round(backoffDelayMs(attempt, 5, 300, b)));
    }
  });
});

describe('storageRetryAction', () => {
  it('maps routing errors to a refresh, unreachable replicas to failover, the rest by retryability', () => {
    expect(storageRetryAction(err(ErrorCode.CHAIN_VERSION_MISMATCH))).toBe('refresh-routing');
    expect(storageRetryAction(err(ErrorCode.NOT_CHAIN_HEAD))).toBe('refresh-routing');
    expect(storageRetryAction(err(ErrorCode.TARGET_NOT_SERVING))).toBe('refresh-routing');
    expect(storageRetryAction(err(ErrorCode.RPC_UNAVAILABLE))).toBe('failover');
    expect(storageRetryAction(err(ErrorCode.TIMEOUT))).toBe('failover');
    expect(storageRetryAction(err(ErrorCode.CHECKSUM_MISMATCH))).toBe('retry');
    expect(storageRetryAction(err(ErrorCode.INVALID_ARGUMENT))).toBe('fail');
    expect(storageRetryAction(err(ErrorCode.CANCELLED))).toBe('fail');
    expect(storageRetryAction(new Error('bug'))).toBe('fail');
  });
});

describe('withRetries', () => {
  const base = { rng: createRng(1), backoff: { initialMs: 10, maxMs: 40 }, what: 'op' };

  it('retries retryable errors until success', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const done = withRetries(
      async () => {
        calls++;
        if (calls < 3) throw err(ErrorCode.RPC_UNAVAILABLE);
        return 'ok';
      },
      { ...base, clock, deadlineMs: 1_000 },
    );
    for (let i = 0; i < 10 && calls < 3; i++) await clock.advanceAsync(50, 5);
    await expect(done).resolves.toBe('ok');
    expect(calls).toBe(3);
  });

  it('surfaces a non-retryable error at once', async () => {
    const clock = new ManualClock();
    let calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          throw err(ErrorCode.NOT_FOUND);
        },
        { ...base, clock, deadlineMs: 1_000 },
      ),
    ).rejects.toMatchObject({ errorCode: ErrorCode.NOT_FOUND });
    expect(calls).toBe(1);
  });

  it('gives up at the deadline with RETRIES_EXHAUSTED naming the last error', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const done = withRetries(
      async () => {
        calls++;
        throw err(ErrorCode.TIMEOUT);
      },
      { ...base, clock, deadlineMs: 100 },
    );
    const outcome = done.catch((e: unknown) => e);
    await clock.advanceAsync(200, 5);
    const error = (await outcome) as SpindleError;
    expect(error.errorCode).toBe(ErrorCode.RETRIES_EXHAUSTED);
    expect(error.message).toMatch(/op: gave up after \d+ attempt\(s\) in 100 ms; last error TIMEOUT/);
    expect((error.cause as SpindleError).errorCode).toBe(ErrorCode.TIMEOUT);
    expect(calls).toBeGreaterThan(1);
  });

  it('calls onRetry with the action before backing off', async () => {
    const clock = new ManualClock();
    const actions: string[] = [];
    let calls = 0;
    const done = withRetries(
      async () => {
        if (calls++ === 0) throw err(ErrorCode.CHAIN_VERSION_MISMATCH);
        return calls;
      },
      {
        ...base,
        clock,
        deadlineMs: 1_000,
        classify: storageRetryAction,
        onRetry: (_e, action) => void actions.push(action),
      },
    );
    await flushMicrotasks();
    await clock.advanceAsync(50, 5);
    await expect(done).resolves.toBe(2);
    expect(actions).toEqual(['refresh-routing']);
  });

  it('stops when the signal aborts', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const done = withRetries(
      async () => {
        throw err(ErrorCode.RPC_UNAVAILABLE);
      },
      { ...base, clock, deadlineMs: 1_000, signal: controller.signal },
    );
    await flushMicrotasks();
    controller.abort();
    await expect(done).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
  });
});
