// Who may call the agent: on its Unix socket, anyone the socket file's permissions let connect
// (0600: the user running the agent); on TCP, a caller sending the agent's own bearer token
// (`authorization: Bearer <token>`, the token the agent uses with the cluster). The agent then acts
// for the caller with that token's identity. No token (a cluster with authentication off): TCP is open.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerAuth } from '../common/auth/server-auth.js';
import { ownTokenPrincipal } from '../common/auth/token.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The check of the agent's TCP listener, or undefined when there is no token to compare with. */
export function agentTcpAuth(token: string | undefined, logger: Pick<Logger, 'warn'>): ServerAuth | undefined {
  if (token === undefined) return undefined;
  const principal = ownTokenPrincipal(token) ?? { role: 'client' as const, user: 'agent', uid: 0, gid: 0 };
  const expected = digest(token);
  return {
    logger,
    verifier: {
      verify(presented: string) {
        // Compared as digests: equal length, and no timing hint about the token's bytes.
        if (!timingSafeEqual(digest(presented), expected)) {
          throw new SpindleError(
            ErrorCode.UNAUTHENTICATED,
            "the agent accepts on TCP only its own cluster token (SPINDLE_TOKEN, or the agent's --token-file)",
          );
        }
        return principal;
      },
    },
  };
}
