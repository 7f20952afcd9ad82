// The one mapping between SpindleErrors and gRPC failures: a handler's error becomes a gRPC status
// with the Spindle code and retryability in trailers (`toGrpcError`), and the caller rebuilds the
// same typed error from them (`fromGrpcError`); a failure without trailers (a transport error, a
// foreign server) is mapped from its gRPC status.
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { asSpindleError, ErrorCode, errorCodeInfo, isKnownErrorCode, SpindleError } from './errors.js';
import { GrpcStatus } from './grpc-status.js';
import { tlsHint } from './tls.js';

// Trailer keys carrying the typed error across gRPC.
const TRAILER_CODE = 'spindle-code';
const TRAILER_RETRYABLE = 'spindle-retryable';

/** Converts any thrown value into the error a gRPC handler returns. Unknown errors become INTERNAL. */
export function toGrpcError(err: unknown): Partial<ServiceError> {
  const spindle = asSpindleError(err);
  const metadata = new Metadata();
  metadata.set(TRAILER_CODE, String(spindle.errorCode));
  metadata.set(TRAILER_RETRYABLE, spindle.retryable ? '1' : '0');
  return {
    code: errorCodeInfo(spindle.errorCode).grpc,
    details: `${spindle.codeName}: ${spindle.message}`,
    metadata,
  };
}

/** Rebuilds the typed error from a failed gRPC call (trailers first, then the gRPC status). */
export function fromGrpcError(err: unknown, what: string): SpindleError {
  if (err instanceof SpindleError) return err;
  const service = err as Partial<ServiceError>;
  const raw = service.metadata?.get(TRAILER_CODE)?.[0];
  const details = service.details ?? (err instanceof Error ? err.message : String(err));
  if (raw !== undefined) {
    const value = Number(raw);
    if (isKnownErrorCode(value)) {
      const retryable = service.metadata?.get(TRAILER_RETRYABLE)?.[0];
      const message = details.replace(/^[A-Z_]+: /, '');
      return new SpindleError(value, message, {
        cause: err,
        retryable: retryable === undefined ? undefined : retryable === '1',
      });
    }
  }
  switch (service.code) {
    case GrpcStatus.UNAVAILABLE:
      return new SpindleError(
        ErrorCode.RPC_UNAVAILABLE,
        `${what}: service unavailable (${details})${tlsHint(details)}`,
        { cause: err },
      );
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new SpindleError(ErrorCode.TIMEOUT, `${what}: deadline exceeded`, { cause: err });
    case GrpcStatus.CANCELLED:
      return new SpindleError(ErrorCode.CANCELLED, `${what}: cancelled`, { cause: err });
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return new SpindleError(ErrorCode.RPC_TOO_LARGE, `${what}: ${details}`, { cause: err });
    case GrpcStatus.UNAUTHENTICATED:
      return new SpindleError(ErrorCode.UNAUTHENTICATED, `${what}: ${details}`, { cause: err });
    case GrpcStatus.PERMISSION_DENIED:
      return new SpindleError(ErrorCode.PERMISSION_DENIED, `${what}: ${details}`, { cause: err });
    case GrpcStatus.UNIMPLEMENTED:
      return new SpindleError(ErrorCode.RPC_MALFORMED, `${what}: method not implemented by the server`, { cause: err });
    case GrpcStatus.INTERNAL:
      if (/deserializ|parse|decode/i.test(details)) {
        return new SpindleError(ErrorCode.RPC_MALFORMED, `${what}: malformed message (${details})`, { cause: err });
      }
      return new SpindleError(ErrorCode.INTERNAL, `${what}: ${details}`, { cause: err });
    default:
      return new SpindleError(ErrorCode.INTERNAL, `${what}: ${details}`, { cause: err });
  }
}
