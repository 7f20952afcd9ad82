// Time budgets: work a server does inside someone else's request must end before that request's
// own deadline, or the caller times out, retries, and the work runs twice at once. withTimeBudget
// runs `fn` under a signal that aborts when the budget runs out and answers a retryable TIMEOUT
// naming the work at that moment (meta's storage cut of a truncate, Sync's length query).
//
// Guarantees:
// - The promise settles by the end of the budget: with TIMEOUT (retryable, `what` first in its
//   message) if `fn` has not settled by then, whether or not `fn` has stopped yet (it is told
//   through its signal; what it throws later is ignored).
// - Any error of `fn` before the budget runs out passes through unchanged (a caller's
//   cancellation included: `options.signal` aborts `fn`'s signal too, with the caller's reason).
// - Nothing is left behind: the budget's timer and the listener on the caller's signal go when
//   the promise settles.
import { systemClock, type Clock } from './clock.js';
import { ErrorCode, SpindleError, assert } from './errors.js';

export interface TimeBudgetOptions {
  /** Measures the budget (default: the system clock). */
  clock?: Clock;
  /** The caller's signal: its abort reaches `fn` too, and what `fn` then throws passes through. */
  signal?: AbortSignal;
}

/**
 * Runs `fn` for at most `budgetMs`: past it, `fn`'s signal aborts and the caller gets a retryable
 * TIMEOUT "`what`: not done within `budgetMs` ms" at once.
 */
export async function withTimeBudget<T>(
  budgetMs: number,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
  options: TimeBudgetOptions = {},
): Promise<T> {
  assert(budgetMs >= 0 && Number.isFinite(budgetMs), `${what}: a time budget is a finite number ≥ 0, got ${budgetMs}`);
  const clock = options.clock ?? systemClock;
  const caller = options.signal;
  const work = new AbortController();
  const forwardAbort = () => work.abort(caller?.reason);
  if (caller?.aborted) forwardAbort();
  else caller?.addEventListener('abort', forwardAbort, { once: true });
  const timer = new AbortController();
  const expired = clock.sleep(budgetMs, timer.signal).then(
    () => {
      const error = new SpindleError(ErrorCode.TIMEOUT, `${what}: not done within ${budgetMs} ms`, {
        retryable: true,
      });
      work.abort(error);
      throw error;
    },
    // The timer was stopped: the work settled first.
    () => new Promise<never>(() => undefined),
  );
  try {
    return await Promise.race([Promise.resolve().then(() => fn(work.signal)), expired]);
  } finally {
    timer.abort();
    caller?.removeEventListener('abort', forwardAbort);
  }
}
