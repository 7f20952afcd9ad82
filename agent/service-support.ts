// What every agent service shares: the AgentService shape, request decoders that do not throw (a
// request that does not decode becomes an UndecodableRequest the handler turns into a clear error)
// and the log policy for failed calls (the caller's mistakes at debug, the rest as warnings).
import type { ServiceDefinition } from '@grpc/grpc-js';
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { HostedService } from '../common/standard-services.js';

/** A service the agent hosts, closed when the agent stops. */
export interface AgentService extends HostedService {
  close(): Promise<void>;
}

/** What a request that failed to decode is replaced by (see tolerantDefinition). */
class UndecodableRequest {
  constructor(readonly error: unknown) {}
}

/** A request as a tolerant definition hands it to a handler. */
export type MaybeDecoded<T> = T | UndecodableRequest;

/** Codes that are the caller's to fix: not worth a warning in the agent's log. */
const CALLER_ERRORS = new Set<ErrorCode>([
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.RPC_MALFORMED,
  ErrorCode.NOT_FOUND,
  ErrorCode.EXISTS,
  ErrorCode.FAILED_PRECONDITION,
  ErrorCode.NOT_DIRECTORY,
  ErrorCode.CANCELLED,
  ErrorCode.RPC_TOO_LARGE,
]);

/**
 * The definition with request decoders that do not throw: grpc-js answers a decoder's exception
 * with a bare INTERNAL, while the handler can say what was wrong.
 */
export function tolerantDefinition(definition: object): ServiceDefinition {
  const tolerant: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition) as [string, { requestDeserialize(b: Buffer): unknown }][]) {
    tolerant[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (error) {
          return new UndecodableRequest(error);
        }
      },
    };
  }
  return tolerant as unknown as ServiceDefinition;
}

/** The request, or RPC_MALFORMED (INVALID_ARGUMENT) saying why it did not decode. */
export function decoded<T>(request: MaybeDecoded<T>, method: string): T {
  if (!(request instanceof UndecodableRequest)) return request;
  throw new SpindleError(
    ErrorCode.RPC_MALFORMED,
    `${method}: the request could not be decoded (${(request.error as Error)?.message ?? String(request.error)}); ` +
      'integers must be at most 2^53 - 1',
    { cause: request.error },
  );
}

/** Logs a failed call: the caller's mistakes at debug, everything else as a warning. */
export function logCallFailure(logger: Logger, method: string, err: unknown): void {
  const error = asSpindleError(err);
  if (CALLER_ERRORS.has(error.errorCode)) {
    logger.debug({ method, code: error.codeName, err: error.message }, 'call refused');
  } else {
    logger.warn({ method, code: error.codeName, err }, 'call failed');
  }
}
