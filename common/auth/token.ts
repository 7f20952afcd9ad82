// Bearer tokens: `spindle1.<claims>.<signature>`, the claims base64url JSON (cluster key id, role,
// user, uid, gid, node id for storage nodes, issue and optional expiry time in seconds), the
// signature Ed25519 over `spindle1.<claims>` with the cluster's private key. Anyone with the public
// key verifies one offline; only the holder of the private key (meta, the launcher) mints one.
import { sign, verify } from 'node:crypto';
import { ErrorCode, SpindleError } from '../errors.js';
import { NODE_ID_MAX } from '../target-ids.js';
import type { ClusterKey, ClusterPublicKey } from './cluster-key.js';
import { TOKEN_MAX_CHARS, TOKEN_USER_MAX_CHARS } from './constants.js';
import type { Principal, Role } from './principal.js';

const TOKEN_PREFIX = 'spindle1';
const ROLES: readonly Role[] = ['admin', 'client', 'storage'];
/** uid/gid are 32-bit unsigned, as in POSIX. */
const ID_MAX = 0xffff_ffff;

export interface TokenClaims extends Principal {
  /** Seconds since the epoch; absent: the token does not expire. */
  readonly expiresAtSec?: number;
}

interface WireClaims {
  k: string;
  r: Role;
  u: string;
  uid: number;
  gid: number;
  n?: number;
  iat: number;
  exp?: number;
}

/** Checks claims before they are signed or after they were read; returns the problem, if any. */
function claimsProblem(c: Partial<WireClaims>): string | undefined {
  if (typeof c.k !== 'string') return 'no cluster key id';
  if (!ROLES.includes(c.r as Role)) return `unknown role ${JSON.stringify(c.r)}`;
  if (typeof c.u !== 'string' || c.u === '' || c.u.length > TOKEN_USER_MAX_CHARS) return 'bad user name';
  for (const id of [c.uid, c.gid])
    if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) > ID_MAX) {
      return 'bad uid or gid';
    }
  if (c.r === 'storage' && !(Number.isSafeInteger(c.n) && (c.n as number) >= 1 && (c.n as number) <= NODE_ID_MAX))
    return 'a storage token must name a node id';
  if (c.r !== 'storage' && c.n !== undefined) return 'only a storage token names a node id';
  if (!Number.isSafeInteger(c.iat)) return 'bad issue time';
  if (c.exp !== undefined && !Number.isSafeInteger(c.exp)) return 'bad expiry time';
  return undefined;
}

/** Signs a token for `claims` with the cluster's private key. */
export function mintToken(key: ClusterKey, claims: TokenClaims, nowMs: number): string {
  const wire: WireClaims = {
    k: key.keyId,
    r: claims.role,
    u: claims.user,
    uid: claims.uid,
    gid: claims.gid,
    ...(claims.nodeId === undefined ? {} : { n: claims.nodeId }),
    iat: Math.floor(nowMs / 1000),
    ...(claims.expiresAtSec === undefined ? {} : { exp: claims.expiresAtSec }),
  };
  const problem = claimsProblem(wire);
  if (problem !== undefined) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `cannot mint a token: ${problem}`);
  const signed = `${TOKEN_PREFIX}.${Buffer.from(JSON.stringify(wire)).toString('base64url')}`;
  const signature = sign(null, Buffer.from(signed), key.privateKey).toString('base64url');
  return `${signed}.${signature}`;
}

function refused(why: string): SpindleError {
  return new SpindleError(ErrorCode.UNAUTHENTICATED, `the bearer token was refused: ${why}`);
}

/**
 * Verifies a token's signature and claims with the cluster's public key (one Ed25519 verify; callers
 * cache the result). Throws UNAUTHENTICATED saying why; the expiry is left to the caller.
 */
export function verifyToken(key: ClusterPublicKey, token: string): TokenClaims {
  if (token.length > TOKEN_MAX_CHARS) throw refused(`longer than ${TOKEN_MAX_CHARS} characters`);
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX) throw refused('not a Spindle token (spindle1.<claims>.<sig>)');
  let wire: Partial<WireClaims>;
  try {
    wire = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Partial<WireClaims>;
  } catch {
    throw refused('its claims are not readable');
  }
  if (wire === null || typeof wire !== 'object') throw refused('its claims are not readable');
  if (typeof wire.k === 'string' && wire.k !== key.keyId) {
    throw refused(`it was minted for another cluster (key ${wire.k.slice(0, 16)}, this cluster's key is ${key.keyId})`);
  }
  const signature = Buffer.from(parts[2]!, 'base64url');
  if (!verify(null, Buffer.from(`${parts[0]}.${parts[1]}`), key.publicKey, signature)) {
    throw refused('its signature does not match (forged or altered)');
  }
  const problem = claimsProblem(wire);
  if (problem !== undefined) throw refused(problem);
  const claims = wire as WireClaims;
  return {
    role: claims.r,
    user: claims.u,
    uid: claims.uid,
    gid: claims.gid,
    ...(claims.n === undefined ? {} : { nodeId: claims.n }),
    ...(claims.exp === undefined ? {} : { expiresAtSec: claims.exp }),
  };
}

/**
 * What a token says about its holder, without checking its signature: for a process that holds a
 * token of its own and needs to know its role (the agent), never for deciding about a caller.
 */
export function ownTokenPrincipal(token: string): Principal | undefined {
  try {
    const wire = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as WireClaims;
    if (claimsProblem(wire) !== undefined) return undefined;
    const { r: role, u: user, uid, gid, n: nodeId } = wire;
    return { role, user, uid, gid, ...(nodeId === undefined ? {} : { nodeId }) };
  } catch {
    return undefined;
  }
}
