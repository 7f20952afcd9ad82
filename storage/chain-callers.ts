// Who may send a chain's internal calls to one of its targets: a replication Update, a forwarded
// RemoveChunks, a resync copy and SyncDone change a replica without passing through the head, so
// they are accepted only from the node that is the target's predecessor in the routing at the
// request's chain version (the node that forwards writes to it, or resyncs it). A client, another
// node, or an admin sending them straight to a replica would make the replicas diverge with valid
// checksums; they are refused with PERMISSION_DENIED and logged.
//
// A server with authentication off sees every caller as ANONYMOUS_ADMIN and keeps accepting them
// (as before authentication existed). An admin credential gets no exception: nothing an operator
// does needs to write one replica behind the chain's back (repairs go through resync).
import { ANONYMOUS_ADMIN, type Principal } from '../common/auth/principal.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { ChainView } from './routing-view.js';

function describeCaller(caller: Principal): string {
  return caller.role === 'storage' ? `storage node ${caller.nodeId ?? '?'}` : `${caller.role} ${caller.user}`;
}

/** Throws PERMISSION_DENIED (and logs it) unless `caller` is the node of the target's predecessor. */
export function requireChainPredecessor(caller: Principal, view: ChainView, what: string, logger: Logger): void {
  if (caller === ANONYMOUS_ADMIN) return;
  const predecessor = view.predecessor;
  if (caller.role === 'storage' && predecessor !== undefined && caller.nodeId === predecessor.nodeId) return;
  const expected =
    predecessor === undefined
      ? 'it is the head of the chain and takes no replication calls'
      : `it takes them only from its predecessor, node ${predecessor.nodeId} (target ${predecessor.targetId})`;
  logger.warn(
    {
      what,
      chainId: view.chainId,
      chainVersion: view.chainVersion,
      targetId: view.localTargetId,
      role: caller.role,
      user: caller.user,
      callerNodeId: caller.nodeId,
      predecessorNodeId: predecessor?.nodeId,
    },
    'chain call refused: not from the predecessor',
  );
  throw new SpindleError(
    ErrorCode.PERMISSION_DENIED,
    `${what} to target ${view.localTargetId} of chain ${view.chainId} refused for ` +
      `${describeCaller(caller)}: ${expected}`,
  );
}
