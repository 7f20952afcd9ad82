// The client's retry policy, alone and plugged into common/retry.ts's loop (the loop itself is
// tested in common/retry.test.ts).
import { describe, expect, it } from 'vitest';
import { ManualClock, createRng, flushMicrotasks } from '../common/clock.js';
import { clientConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { retryWithBackoff } from '../common/retry.js';
import { clientRetryBudget, metaRetryAction, storageRetryAction, type RetryAction } from './retry-policy.js';

const err = (code: ErrorCode, retryable?: boolean) => new SpindleError(code, 'test', { retryable });

describe('storageRetryAction', () => {
  it('maps routing errors to a refresh, unreachable replicas to failover, the rest by retryability', () => {
    expect(storageRetryAction(err(ErrorCode.CHAIN_VERSION_MISMATCH))).toBe('refresh-routing');
    expect(storageRetryAction(err(ErrorCode.NOT_CHAIN_HEAD))).toBe('refresh-routing');
    expect(storageRetryAction(err(ErrorCode.CHAIN_NOT_FOUND))).toBe('refresh-routing');
    expect(storageRetryAction(err(ErrorCode.TARGET_NOT_FOUND))).toBe('refresh-routing');
    expect(storageRetryAction(err(ErrorCode.TARGET_NOT_SERVING))).toBe('refresh-routing');
    expect(storageRetryAction(err(ErrorCode.RPC_UNAVAILABLE))).toBe('failover');
    expect(storageRetryAction(err(ErrorCode.TIMEOUT))).toBe('failover');
    expect(storageRetryAction(err(ErrorCode.CHECKSUM_MISMATCH))).toBe('retry');
    expect(storageRetryAction(err(ErrorCode.INVALID_ARGUMENT))).toBe('fail');
    expect(storageRetryAction(err(ErrorCode.CANCELLED, true))).toBe('fail');
    expect(storageRetryAction(err(ErrorCode.CLIENT_CLOSED, true))).toBe('fail');
    expect(storageRetryAction(new Error('bug'))).toBe('fail');
  });
});

describe('metaRetryAction', () => {
  it('retries what is retryable, never a cancellation or an error that is not typed', () => {
    expect(metaRetryAction(err(ErrorCode.RPC_UNAVAILABLE))).toBe('retry');
    expect(metaRetryAction(err(ErrorCode.TIMEOUT))).toBe('retry');
    expect(metaRetryAction(err(ErrorCode.NOT_FOUND))).toBe('fail');
    expect(metaRetryAction(err(ErrorCode.CANCELLED, true))).toBe('fail');
    expect(metaRetryAction(err(ErrorCode.CLIENT_CLOSED, true))).toBe('fail');
    expect(metaRetryAction(new Error('bug'))).toBe('fail');
  });
});

describe('clientRetryBudget', () => {
  it("takes the deadline and backoff of the client's config", () => {
    const clock = new ManualClock();
    const rng = createRng(1);
    const config = clientConfig('test', { retryDeadlineMs: 1234, retryBackoffInitialMs: 7, retryBackoffMaxMs: 99 });
    expect(clientRetryBudget(config, clock, rng)).toEqual({
      deadlineMs: 1234,
      initialMs: 7,
      maxMs: 99,
      clock,
      rng,
    });
  });
});

describe('the storage policy in the retry loop', () => {
  it('tells onRetry what each failure calls for, and surfaces a non-retryable error at once', async () => {
    const clock = new ManualClock();
    const actions: RetryAction[] = [];
    const failures = [err(ErrorCode.CHAIN_VERSION_MISMATCH), err(ErrorCode.RPC_UNAVAILABLE), err(ErrorCode.NO_SPACE)];
    let calls = 0;
    const done = retryWithBackoff(
      async () => {
        throw failures[calls++];
      },
      {
        clock,
        rng: createRng(1),
        initialMs: 10,
        maxMs: 40,
        deadlineMs: 1_000,
        classify: storageRetryAction,
        onRetry: (_e, { action }) => void actions.push(action),
      },
    ).catch((e: unknown) => e);
    await flushMicrotasks();
    await clock.advanceAsync(100, 5);
    expect(await done).toBe(failures[2]);
    expect(actions).toEqual(['refresh-routing', 'failover']);
    expect(calls).toBe(3);
  });
});
