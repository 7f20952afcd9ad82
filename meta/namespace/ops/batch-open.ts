// BatchOpen: many opens in one call — what a client sends when many of its open()/create calls are
// in flight at once, so that meta pays the gRPC cost once per batch instead of once per file.
//
// Each item is exactly an Open (open.ts): its own idempotency tag (a retried batch replays the
// items that were applied), its own transaction, its own status (EEXIST for one name fails only
// that item). The items run concurrently; creates in one directory queue in its write lane
// (write-lanes.ts) instead of conflicting, and their fsyncs share lmdb's group commit. Only a bad
// batch as a whole (too many items) or a bug fails the call.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import type { BatchOpenRequest, BatchOpenResponse, BatchOpenResult } from '../../../proto/index.js';
import { OPEN_BATCH_MAX } from '../constants.js';
import type { NamespaceContext } from '../context.js';
import { open } from './open.js';

const METHOD = 'BatchOpen';

export async function batchOpen(ctx: NamespaceContext, request: BatchOpenRequest, signal?: AbortSignal): Promise<BatchOpenResponse> {
  const count = request.requests.length;
  if (count > OPEN_BATCH_MAX) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${METHOD}: ${count} opens requested; at most ${OPEN_BATCH_MAX} per call (split the batch)`);
  }
  const results = await Promise.all(
    request.requests.map((item) =>
      open(ctx, item, signal).then(
        (response): BatchOpenResult => ({ status: { code: ErrorCode.OK, message: '' }, response }),
        (err: unknown): BatchOpenResult => {
          if (!(err instanceof SpindleError)) throw err;
          return { status: { code: err.errorCode, message: err.message }, response: undefined };
        },
      ),
    ),
  );
  return { results };
}
