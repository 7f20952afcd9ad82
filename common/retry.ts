// Retrying with backoff: one helper for every retry loop (client RPCs, storage forwarding, meta's
// calls to storage). Only errors that say they are retryable (SpindleError.retryable, unless the
// caller passes isRetryable) are retried; the wait is full-jitter exponential
// (uniform in [0, min(maxMs, initialMs·2^attempt)]); a total deadline and an AbortSignal bound it.
import { systemClock, systemRng, type Clock, type Rng } from './clock.js';
import {
  RETRY_ATTEMPTS_MAX,
  RETRY_BACKOFF_INITIAL_DEFAULT_MS,
  RETRY_BACKOFF_MAX_DEFAULT_MS,
  RETRY_DEADLINE_DEFAULT_MS,
} from './constants.js';
import { ErrorCode, SpindleError, isSpindleError } from './errors.js';

export interface RetryOptions {
  /** Total time from the first attempt after which no new attempt starts. */
  deadlineMs?: number;
  /** Backoff cap of the first retry. */
  initialMs?: number;
  /** Largest backoff. */
  maxMs?: number;
  /** Most attempts in all (default RETRY_ATTEMPTS_MAX). */
  attemptsMax?: number;
  clock?: Clock;
  rng?: Rng;
  signal?: AbortSignal;
  /** Which errors to retry; default: SpindleErrors with retryable = true. */
  isRetryable?: (err: unknown) => boolean;
  /** Called before each backoff wait (log it, refresh routing, …); may be async. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void | Promise<void>;
  /** Names the operation in the RETRIES_EXHAUSTED message, e.g. 'storage.Write chain 3'. */
  what?: string;
  /**
   * When giving up on a retryable error: 'wrap' (default) throws RETRIES_EXHAUSTED with the last
   * error as cause; 'rethrow' throws the last error itself.
   */
  exhausted?: 'wrap' | 'rethrow';
}

/** The retryability rule of Spindle: SpindleErrors that say so. */
export function isRetryableError(err: unknown): boolean {
  return isSpindleError(err) && err.retryable;
}

/** Full-jitter exponential backoff for retry number `attempt` (0 = the first retry). */
export function backoffDelayMs(attempt: number, initialMs: number, maxMs: number, rng: Pick<Rng, 'nextFloat'>): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt), 52));
  return rng.nextFloat() * cap;
}

function cancelled(signal: AbortSignal, what: string | undefined): SpindleError {
  return new SpindleError(ErrorCode.CANCELLED, `${what ?? 'operation'}: cancelled`, { cause: signal.reason });
}

/**
 * Runs `fn(attempt)` until it resolves, a non-retryable error occurs (thrown at once), the
 * deadline or attempt limit is reached, or `signal` aborts (SpindleError CANCELLED).
 */
export async function retryWithBackoff<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const clock = options.clock ?? systemClock;
  const rng = options.rng ?? systemRng();
  const deadlineMs = options.deadlineMs ?? RETRY_DEADLINE_DEFAULT_MS;
  const initialMs = options.initialMs ?? RETRY_BACKOFF_INITIAL_DEFAULT_MS;
  const maxMs = options.maxMs ?? RETRY_BACKOFF_MAX_DEFAULT_MS;
  const attemptsMax = Math.min(options.attemptsMax ?? RETRY_ATTEMPTS_MAX, RETRY_ATTEMPTS_MAX);
  const isRetryable = options.isRetryable ?? isRetryableError;
  const { signal, what } = options;
  const startMs = clock.nowMs();

  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw cancelled(signal, what);
    let lastError: unknown;
    try {
      return await fn(attempt);
    } catch (err) {
      if (signal?.aborted) throw cancelled(signal, what);
      if (!isRetryable(err)) throw err;
      lastError = err;
    }
    const elapsedMs = clock.nowMs() - startMs;
    const delayMs = backoffDelayMs(attempt, initialMs, maxMs, rng);
    const attempts = attempt + 1;
    if (attempts >= attemptsMax || elapsedMs + delayMs >= deadlineMs) {
      if (options.exhausted === 'rethrow') throw lastError;
      const last = lastError instanceof Error ? lastError.message : String(lastError);
      const code = isSpindleError(lastError) ? ` [${lastError.codeName}]` : '';
      throw new SpindleError(
        ErrorCode.RETRIES_EXHAUSTED,
        `${what ?? 'operation'}: gave up after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${Math.round(elapsedMs)} ms; ` +
          `last error${code}: ${last}. Check that the cluster is up and reachable, or raise the retry deadline.`,
        { cause: lastError },
      );
    }
    await options.onRetry?.(lastError, attempt + 1, delayMs);
    await clock.sleep(delayMs, signal).catch((err: unknown) => {
      throw signal?.aborted ? cancelled(signal, what) : err;
    });
  }
}
