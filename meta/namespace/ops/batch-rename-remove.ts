// BatchRename and BatchRemove: many renames (or unlinks/rmdirs) in one call — what a client sends
// when many of its rename()/rm() calls are in flight at once, so that meta pays the gRPC cost once
// per batch instead of once per entry (with 64 in flight, that cost bounded throughput).
//
// Each item behaves exactly as its own Rename or Remove (rename.ts, remove.ts): the same checks
// (permissions of the call's principal, sticky bits, POSIX replace rules), its own idempotency tag
// and record under the single call's method name (a retried batch replays the items that were
// applied; a retried single call answers what its batch did), its own status, and nothing changed
// by an item that fails. The items run as one transaction group (NamespaceContext.mutateGroup):
// as if one after another in request order, with one commit and one fsync for all of them —
// possible because every check of a rename or remove throws before it writes. A recursive remove
// may take several transactions, so it runs on its own, concurrently with the group. Only a bad
// batch as a whole (too many items) or a bug fails the call.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import {
  RemoveRequest,
  RemoveResponse,
  RenameRequest,
  RenameResponse,
  type BatchRemoveRequest,
  type BatchRemoveResponse,
  type BatchRenameRequest,
  type BatchRenameResponse,
  type MessageFns,
  type Status,
} from '../../../proto/index.js';
import { RENAME_REMOVE_BATCH_MAX } from '../constants.js';
import type { GroupMember, NamespaceContext } from '../context.js';
import { directoryKey } from '../path.js';
import { ADMIN_CALLER, type Caller } from '../permissions.js';
import { requirePathAt } from '../validate.js';
import { REMOVE_METHOD, remove, removeInTxn } from './remove.js';
import { RENAME_METHOD, renameInTxn } from './rename.js';

/** One item's result in a batch response. */
interface ItemResult<Res> {
  status: Status;
  response: Res | undefined;
}

export async function batchRename(
  ctx: NamespaceContext,
  request: BatchRenameRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<BatchRenameResponse> {
  requireBatchSize('BatchRename', request.requests.length, 'renames');
  const results: Array<ItemResult<RenameResponse>> = new Array(request.requests.length);
  const group: Array<{ index: number; member: GroupMember<RenameResponse> }> = [];
  request.requests.forEach((item, index) => {
    try {
      const fromAt = requirePathAt(item.from, RENAME_METHOD, 'from');
      const toAt = requirePathAt(item.to, RENAME_METHOD, 'to');
      group.push({
        index,
        member: {
          tag: item.tag,
          requestBytes: RenameRequest.encode(item).finish(),
          lanes: [directoryKey(fromAt), directoryKey(toAt)],
          body: (mt) => renameInTxn(mt, item, fromAt, toAt, caller),
        },
      });
    } catch (err) {
      results[index] = failed(err);
    }
  });
  await runGroup(ctx, RENAME_METHOD, RenameResponse, group, results, signal);
  return { results };
}

export async function batchRemove(
  ctx: NamespaceContext,
  request: BatchRemoveRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<BatchRemoveResponse> {
  requireBatchSize('BatchRemove', request.requests.length, 'removes');
  const results: Array<ItemResult<RemoveResponse>> = new Array(request.requests.length);
  const group: Array<{ index: number; member: GroupMember<RemoveResponse> }> = [];
  const alone: Array<Promise<void>> = [];
  request.requests.forEach((item, index) => {
    if (item.recursive) {
      alone.push(
        remove(ctx, item, signal, caller).then(
          (response) => {
            results[index] = succeeded(response);
          },
          (err: unknown) => {
            results[index] = failed(err);
          },
        ),
      );
      return;
    }
    try {
      const at = requirePathAt(item.at, REMOVE_METHOD);
      group.push({
        index,
        member: {
          tag: item.tag,
          requestBytes: RemoveRequest.encode(item).finish(),
          lanes: [directoryKey(at)],
          body: (mt) => removeInTxn(mt, item, at, caller),
        },
      });
    } catch (err) {
      results[index] = failed(err);
    }
  });
  // Both awaited together, so a failure of one never leaves the other's rejection unobserved.
  await Promise.all([runGroup(ctx, REMOVE_METHOD, RemoveResponse, group, results, signal), Promise.all(alone)]);
  return { results };
}

function requireBatchSize(method: string, count: number, what: string): void {
  if (count > RENAME_REMOVE_BATCH_MAX) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${method}: ${count} ${what} requested; at most ${RENAME_REMOVE_BATCH_MAX} per call (split the batch)`,
    );
  }
}

/** Runs the group's members as one transaction and puts each outcome at its item's index. */
async function runGroup<Res>(
  ctx: NamespaceContext,
  method: string,
  response: MessageFns<Res>,
  group: Array<{ index: number; member: GroupMember<Res> }>,
  results: Array<ItemResult<Res>>,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (group.length === 0) return;
  const outcomes = await ctx.mutateGroup(
    { method, response, idsPerMember: 0, signal },
    group.map((item) => item.member),
  );
  group.forEach((item, i) => {
    const outcome = outcomes[i]!;
    results[item.index] = outcome.ok ? succeeded(outcome.response) : failed(outcome.error);
  });
}

function succeeded<Res>(response: Res): ItemResult<Res> {
  return { status: { code: ErrorCode.OK, message: '' }, response };
}

/** The result of an item that failed the way a single call would; a bug fails the whole call. */
function failed<Res>(err: unknown): ItemResult<Res> {
  if (!(err instanceof SpindleError)) throw err;
  return { status: { code: err.errorCode, message: err.message }, response: undefined };
}
