// Retrying with backoff: the one retry loop of Spindle (client RPCs, storage requests and reads,
// storage's registration with the manager and its forwards down a chain) and its one backoff
// formula. A policy — `classify` — says what each failure means: 'fail' surfaces it, any other
// action retries (the caller's onRetry acts on it: refresh routing, try another replica, …).
// Without a policy, only errors that say they are retryable (SpindleError.retryable) are retried.
// The wait is full-jitter exponential, uniform in [0, min(maxMs, initialMs·2^attempt)] (raised to
// minMs), so many clients that failed together do not retry together.
//
// Guarantees:
// - Whatever ends the loop is a SpindleError: an error the policy fails surfaces as it is when it
//   is one, else typed by asSpindleError with `what` before its message (INTERNAL for a bug).
// - No attempt starts once its wait would end at or past the deadline: the caller gets
//   RETRIES_EXHAUSTED at once, naming the attempts and the last error (kept as `cause`) — or,
//   with `exhausted: 'rethrow'`, the last error itself. A loop with a deadline runs at most
//   RETRY_ATTEMPTS_MAX attempts, whatever the deadline.
// - deadlineMs Infinity: no deadline and no attempt cap — the loop ends only with a success, a
//   'fail' verdict or an abort (storage's loops that must not give up), and waits at least minMs
//   (> 0, checked) between attempts.
// - An aborted signal ends the loop with CANCELLED, also in the middle of a wait.
// - A wait keeps the process alive (sleepAwake), although the system clock's timers do not.
import { systemClock, systemRng, type Clock, type Rng } from './clock.js';
import {
  RETRY_ATTEMPTS_MAX,
  RETRY_BACKOFF_INITIAL_DEFAULT_MS,
  RETRY_BACKOFF_MAX_DEFAULT_MS,
  RETRY_DEADLINE_DEFAULT_MS,
} from './constants.js';
import { ErrorCode, SpindleError, asSpindleError, assert, isSpindleError } from './errors.js';

/** What a policy makes of a failed attempt: 'fail' surfaces the error, any other action retries. */
export type RetryVerdict<Action extends string> = Action | 'fail';

/** One retry about to happen, as onRetry sees it. */
export interface RetryStep<Action extends string> {
  /** The attempt that failed (0 = the first). */
  attempt: number;
  /** What the policy made of its error. */
  action: Action;
  /** The wait before the next attempt (0 for an action that retries at once). */
  delayMs: number;
}

export interface RetryOptions<Action extends string = 'retry'> {
  /**
   * Total time from the first attempt after which no new attempt starts. Infinity: retry until
   * success, a 'fail' verdict or an abort (needs minMs > 0).
   */
  deadlineMs?: number;
  /** Backoff cap of the first retry. */
  initialMs?: number;
  /** Largest backoff. */
  maxMs?: number;
  /** Shortest backoff: a wait the jitter drew shorter lasts this long (default 0). */
  minMs?: number;
  clock?: Clock;
  rng?: Pick<Rng, 'nextFloat'>;
  signal?: AbortSignal;
  /**
   * Names the operation in RETRIES_EXHAUSTED and CANCELLED messages, and before the message of a
   * failure that was not a SpindleError, e.g. 'storage.Write chain 3'.
   */
  what?: string;
  /** The policy: what a failed attempt's error means (default: retry what isRetryableError). */
  classify?: (err: unknown) => RetryVerdict<Action>;
  /** Actions whose retry goes at once, without a wait (the next attempt goes elsewhere). */
  retriesAtOnce?: (action: Action) => boolean;
  /** Called before each wait (log it, refresh routing, …); may be async; may throw to stop. */
  onRetry?: (err: unknown, step: RetryStep<Action>) => void | Promise<void>;
  /**
   * When the deadline ends the loop: 'wrap' (default) throws RETRIES_EXHAUSTED with the last
   * error as cause; 'rethrow' throws the last error itself, for a caller that passes it on as its
   * own answer with its code and retryability (a storage node forwarding down the chain).
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

/** Throws CANCELLED naming `what` if the signal aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string | undefined): void {
  if (signal?.aborted) throw cancelled(signal, what);
}

function cancelled(signal: AbortSignal, what: string | undefined): SpindleError {
  return new SpindleError(ErrorCode.CANCELLED, `${what ?? 'operation'}: cancelled`, { cause: signal.reason });
}

function retryableVerdict(err: unknown): RetryVerdict<'retry'> {
  return isRetryableError(err) ? 'retry' : 'fail';
}

/**
 * Runs `fn(attempt)` until it resolves, the policy fails an error (thrown at once), the deadline
 * or attempt limit is reached, or `signal` aborts (SpindleError CANCELLED).
 */
export async function retryWithBackoff<T, Action extends string = 'retry'>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions<Action> = {},
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const rng = options.rng ?? systemRng();
  const deadlineMs = options.deadlineMs ?? RETRY_DEADLINE_DEFAULT_MS;
  const initialMs = options.initialMs ?? RETRY_BACKOFF_INITIAL_DEFAULT_MS;
  const maxMs = options.maxMs ?? RETRY_BACKOFF_MAX_DEFAULT_MS;
  const minMs = options.minMs ?? 0;
  const bounded = deadlineMs !== Number.POSITIVE_INFINITY;
  assert(bounded || minMs > 0, 'a retry loop without a deadline needs a least wait (minMs > 0)');
  // Without a policy the only action is 'retry', which is what Action defaults to.
  const classify = options.classify ?? (retryableVerdict as (err: unknown) => RetryVerdict<Action>);
  const { signal, what } = options;
  const startMs = clock.nowMs();

  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal, what);
    let lastError: unknown;
    try {
      return await fn(attempt);
    } catch (err) {
      lastError = err;
    }
    const action = classify(lastError);
    if (action === 'fail') throw typed(lastError, what);
    throwIfAborted(signal, what);
    const delayMs = options.retriesAtOnce?.(action)
      ? 0
      : Math.max(minMs, backoffDelayMs(attempt, initialMs, maxMs, rng));
    const giveUp = () => {
      if (options.exhausted === 'rethrow') return typed(lastError, what);
      return exhaustedError(what, attempt + 1, clock.nowMs() - startMs, lastError);
    };
    const pastDeadline = () => clock.nowMs() - startMs + delayMs >= deadlineMs;
    if ((bounded && attempt + 1 >= RETRY_ATTEMPTS_MAX) || pastDeadline()) throw giveUp();
    await options.onRetry?.(lastError, { attempt, action, delayMs });
    // onRetry may have taken a while (a routing refresh): the wait must still end before the deadline.
    if (pastDeadline()) throw giveUp();
    if (delayMs > 0) {
      await sleepAwake(clock, delayMs, signal).catch((err: unknown) => {
        throw signal?.aborted ? cancelled(signal, what) : err;
      });
    }
  }
}

/** The error as a SpindleError: itself if it is one, else typed with `what` before its message. */
function typed(err: unknown, what: string | undefined): SpindleError {
  if (isSpindleError(err)) return err;
  const error = asSpindleError(err);
  if (what === undefined) return error;
  return new SpindleError(error.errorCode, `${what}: ${error.message}`, { cause: err, retryable: error.retryable });
}

function exhaustedError(what: string | undefined, attempts: number, elapsedMs: number, last: unknown): SpindleError {
  const message = last instanceof Error ? last.message : String(last);
  const code = isSpindleError(last) ? ` [${last.codeName}]` : '';
  return new SpindleError(
    ErrorCode.RETRIES_EXHAUSTED,
    `${what ?? 'operation'}: gave up after ${attempts} attempt${attempts === 1 ? '' : 's'} in ` +
      `${Math.round(elapsedMs)} ms; last error${code}: ${message}. ` +
      'Check that the cluster is up and reachable, or raise the retry deadline.',
    { cause: last },
  );
}
