// Authentication of a storage node: its own token (role storage, naming its node id), sent on its
// calls to meta and to peers, and the cluster's public key, with which it verifies every caller's
// token itself — no call to meta per request (docs/security.md).
import type { ClusterPublicKey } from '../common/auth/cluster-key.js';
import type { Principal } from '../common/auth/principal.js';
import type { ServerAuth } from '../common/auth/server-auth.js';
import { TokenVerifier } from '../common/auth/token-verifier.js';
import type { Clock } from '../common/clock.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

export interface StorageAuthOptions {
  /** This node's bearer token (role storage). */
  token: string;
  /** The cluster's public key (meta's DATA_DIR/auth/cluster-key.pub.pem). */
  publicKey: ClusterPublicKey;
}

export interface StorageAuth {
  readonly token: string;
  /** What the node's own token names (its node id). */
  readonly self: Principal & { nodeId: number };
  readonly verifier: TokenVerifier;
  readonly server: ServerAuth;
}

export function setUpStorageAuth(options: StorageAuthOptions, clock: Clock, logger: Logger): StorageAuth {
  const verifier = new TokenVerifier(options.publicKey, () => clock.nowMs());
  let self: Principal;
  try {
    self = verifier.verify(options.token);
  } catch (err) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      'the node token (--token-file) does not verify with the cluster key (--auth-public-key): ' +
        (err as Error).message,
      { cause: err },
    );
  }
  if (self.role !== 'storage' || self.nodeId === undefined) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `the node token (--token-file) has role ${self.role}; a storage node needs one minted with ` +
        '`spindle admin token create --role storage --node N`',
    );
  }
  return {
    token: options.token,
    self: self as Principal & { nodeId: number },
    verifier,
    server: { verifier, logger: logger.child({ component: 'storage.auth' }) },
  };
}

/** The node id to register with: the persisted one, which must be the token's, else the token's. */
export function nodeIdToRegister(
  persisted: number | undefined,
  auth: StorageAuth | undefined,
  dataDir: string,
): number {
  if (auth === undefined) return persisted ?? 0;
  if (persisted !== undefined && persisted !== auth.self.nodeId) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `${dataDir}/node.json says node ${persisted} but the node token (--token-file) is for node ` +
        `${auth.self.nodeId}; give this data directory the token of its own node`,
    );
  }
  return auth.self.nodeId;
}

/** The bulk listener's hello check: the session's principal, undefined (refused) for a bad token. */
export function bulkAuthenticator(
  auth: StorageAuth | undefined,
): ((credential: string) => Principal | undefined) | undefined {
  if (auth === undefined) return undefined;
  return (credential) => {
    try {
      return auth.verifier.verify(credential);
    } catch {
      return undefined;
    }
  };
}
