// The credential check of every gRPC server (common/rpc.ts startGrpcServer): each method handler is
// wrapped so that, before any work, the call's `authorization: Bearer <token>` metadata is verified
// (UNAUTHENTICATED when missing or refused) and the principal's role is checked against
// METHOD_ROLES (PERMISSION_DENIED). The handler finds the principal on its CallContext.
import type {
  Metadata,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  UntypedHandleCall,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { assert, ErrorCode, SpindleError } from '../errors.js';
import { toGrpcError } from '../grpc-errors.js';
import type { Logger } from '../logger.js';
import { rolesOf } from './method-roles.js';
import type { Principal, Role } from './principal.js';
import type { TokenVerifier } from './token-verifier.js';

export interface ServerAuth {
  /** A TokenVerifier, or anything else that turns a bearer token into a principal (the agent's check). */
  readonly verifier: Pick<TokenVerifier, 'verify'>;
  /** Refused calls are logged here (at most one line a second, so a flood cannot fill the disk). */
  readonly logger?: Pick<Logger, 'warn'>;
}

/** Where a wrapped handler leaves the caller's principal for ServerCallContext. */
export const CALL_PRINCIPAL = Symbol('spindle.principal');

const HOW_TO_AUTHENTICATE =
  'send `authorization: Bearer <token>` call metadata; the CLI finds the token that `spindle up` stored in ' +
  '~/.spindle/credentials.json for this --meta address, or takes --token-file FILE / $SPINDLE_TOKEN ' +
  '(docs/security.md)';

function bearerOf(metadata: Metadata): string {
  const values = metadata.get('authorization');
  const header = values[0];
  if (values.length === 0 || typeof header !== 'string')
    throw new SpindleError(ErrorCode.UNAUTHENTICATED, `no credential: ${HOW_TO_AUTHENTICATE}`);
  if (header.length < 7 || header.slice(0, 7).toLowerCase() !== 'bearer ')
    throw new SpindleError(
      ErrorCode.UNAUTHENTICATED,
      `the authorization metadata is not a Bearer token: ${HOW_TO_AUTHENTICATE}`,
    );
  return header.slice(7).trim();
}

/** The principal of a call to `path` (allowed `roles`); throws UNAUTHENTICATED or PERMISSION_DENIED. */
function authorizeCall(
  verifier: ServerAuth['verifier'],
  path: string,
  roles: readonly Role[],
  metadata: Metadata,
): Principal {
  const principal = verifier.verify(bearerOf(metadata));
  if (!roles.includes(principal.role)) {
    throw new SpindleError(
      ErrorCode.PERMISSION_DENIED,
      `${path} needs a ${roles.join(' or ')} credential; ${principal.user} holds a ${principal.role} one ` +
        '(an admin mints others with `spindle admin token create --role ROLE --user NAME`)',
    );
  }
  return principal;
}

/**
 * For calls that arrive outside gRPC (bulk calls on an authenticated session): PERMISSION_DENIED
 * unless the principal's role may call the gRPC method `path` that does the same work.
 */
export function requireRole(principal: Principal, path: string): void {
  const roles = rolesOf(path);
  assert(roles !== undefined && roles !== 'open', `${path} is missing from common/auth/method-roles.ts`);
  if (!roles.includes(principal.role)) {
    throw new SpindleError(
      ErrorCode.PERMISSION_DENIED,
      `${path} needs a ${roles.join(' or ')} credential; ${principal.user} holds a ${principal.role} one`,
    );
  }
}

type AnyCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

class RefusalLog {
  private lastMs = 0;
  private suppressed = 0;

  constructor(private readonly logger: Pick<Logger, 'warn'> | undefined) {}

  note(path: string, call: AnyCall, err: SpindleError): void {
    const now = Date.now();
    if (now - this.lastMs < 1_000) {
      this.suppressed++;
      return;
    }
    this.logger?.warn(
      {
        method: path,
        peer: call.getPeer(),
        code: ErrorCode[err.errorCode],
        reason: err.message,
        suppressed: this.suppressed,
      },
      'call refused',
    );
    this.lastMs = now;
    this.suppressed = 0;
  }
}

/** Wraps one handler: check first, then the handler with the principal on the call. */
function checked(
  handler: UntypedHandleCall,
  path: string,
  roles: readonly Role[],
  streamingAnswer: boolean,
  auth: ServerAuth,
  refusals: RefusalLog,
): UntypedHandleCall {
  const wrapped = (call: AnyCall, callback?: (err: unknown) => void) => {
    let principal: Principal;
    try {
      principal = authorizeCall(auth.verifier, path, roles, call.metadata);
    } catch (err) {
      refusals.note(path, call, err as SpindleError);
      const status = toGrpcError(err);
      if (streamingAnswer) (call as ServerWritableStream<unknown, unknown>).emit('error', status);
      else callback?.(status);
      return;
    }
    (call as unknown as Record<symbol, Principal>)[CALL_PRINCIPAL] = principal;
    (handler as (call: AnyCall, callback?: unknown) => void)(call, callback);
  };
  return wrapped as UntypedHandleCall;
}

/**
 * The service's implementation with every method checked. A method of a Spindle service missing
 * from METHOD_ROLES is a bug: the server refuses to start rather than serve it unchecked.
 */
export function withAuthentication(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  auth: ServerAuth,
): UntypedServiceImplementation {
  const refusals = new RefusalLog(auth.logger);
  const result: UntypedServiceImplementation = { ...implementation };
  for (const [name, method] of Object.entries(definition)) {
    const roles = rolesOf(method.path);
    assert(roles !== undefined, `${method.path} is missing from common/auth/method-roles.ts: add who may call it`);
    const handler = implementation[name];
    if (roles === 'open' || handler === undefined) continue;
    result[name] = checked(handler, method.path, roles, method.responseStream, auth, refusals);
  }
  return result;
}
