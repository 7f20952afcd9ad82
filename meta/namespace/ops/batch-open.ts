// BatchOpen: many opens in one call — what a client sends when many of its open()/create calls are
// in flight at once, so that meta pays the gRPC cost once per batch instead of once per file.
//
// Each item behaves exactly as its own Open (open.ts): its own idempotency tag (a retried batch
// replays the items that were applied), its own status (EEXIST for one name fails only that
// item), nothing changed by an item that fails. Exclusive creates (O_CREAT|O_EXCL, what `wx`
// sends) run together as one transaction group (NamespaceContext.mutateGroup): one commit and
// one fsync for all of them, the shared directories read and decoded once, their inode written
// once — possible because such a create throws only before it writes. Every other open runs as
// its own transaction, concurrently. Only a bad batch as a whole (too many items) or a bug fails
// the call.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import {
  OpenRequest,
  OpenResponse,
  type BatchOpenRequest,
  type BatchOpenResponse,
  type BatchOpenResult,
  type PathAt,
} from '../../../proto/index.js';
import { OPEN_BATCH_MAX } from '../constants.js';
import type { GroupMember, NamespaceContext } from '../context.js';
import { directoryKey } from '../path.js';
import { ADMIN_CALLER, type Caller } from '../permissions.js';
import { requireMode, requirePathAt } from '../validate.js';
import { OPEN_METHOD, open, openInTxn } from './open.js';

const METHOD = 'BatchOpen';

export async function batchOpen(
  ctx: NamespaceContext,
  request: BatchOpenRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<BatchOpenResponse> {
  const count = request.requests.length;
  if (count > OPEN_BATCH_MAX) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${METHOD}: ${count} opens requested; at most ${OPEN_BATCH_MAX} per call (split the batch)`,
    );
  }
  const results: BatchOpenResult[] = new Array(count);
  const group: Array<{ index: number; member: GroupMember<OpenResponse> }> = [];
  const alone: Array<Promise<void>> = [];
  request.requests.forEach((item, index) => {
    let at: PathAt | undefined;
    try {
      if (item.create && item.exclusive) {
        at = requirePathAt(item.at, OPEN_METHOD);
        requireMode(item.mode, OPEN_METHOD);
      }
    } catch (err) {
      results[index] = failed(err);
      return;
    }
    if (at !== undefined) {
      const valid = at;
      group.push({
        index,
        member: {
          tag: item.tag,
          requestBytes: OpenRequest.encode(item).finish(),
          lanes: [directoryKey(valid)],
          body: (mt, ids) => openInTxn(ctx, item, valid, mt, ids, caller),
        },
      });
      return;
    }
    alone.push(
      open(ctx, item, signal, caller).then(
        (response) => {
          results[index] = { status: { code: ErrorCode.OK, message: '' }, response };
        },
        (err: unknown) => {
          results[index] = failed(err);
        },
      ),
    );
  });
  // Both awaited together, so a failure of one never leaves the other's rejection unobserved.
  const [outcomes] = await Promise.all([
    group.length === 0
      ? []
      : ctx.mutateGroup(
          { method: OPEN_METHOD, response: OpenResponse, idsPerMember: 1, signal },
          group.map((item) => item.member),
        ),
    Promise.all(alone),
  ]);
  group.forEach((item, i) => {
    const outcome = outcomes[i]!;
    results[item.index] = outcome.ok
      ? { status: { code: ErrorCode.OK, message: '' }, response: outcome.response }
      : failed(outcome.error);
  });
  return { results };
}

/** The result of an item that failed the way a single Open would; a bug fails the whole call. */
function failed(err: unknown): BatchOpenResult {
  if (!(err instanceof SpindleError)) throw err;
  return { status: { code: err.errorCode, message: err.message }, response: undefined };
}
