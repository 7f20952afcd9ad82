// The cluster-manager role: which meta process may change chains and routing. With lmdb there is
// one meta process and it always holds the role (no ManagerRole at all); with etcd, several meta
// processes campaign and one holds it through an etcd lease (etcd-manager-role.ts).
//
// Fencing: every change the manager stores runs `fence(txn)` inside its own transaction. It reads
// the role's key, so the engine's serializable commit fails when the key changed or vanished (the
// lease ended) between that read and the commit: a deposed manager that wakes up changes nothing.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { KeyPrefix, encodeKey } from '../../common/keys.js';
import type { KvTxn } from '../kv/engine.js';

/** KV key of the role's holder record (written with the holder's etcd lease). */
export const MANAGER_ROLE_KEY = encodeKey(KeyPrefix.ROUTING, 'manager');

export interface ManagerRoleEvents {
  /** This process now holds the role: load the state and start managing. */
  acquired(): Promise<void>;
  /** This process lost the role: stop changing anything (the fence refuses it anyway). */
  lost(reason: string): void;
}

export interface ManagerRole {
  /** Starts campaigning; `events` hear every gain and loss. */
  start(events: ManagerRoleEvents): void;
  /** Inside the transaction of a change: throws unless this process still holds the role. */
  fence(txn: KvTxn): Promise<void>;
  /** Address of the meta process holding the role, when known (for the standby's answer). */
  holderAddress(): string | undefined;
  /** Gives the role up (a standby takes over at once) and stops campaigning. Idempotent. */
  close(): Promise<void>;
}

/** The error a meta process without the role answers Mgmt calls with: retryable, so callers move on. */
export function standbyError(holder: string | undefined): SpindleError {
  const where = holder === undefined ? 'no meta process holds it right now' : `the manager is at ${holder}`;
  return new SpindleError(
    ErrorCode.RPC_UNAVAILABLE,
    `this meta process is a standby for the cluster-manager role (${where}); ` +
      'give clients and storage nodes every meta address (--meta a:p,b:q) and they move on by themselves',
  );
}
