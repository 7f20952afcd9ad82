// Node identity: which caller may register or heartbeat which storage node id.
//
// A storage credential names its node id (Principal.nodeId). A node id is bound, in the store
// (NCRD, cluster-store.ts), to the storage credential that first registered it; from then on only
// that credential may register it (whatever address it gives: a node that moved proves it holds
// the id by its credential) or heartbeat for it. So a client, another node, or an admin cannot
// take over a node id, point its chains at another address, or keep a dead node alive.
//
// Rules, checked before anything is stored:
// - client credentials register and heartbeat nothing;
// - a storage credential registers and heartbeats only as its own node id (a registration without
//   an id means that id; an id never seen before is created as it);
// - an admin credential registers and heartbeats only nodes that are not bound to a storage
//   credential (nodes that joined before authentication, which the first storage credential of
//   the id then binds);
// - a server with authentication off checks nothing (every caller is ANONYMOUS_ADMIN): a cluster
//   restarted with --auth off keeps working with the bindings it stored.
// Every refusal is PERMISSION_DENIED; the manager logs it with the caller.
import { ANONYMOUS_ADMIN, type Principal } from '../../common/auth/principal.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';

/** The caller of a RegisterNode or Heartbeat, as node identity sees it. */
export interface NodeCaller {
  /** The node id the credential names (storage credentials only). */
  readonly nodeId?: number;
  /** The identity a node id is bound to (storage credentials only). */
  readonly credential?: string;
  /** For messages and log lines. */
  readonly describe: string;
  /** Authentication is off: no binding is checked or made. */
  readonly unchecked?: boolean;
}

function denied(message: string): SpindleError {
  return new SpindleError(ErrorCode.PERMISSION_DENIED, message);
}

/** The caller of a node call; a client credential is refused here. */
export function nodeCallerOf(principal: Principal): NodeCaller {
  if (principal === ANONYMOUS_ADMIN)
    return { describe: 'a caller of a server without authentication', unchecked: true };
  if (principal.role === 'storage') {
    const nodeId = principal.nodeId ?? 0;
    if (!(nodeId >= 1)) throw denied(`storage credential of ${principal.user} names no node id`);
    return { nodeId, credential: `storage node ${nodeId}`, describe: `the credential of storage node ${nodeId}` };
  }
  if (principal.role === 'admin') return { describe: `admin ${principal.user}` };
  throw denied(
    `a ${principal.role} credential (${principal.user}) cannot register or heartbeat a storage node: ` +
      'storage nodes use their own node credential',
  );
}

/**
 * The node id a registration may act on: a storage caller's own id (0 in the request means it);
 * for an admin, the requested id (0: a new node or a retried first registration).
 */
export function registrationNodeId(caller: NodeCaller, requestedNodeId: number): number {
  if (caller.nodeId === undefined) return requestedNodeId;
  if (requestedNodeId !== 0 && requestedNodeId !== caller.nodeId) {
    throw denied(`${caller.describe} cannot register node ${requestedNodeId}: a node registers only as itself`);
  }
  return caller.nodeId;
}

/** Refuses a call for `nodeId` unless the caller holds the credential the id is bound to. */
export function checkNodeBinding(
  caller: NodeCaller,
  nodeId: number,
  bound: string | undefined,
  what: 'register' | 'heartbeat',
): void {
  if (caller.unchecked) return;
  if (caller.nodeId !== undefined && caller.nodeId !== nodeId) {
    throw denied(`${caller.describe} cannot ${what} as node ${nodeId}: a node speaks only for itself`);
  }
  if (bound === undefined || bound === caller.credential) return;
  throw denied(
    `node ${nodeId} is bound to the credential it registered with (${bound}); ` +
      `${caller.describe} cannot ${what} it`,
  );
}
