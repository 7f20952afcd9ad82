// Mgmt.CreateToken: an admin mints a token for a user (client or admin) or a storage node, signed
// with the cluster key this meta process holds. The method table (common/auth/method-roles.ts)
// lets only admins call it; validation happens before anything is signed.
import type { ClusterKey } from '../common/auth/cluster-key.js';
import type { Role } from '../common/auth/principal.js';
import { mintToken } from '../common/auth/token.js';
import type { Clock } from '../common/clock.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { CreateTokenRequest, CreateTokenResponse } from '../proto/index.js';

const ROLES: readonly string[] = ['admin', 'client', 'storage'];
/** Longest lifetime a token may be given: ten years. */
const TOKEN_TTL_MAX_SECONDS = 10 * 365 * 24 * 3600;

export function createTokenHandler(
  key: ClusterKey | undefined,
  clock: Clock,
): (request: CreateTokenRequest) => Promise<CreateTokenResponse> {
  return async (request) => {
    if (key === undefined) {
      throw new SpindleError(
        ErrorCode.FAILED_PRECONDITION,
        'authentication is off on this cluster (meta --auth off): it accepts calls without tokens',
      );
    }
    if (!ROLES.includes(request.role))
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `role must be client, admin or storage, got ${request.role}`);
    const role = request.role as Role;
    if (role === 'storage' && request.nodeId === 0)
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'a storage token needs the node id it belongs to (--node N)');
    if (role !== 'storage' && request.nodeId !== 0)
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'only a storage token names a node id');
    const ttl = Number(request.ttlSeconds);
    if (!Number.isSafeInteger(ttl) || ttl < 0 || ttl > TOKEN_TTL_MAX_SECONDS)
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `ttl must be 0 (no expiry) to ${TOKEN_TTL_MAX_SECONDS} s`);
    const nowMs = clock.nowMs();
    const user = request.user === '' && role === 'storage' ? `node-${request.nodeId}` : request.user;
    const token = mintToken(
      key,
      {
        role,
        user,
        uid: request.uid,
        gid: request.gid,
        ...(role === 'storage' ? { nodeId: request.nodeId } : {}),
        ...(ttl === 0 ? {} : { expiresAtSec: Math.floor(nowMs / 1000) + ttl }),
      },
      nowMs,
    );
    return { token, keyId: key.keyId };
  };
}
