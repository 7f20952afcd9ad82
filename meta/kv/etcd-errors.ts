// What an etcd failure means to a Spindle caller: the etcd3 package throws its own error classes
// (and cockatiel's BrokenCircuitError when every endpoint failed recently); this maps them to one
// SpindleError a user can act on. Unreachable or leaderless etcd is RPC_UNAVAILABLE (retryable: a
// client fails over or waits); etcd's size and operation limits are INVALID_ARGUMENT (re-sending
// the same request cannot help).
import { ErrorCode, SpindleError } from '../../common/errors.js';

/** etcd compacted the revision a transaction's snapshot reads at: the transaction re-runs. */
export function isCompactedError(error: unknown): boolean {
  return error instanceof Error && error.message.includes('required revision has been compacted');
}

const UNAVAILABLE_MESSAGES = [
  'no leader',
  'request timed out',
  'leader changed',
  'too many requests',
  'not capable',
  'Breaker is open',
  'Deadline exceeded',
  'No connection established',
  'connection',
  'unhealthy cluster',
  'server stopped',
  'cancelled',
  'ECONNREFUSED',
  'ECONNRESET',
  'dropped',
];

function unavailable(error: Error): boolean {
  const name = error.constructor.name;
  if (name === 'BrokenCircuitError') return true;
  // The etcd3 package's gRPC failures (connect failed, cancelled, unavailable, deadline…) are what
  // a member going away looks like from here; the limits above are recognised before this.
  if (name.startsWith('GRPC')) return true;
  return UNAVAILABLE_MESSAGES.some((text) => error.message.includes(text));
}

/** Maps an error thrown by an etcd call to a SpindleError (SpindleErrors pass through). */
export function etcdError(error: unknown, endpoints: readonly string[], limits: string): SpindleError {
  if (error instanceof SpindleError) return error;
  const cause = error instanceof Error ? error : new Error(String(error));
  const where = endpoints.join(',');
  if (cause.message.includes('too many operations in txn request')) {
    return new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `etcd at ${where} refused a transaction with more operations than its --max-txn-ops (${limits}); ` +
        'start etcd with a larger --max-txn-ops or give the engine the limit the server has',
      { cause },
    );
  }
  if (cause.message.includes('request is too large') || cause.message.includes('larger than max')) {
    return new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `etcd at ${where} refused a request larger than its --max-request-bytes (${limits}); ` +
        'start etcd with a larger --max-request-bytes or give the engine the limit the server has',
      { cause },
    );
  }
  if (cause.constructor.name === 'ClientClosedError') {
    return new SpindleError(ErrorCode.CANCELLED, 'kv engine etcd is closed', { cause });
  }
  if (unavailable(cause)) {
    return new SpindleError(
      ErrorCode.RPC_UNAVAILABLE,
      `etcd at ${where} is unavailable (${cause.message}); metadata writes wait until a quorum of ` +
        'etcd members is reachable again',
      { cause },
    );
  }
  return new SpindleError(ErrorCode.INTERNAL, `etcd at ${where} failed: ${cause.message}`, { cause });
}
