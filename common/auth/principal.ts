// Who is calling: the identity a verified credential names. Every server call's context carries
// one (common/rpc.ts); a server with authentication off sees ANONYMOUS_ADMIN for every caller.

/** What a credential allows: storage nodes talk to meta and each other, clients use files, admins run the cluster. */
export type Role = 'admin' | 'client' | 'storage';

export interface Principal {
  readonly role: Role;
  /** The user the credential names ('node-3' for a storage node). */
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  /** Only for role 'storage': the node id the credential was minted for. */
  readonly nodeId?: number;
}

/** What a server with authentication disabled sees for every caller: an admin acting as root. */
export const ANONYMOUS_ADMIN: Principal = Object.freeze({ role: 'admin', user: 'root', uid: 0, gid: 0 });
