// How the chunk store retries one storage request (a chunk write, a removal, a length query): the
// client's storage policy (retry-policy.ts) in the common retry loop (common/retry.ts), with
// routing refreshed before the retries that need it.
//
// Guarantees: retryable errors are retried with backoff inside config.retryDeadlineMs; a stale
// chain version, a moved head or an unreachable node refreshes routing before the retry; the
// error a caller gets starts with what failed ("write of chunk 3 of inode 7 on chain 2: …") and
// keeps its code and retryability (RETRIES_EXHAUSTED names it already).
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import { retryWithBackoff } from '../common/retry.js';
import type { ChunkIoContext } from './chunk-io-context.js';
import { clientRetryBudget, storageRetryAction, type RetryAction } from './retry-policy.js';

export type StorageRetryContext = Pick<ChunkIoContext, 'config' | 'clock' | 'rng' | 'logger' | 'refreshRouting'>;

/**
 * Runs one storage request with the retry policy. `onAction` hears what each failure called for
 * before the retry (a length query moves to the next replica on 'failover').
 */
export function retryStorageRequest<T>(
  ctx: StorageRetryContext,
  what: string,
  signal: AbortSignal,
  attempt: () => Promise<T>,
  onAction?: (action: RetryAction) => void,
): Promise<T> {
  return retryWithBackoff(attempt, {
    ...clientRetryBudget(ctx.config, ctx.clock, ctx.rng),
    what,
    signal,
    classify: storageRetryAction,
    onRetry: async (err, { action }) => {
      const error = asSpindleError(err);
      ctx.logger?.debug({ err: error.message, code: error.codeName, action }, 'storage request retried');
      onAction?.(action);
      if (action === 'refresh-routing' || action === 'failover') await ctx.refreshRouting();
    },
  }).catch((err: unknown) => {
    throw inContext(err, what);
  });
}

/** Prefixes an error's message with what was being done, keeping its code and retryability. */
export function inContext(err: unknown, what: string): SpindleError {
  const error = asSpindleError(err);
  if (error.errorCode === ErrorCode.RETRIES_EXHAUSTED || error.message.startsWith(what)) return error;
  return new SpindleError(error.errorCode, `${what}: ${error.message}`, { cause: error, retryable: error.retryable });
}
