// How the client retries: exponential backoff with jitter inside one total deadline, and what each
// error means for the next attempt (refresh routing, try another replica, or give up at once).
//
// Guarantees: a retry loop never outlives its deadline (the last sleep is cut to what remains);
// non-retryable errors surface unchanged on the first attempt; when the deadline passes the caller
// gets RETRIES_EXHAUSTED naming the attempt count and the last error (also kept as `cause`).
import type { Clock, Rng } from '../common/clock.js';
import { ErrorCode, SpindleError, asSpindleError, isSpindleError } from '../common/errors.js';
import { backoffDelayMs } from '../common/retry.js';

export interface BackoffOptions {
  /** First backoff. */
  initialMs: number;
  /** Cap of one backoff. */
  maxMs: number;
}

/**
 * Backoff before attempt `attempt + 1` (attempt counts from 0), in whole milliseconds: the one
 * full-jitter formula of common/retry.ts (as ClientConfig documents) — uniform in
 * [0, min(max, initial · 2^attempt)], so many clients that failed together do not retry together.
 */
export function backoffMs(attempt: number, options: BackoffOptions, rng: Pick<Rng, 'nextFloat'>): number {
  return Math.round(backoffDelayMs(attempt, options.initialMs, options.maxMs, rng));
}

/** What the caller should do after a failed attempt. */
export type RetryAction =
  /** Give up: surface the error as it is. */
  | 'fail'
  /** Back off and try the same thing again. */
  | 'retry'
  /** Refresh the routing cache (the chain changed), then retry. */
  | 'refresh-routing'
  /** The replica/node did not answer: try another replica (reads) or back off (writes). */
  | 'failover';

/** Classifies an error of a storage request. */
export function storageRetryAction(err: unknown): RetryAction {
  if (!isSpindleError(err)) return 'fail';
  switch (err.errorCode) {
    case ErrorCode.CHAIN_VERSION_MISMATCH:
    case ErrorCode.NOT_CHAIN_HEAD:
    case ErrorCode.CHAIN_NOT_FOUND:
    case ErrorCode.TARGET_NOT_FOUND:
    case ErrorCode.TARGET_NOT_SERVING:
      return 'refresh-routing';
    case ErrorCode.RPC_UNAVAILABLE:
    case ErrorCode.TIMEOUT:
      return 'failover';
    case ErrorCode.CANCELLED:
    case ErrorCode.CLIENT_CLOSED:
      return 'fail';
    default:
      return err.retryable ? 'retry' : 'fail';
  }
}

export interface RetryLoopOptions {
  clock: Clock;
  rng: Pick<Rng, 'nextFloat'>;
  backoff: BackoffOptions;
  /** Total time for all attempts, measured from the start of the loop. */
  deadlineMs: number;
  /** Names the operation in the RETRIES_EXHAUSTED message. */
  what: string;
  signal?: AbortSignal;
  /** Classifies errors (default: retry what is retryable). */
  classify?: (err: unknown) => RetryAction;
  /** Called before the backoff of a retried attempt (e.g. to refresh routing); may throw to stop. */
  onRetry?: (err: SpindleError, action: RetryAction, attempt: number) => Promise<void> | void;
}

const defaultClassify = (err: unknown): RetryAction => (isSpindleError(err) && err.retryable ? 'retry' : 'fail');

/**
 * Runs `attempt(n)` until it resolves, a non-retryable error occurs, the signal aborts, or the
 * deadline passes.
 */
export async function withRetries<T>(
  attempt: (attemptIndex: number) => Promise<T>,
  options: RetryLoopOptions,
): Promise<T> {
  const classify = options.classify ?? defaultClassify;
  const deadline = options.clock.nowMs() + options.deadlineMs;
  for (let index = 0; ; index++) {
    throwIfAborted(options.signal, options.what);
    let error: SpindleError;
    try {
      return await attempt(index);
    } catch (err) {
      error = asSpindleError(err);
    }
    const action = classify(error);
    if (action === 'fail') throw error;
    if (options.signal?.aborted)
      throw new SpindleError(ErrorCode.CANCELLED, `${options.what}: cancelled`, { cause: error });
    const remainingMs = deadline - options.clock.nowMs();
    if (remainingMs <= 0) throw exhausted(options.what, index + 1, options.deadlineMs, error);
    await options.onRetry?.(error, action, index);
    const waitMs = Math.min(remainingMs, backoffMs(index, options.backoff, options.rng));
    await sleepAwake(options.clock, waitMs, options.signal);
    if (options.clock.nowMs() >= deadline) throw exhausted(options.what, index + 1, options.deadlineMs, error);
  }
}

/** The error a caller sees when the deadline ran out on a retryable failure. */
export function exhausted(what: string, attempts: number, deadlineMs: number, last: SpindleError): SpindleError {
  return new SpindleError(
    ErrorCode.RETRIES_EXHAUSTED,
    `${what}: gave up after ${attempts} attempt(s) in ${deadlineMs} ms; last error ${last.codeName}: ${last.message}`,
    { cause: last },
  );
}

/**
 * clock.sleep that keeps the process alive meanwhile. The system clock's timers are unref'd (a
 * background loop must not hold a process open), but a caller awaiting a retry must not see its
 * process exit in the middle of a backoff because nothing else was pending.
 */
export async function sleepAwake(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  const keepAlive = setTimeout(() => undefined, Math.max(0, ms) + 1_000);
  try {
    await clock.sleep(ms, signal);
  } finally {
    clearTimeout(keepAlive);
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new SpindleError(ErrorCode.CANCELLED, `${what}: cancelled`, { cause: signal.reason });
}
