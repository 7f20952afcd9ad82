// The client's retry policy: what each error of a storage or meta request means for the next
// attempt (refresh routing, try another replica, back off, or give up at once), and the retry
// budget of a ClientConfig. The loop itself — backoff, deadline, cancellation — is common/retry.ts;
// the client plugs these classifiers into it.
//
// Guarantees: cancellation (CANCELLED, CLIENT_CLOSED) and errors that are not SpindleErrors are
// never retried; every other error is retried exactly when it is retryable, routing errors and
// unreachable replicas included.
import type { Clock, Rng } from '../common/clock.js';
import type { ClientConfig } from '../common/config.js';
import { ErrorCode, isSpindleError } from '../common/errors.js';
import type { RetryOptions } from '../common/retry.js';

// routing-cache.ts imports its backoff sleep from here.
export { sleepAwake } from '../common/retry.js';

/** What the client does after a failed attempt (besides 'fail': surface the error as it is). */
export type RetryAction =
  /** Back off and try the same thing again. */
  | 'retry'
  /** Refresh the routing cache (the chain changed), then retry. */
  | 'refresh-routing'
  /** The replica/node did not answer: try another replica (reads) or back off (writes). */
  | 'failover';

/** Classifies an error of a storage request. */
export function storageRetryAction(err: unknown): RetryAction | 'fail' {
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

/** Classifies an error of a Meta or Mgmt request: one meta, so nothing to fail over to. */
export function metaRetryAction(err: unknown): 'retry' | 'fail' {
  if (!isSpindleError(err)) return 'fail';
  if (err.errorCode === ErrorCode.CANCELLED || err.errorCode === ErrorCode.CLIENT_CLOSED) return 'fail';
  return err.retryable ? 'retry' : 'fail';
}

/** The deadline and backoff a client's retry loops use (ClientConfig), with its clock and rng. */
export function clientRetryBudget(
  config: ClientConfig,
  clock: Clock,
  rng: Pick<Rng, 'nextFloat'>,
): Pick<RetryOptions, 'deadlineMs' | 'initialMs' | 'maxMs' | 'clock' | 'rng'> {
  return {
    deadlineMs: config.retryDeadlineMs,
    initialMs: config.retryBackoffInitialMs,
    maxMs: config.retryBackoffMaxMs,
    clock,
    rng,
  };
}
