// Turns a bearer token into a Principal on a server. The first sight of a token costs one Ed25519
// verify; after that it is one Map lookup (plus an expiry compare for tokens that expire), which is
// what the hot path (tens of thousands of small reads a second) pays.
import { ErrorCode, SpindleError } from '../errors.js';
import type { ClusterPublicKey } from './cluster-key.js';
import { VERIFIED_TOKENS_MAX } from './constants.js';
import type { Principal } from './principal.js';
import { verifyToken } from './token.js';

interface Verified {
  readonly principal: Principal;
  /** Milliseconds since the epoch; Infinity: never expires. */
  readonly expiresAtMs: number;
}

export class TokenVerifier {
  private readonly verified = new Map<string, Verified>();

  constructor(
    readonly key: ClusterPublicKey,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** The token's principal; UNAUTHENTICATED (saying why) for a forged, foreign, malformed or expired token. */
  verify(token: string): Principal {
    let entry = this.verified.get(token);
    if (entry === undefined) {
      const claims = verifyToken(this.key, token);
      const { expiresAtSec, ...principal } = claims;
      entry = {
        principal: Object.freeze(principal),
        expiresAtMs: expiresAtSec === undefined ? Number.POSITIVE_INFINITY : expiresAtSec * 1000,
      };
      if (this.verified.size >= VERIFIED_TOKENS_MAX) this.verified.clear();
      this.verified.set(token, entry);
    }
    if (entry.expiresAtMs !== Number.POSITIVE_INFINITY && entry.expiresAtMs <= this.nowMs()) {
      throw new SpindleError(
        ErrorCode.UNAUTHENTICATED,
        `the bearer token of ${entry.principal.user} expired; mint a new one with \`spindle admin token create\``,
      );
    }
    return entry.principal;
  }
}
