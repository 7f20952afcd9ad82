// Requests a server cannot decode, answered with a typed error instead of grpc-js's generic INTERNAL
// "Error deserializing request" (issue 15). A service definition's request decoder is wrapped to
// return an UndecodableRequest instead of throwing; the unary handler wrapper (common/rpc.ts)
// answers it without running the handler: an integer above 2^53 (the largest a JS number holds
// exactly) or a string that is not UTF-8 is INVALID_ARGUMENT naming the problem, anything else
// that is not a message of the method's type is RPC_MALFORMED. Nothing is changed by either.
// A batch request over its method's item limit (common/request-item-limits.ts) is refused the
// same way before it is decoded at all: INVALID_ARGUMENT naming the limit.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { ErrorCode, SpindleError } from './errors.js';
import { itemLimitError } from './request-item-limits.js';

export class UndecodableRequest {
  /** `refusal`: the error to answer, decided without decoding (cause is then that error). */
  constructor(
    readonly cause: unknown,
    private readonly refusal?: SpindleError,
  ) {}

  toError(method: string): SpindleError {
    if (this.refusal !== undefined) return this.refusal;
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause);
    if (/MAX_SAFE_INTEGER|MIN_SAFE_INTEGER/.test(reason)) {
      return new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `${method}: an integer field is above 2^53 - 1 (${Number.MAX_SAFE_INTEGER}), the largest Spindle takes`,
        { cause: this.cause },
      );
    }
    if (/UTF-8/.test(reason)) {
      return new SpindleError(ErrorCode.INVALID_ARGUMENT, `${method}: ${reason}`, { cause: this.cause });
    }
    return new SpindleError(ErrorCode.RPC_MALFORMED, `${method}: request could not be decoded (${reason})`, {
      cause: this.cause,
    });
  }
}

/** The definition with each unary method's request decoder returning UndecodableRequest on failure. */
export function withUndecodableRequests(definition: ServiceDefinition): ServiceDefinition {
  const wrapped: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream) {
      wrapped[name] = method;
      continue;
    }
    const decode = method.requestDeserialize;
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        const overLimit = itemLimitError(method.path, bytes);
        if (overLimit !== undefined) return new UndecodableRequest(overLimit, overLimit);
        try {
          return decode(bytes);
        } catch (err) {
          return new UndecodableRequest(err);
        }
      },
    };
  }
  return wrapped as ServiceDefinition;
}
