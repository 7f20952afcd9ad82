// Authentication of the meta process: its cluster key (the private half signs tokens), the check
// every Meta and Mgmt call passes, and the admin token meta sends on its own storage calls
// (garbage collection, truncation, length recovery). Off: no key, no check (docs/security.md).
import { join } from 'node:path';
import type { Clock } from '../common/clock.js';
import { type ClusterKey, loadOrCreateClusterKey, readPrivateKeyFile } from '../common/auth/cluster-key.js';
import type { ServerAuth } from '../common/auth/server-auth.js';
import { mintToken } from '../common/auth/token.js';
import { TokenVerifier } from '../common/auth/token-verifier.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

export interface MetaAuthOptions {
  /** false: every call is accepted as ANONYMOUS_ADMIN (a benchmark's baseline, a closed network). */
  enabled: boolean;
  /**
   * PEM Ed25519 private key of the cluster (several meta processes on one etcd share it). Default
   * DATA_DIR/auth/cluster-key.pem, created on first start.
   */
  keyFile?: string;
}

export interface MetaAuth {
  readonly key: ClusterKey;
  readonly server: ServerAuth;
  readonly verifier: TokenVerifier;
  /** Meta's own admin token for its calls to storage nodes. */
  readonly ownToken: string;
}

/** Subdirectory of --data-dir holding the cluster key pair when no --auth-key is given. */
const AUTH_DIRECTORY = 'auth';

export async function setUpMetaAuth(
  options: MetaAuthOptions,
  dataDir: string | undefined,
  clock: Clock,
  logger: Logger,
): Promise<MetaAuth | undefined> {
  if (!options.enabled) {
    logger.warn('authentication is off: any caller that reaches this port may do anything');
    return undefined;
  }
  let key: ClusterKey;
  if (options.keyFile !== undefined) key = await readPrivateKeyFile(options.keyFile);
  else if (dataDir !== undefined && dataDir !== '') key = await loadOrCreateClusterKey(join(dataDir, AUTH_DIRECTORY));
  else
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      'authentication needs the cluster key: give every meta process the same --auth-key FILE (or --auth off)',
    );
  const verifier = new TokenVerifier(key, () => clock.nowMs());
  const ownToken = mintToken(key, { role: 'admin', user: 'spindle-meta', uid: 0, gid: 0 }, clock.nowMs());
  logger.info({ keyId: key.keyId }, 'authentication on');
  return { key, verifier, ownToken, server: { verifier, logger: logger.child({ component: 'meta.auth' }) } };
}
