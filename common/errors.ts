// The error model: one closed ErrorCode table in ranges, one error class, one mapping to gRPC.
//
// Expected failures are SpindleErrors with a code, a POSIX errno where one fits, `retryable`, and
// a message a user can act on. Bugs are not errors: they are `assert`s that crash loudly.
// At a service edge `toGrpcError` (common/grpc-errors.ts) puts the code in trailers; the caller
// rebuilds the same typed error with `fromGrpcError`. This file does not load grpc-js: every
// module imports it, the CLI's `--help` and the client's plain errors included.
import { constants as os } from 'node:os';
import { GrpcStatus } from './grpc-status.js';

const errno = os.errno;

export enum ErrorCode {
  OK = 0,

  // 1xxx common
  INVALID_ARGUMENT = 1001,
  INTERNAL = 1002,
  TIMEOUT = 1003,
  CANCELLED = 1004,
  CONFIG_INVALID = 1005,
  IO_ERROR = 1006,
  NO_SPACE = 1007,
  /** Stored bytes fail their checksum or a file's structure is broken (a dataset index, a manifest). */
  DATA_CORRUPTED = 1008,
  /** The request is well-formed but the object is not in a state that allows it (still being written). */
  FAILED_PRECONDITION = 1009,

  // 2xxx rpc
  RPC_UNAVAILABLE = 2001,
  RPC_MALFORMED = 2002,
  RPC_TOO_LARGE = 2003,
  /** The call carried no credential, or one this cluster does not accept (docs/security.md). */
  UNAUTHENTICATED = 2004,

  // 3xxx meta (namespace)
  NOT_FOUND = 3001,
  EXISTS = 3002,
  NOT_DIRECTORY = 3003,
  IS_DIRECTORY = 3004,
  NOT_EMPTY = 3005,
  INVALID_NAME = 3006,
  NAME_TOO_LONG = 3007,
  RENAME_INTO_SELF = 3008,
  SYMLINK_LOOP = 3009,
  NOT_SYMLINK = 3010,
  PERMISSION_DENIED = 3011,
  FILE_TOO_LARGE = 3012,
  TXN_CONFLICT = 3013,
  BUSY = 3014,
  DUPLICATE_REQUEST_MISMATCH = 3015,
  /** An extended attribute that does not exist (getxattr/removexattr, XATTR_REPLACE). */
  NO_ATTRIBUTE = 3016,
  /** An extended attribute value over the size limit. */
  ATTRIBUTE_TOO_LARGE = 3017,

  // 4xxx storage
  CHAIN_VERSION_MISMATCH = 4001,
  CHUNK_NOT_FOUND = 4002,
  NOT_CHAIN_HEAD = 4003,
  TARGET_NOT_FOUND = 4004,
  CHECKSUM_MISMATCH = 4005,
  CHUNK_NOT_COMMITTED = 4006,
  MISSING_UPDATE = 4007,
  TARGET_NOT_SERVING = 4008,
  CHUNK_CORRUPT = 4009,

  // 5xxx cluster
  ROUTING_NOT_READY = 5001,
  NODE_NOT_FOUND = 5002,
  CHAIN_NOT_FOUND = 5003,
  CHAIN_TABLE_NOT_FOUND = 5004,
  NOT_ENOUGH_NODES = 5005,
  /** A server process of a local cluster exited, or printed no ready line, before it was ready. */
  SERVICE_START_FAILED = 5006,

  // 6xxx client
  CLIENT_CLOSED = 6001,
  RETRIES_EXHAUSTED = 6002,
  BAD_FILE_HANDLE = 6003,
}

interface CodeInfo {
  /** POSIX errno name the code maps to (what `fs` users expect in `err.code`). */
  readonly posix?: string;
  /** The same request may succeed later (after a backoff, a routing refresh or a failover). */
  readonly retryable: boolean;
  /** gRPC status used on the wire. */
  readonly grpc: GrpcStatus;
}

const CODE_INFO: Record<ErrorCode, CodeInfo> = {
  [ErrorCode.OK]: { retryable: false, grpc: GrpcStatus.OK },
  [ErrorCode.INVALID_ARGUMENT]: { posix: 'EINVAL', retryable: false, grpc: GrpcStatus.INVALID_ARGUMENT },
  [ErrorCode.INTERNAL]: { posix: 'EIO', retryable: false, grpc: GrpcStatus.INTERNAL },
  [ErrorCode.TIMEOUT]: { posix: 'ETIMEDOUT', retryable: true, grpc: GrpcStatus.DEADLINE_EXCEEDED },
  [ErrorCode.CANCELLED]: { posix: 'ECANCELED', retryable: false, grpc: GrpcStatus.CANCELLED },
  [ErrorCode.CONFIG_INVALID]: { posix: 'EINVAL', retryable: false, grpc: GrpcStatus.INVALID_ARGUMENT },
  [ErrorCode.IO_ERROR]: { posix: 'EIO', retryable: false, grpc: GrpcStatus.INTERNAL },
  [ErrorCode.NO_SPACE]: { posix: 'ENOSPC', retryable: false, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  [ErrorCode.DATA_CORRUPTED]: { posix: 'EIO', retryable: false, grpc: GrpcStatus.DATA_LOSS },
  [ErrorCode.FAILED_PRECONDITION]: { retryable: false, grpc: GrpcStatus.FAILED_PRECONDITION },

  [ErrorCode.RPC_UNAVAILABLE]: { posix: 'EHOSTUNREACH', retryable: true, grpc: GrpcStatus.UNAVAILABLE },
  [ErrorCode.RPC_MALFORMED]: { posix: 'EINVAL', retryable: false, grpc: GrpcStatus.INVALID_ARGUMENT },
  [ErrorCode.RPC_TOO_LARGE]: { posix: 'EMSGSIZE', retryable: false, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  [ErrorCode.UNAUTHENTICATED]: { posix: 'EACCES', retryable: false, grpc: GrpcStatus.UNAUTHENTICATED },

  [ErrorCode.NOT_FOUND]: { posix: 'ENOENT', retryable: false, grpc: GrpcStatus.NOT_FOUND },
  [ErrorCode.EXISTS]: { posix: 'EEXIST', retryable: false, grpc: GrpcStatus.ALREADY_EXISTS },
  [ErrorCode.NOT_DIRECTORY]: { posix: 'ENOTDIR', retryable: false, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.IS_DIRECTORY]: { posix: 'EISDIR', retryable: false, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.NOT_EMPTY]: { posix: 'ENOTEMPTY', retryable: false, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.INVALID_NAME]: { posix: 'EINVAL', retryable: false, grpc: GrpcStatus.INVALID_ARGUMENT },
  [ErrorCode.NAME_TOO_LONG]: { posix: 'ENAMETOOLONG', retryable: false, grpc: GrpcStatus.INVALID_ARGUMENT },
  [ErrorCode.RENAME_INTO_SELF]: { posix: 'EINVAL', retryable: false, grpc: GrpcStatus.INVALID_ARGUMENT },
  [ErrorCode.SYMLINK_LOOP]: { posix: 'ELOOP', retryable: false, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.NOT_SYMLINK]: { posix: 'EINVAL', retryable: false, grpc: GrpcStatus.INVALID_ARGUMENT },
  [ErrorCode.PERMISSION_DENIED]: { posix: 'EPERM', retryable: false, grpc: GrpcStatus.PERMISSION_DENIED },
  [ErrorCode.FILE_TOO_LARGE]: { posix: 'EFBIG', retryable: false, grpc: GrpcStatus.OUT_OF_RANGE },
  [ErrorCode.TXN_CONFLICT]: { posix: 'EAGAIN', retryable: true, grpc: GrpcStatus.ABORTED },
  [ErrorCode.BUSY]: { posix: 'EBUSY', retryable: false, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.DUPLICATE_REQUEST_MISMATCH]: { posix: 'EINVAL', retryable: false, grpc: GrpcStatus.INVALID_ARGUMENT },
  [ErrorCode.NO_ATTRIBUTE]: { posix: 'ENODATA', retryable: false, grpc: GrpcStatus.NOT_FOUND },
  [ErrorCode.ATTRIBUTE_TOO_LARGE]: { posix: 'E2BIG', retryable: false, grpc: GrpcStatus.OUT_OF_RANGE },

  [ErrorCode.CHAIN_VERSION_MISMATCH]: { posix: 'EAGAIN', retryable: true, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.CHUNK_NOT_FOUND]: { posix: 'ENOENT', retryable: false, grpc: GrpcStatus.NOT_FOUND },
  [ErrorCode.NOT_CHAIN_HEAD]: { posix: 'EAGAIN', retryable: true, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.TARGET_NOT_FOUND]: { posix: 'ENODEV', retryable: true, grpc: GrpcStatus.NOT_FOUND },
  [ErrorCode.CHECKSUM_MISMATCH]: { posix: 'EIO', retryable: true, grpc: GrpcStatus.DATA_LOSS },
  [ErrorCode.CHUNK_NOT_COMMITTED]: { posix: 'EAGAIN', retryable: true, grpc: GrpcStatus.UNAVAILABLE },
  [ErrorCode.MISSING_UPDATE]: { posix: 'EAGAIN', retryable: true, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.TARGET_NOT_SERVING]: { posix: 'EAGAIN', retryable: true, grpc: GrpcStatus.UNAVAILABLE },
  [ErrorCode.CHUNK_CORRUPT]: { posix: 'EIO', retryable: true, grpc: GrpcStatus.DATA_LOSS },

  [ErrorCode.ROUTING_NOT_READY]: { posix: 'EAGAIN', retryable: true, grpc: GrpcStatus.UNAVAILABLE },
  [ErrorCode.NODE_NOT_FOUND]: { posix: 'ENODEV', retryable: false, grpc: GrpcStatus.NOT_FOUND },
  [ErrorCode.CHAIN_NOT_FOUND]: { posix: 'ENODEV', retryable: true, grpc: GrpcStatus.NOT_FOUND },
  [ErrorCode.CHAIN_TABLE_NOT_FOUND]: { posix: 'ENODEV', retryable: false, grpc: GrpcStatus.NOT_FOUND },
  [ErrorCode.NOT_ENOUGH_NODES]: { posix: 'EAGAIN', retryable: true, grpc: GrpcStatus.FAILED_PRECONDITION },
  [ErrorCode.SERVICE_START_FAILED]: { posix: 'EIO', retryable: false, grpc: GrpcStatus.UNAVAILABLE },

  [ErrorCode.CLIENT_CLOSED]: { posix: 'ECANCELED', retryable: false, grpc: GrpcStatus.CANCELLED },
  [ErrorCode.RETRIES_EXHAUSTED]: { posix: 'EIO', retryable: false, grpc: GrpcStatus.UNAVAILABLE },
  [ErrorCode.BAD_FILE_HANDLE]: { posix: 'EBADF', retryable: false, grpc: GrpcStatus.FAILED_PRECONDITION },
};

export interface SpindleErrorOptions {
  cause?: unknown;
  /** Overrides the code's default retryability (rare: e.g. a timeout known to be final). */
  retryable?: boolean;
}

/** The one error type of Spindle. `code` is the POSIX name (like node:fs errors); `errorCode` is ours. */
export class SpindleError extends Error {
  readonly errorCode: ErrorCode;
  /** POSIX errno name, e.g. 'ENOENT', so callers written for node:fs keep working. */
  readonly code: string;
  /** Negative-free POSIX errno number (e.g. 2 for ENOENT). */
  readonly errno: number;
  readonly retryable: boolean;

  constructor(errorCode: ErrorCode, message: string, options: SpindleErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SpindleError';
    this.errorCode = errorCode;
    const info = CODE_INFO[errorCode] ?? CODE_INFO[ErrorCode.INTERNAL];
    this.code = info.posix ?? 'EIO';
    this.errno = (errno as Record<string, number>)[this.code] ?? errno.EIO;
    this.retryable = options.retryable ?? info.retryable;
  }

  /** Short symbolic name of errorCode, e.g. 'CHAIN_VERSION_MISMATCH'. */
  get codeName(): string {
    return ErrorCode[this.errorCode] ?? String(this.errorCode);
  }
}

export function isSpindleError(err: unknown, code?: ErrorCode): err is SpindleError {
  return err instanceof SpindleError && (code === undefined || err.errorCode === code);
}

export function errorCodeInfo(code: ErrorCode): CodeInfo {
  return CODE_INFO[code] ?? CODE_INFO[ErrorCode.INTERNAL];
}

export function isKnownErrorCode(value: number): value is ErrorCode {
  return Object.hasOwn(CODE_INFO, value);
}

/** Wraps a non-Spindle error (a bug, an fs error) so it can cross the wire. */
export function asSpindleError(err: unknown): SpindleError {
  if (err instanceof SpindleError) return err;
  const nodeCode = (err as NodeJS.ErrnoException | undefined)?.code;
  if (nodeCode === 'ENOSPC') return new SpindleError(ErrorCode.NO_SPACE, 'no space left on device', { cause: err });
  if (typeof nodeCode === 'string' && nodeCode.startsWith('E')) {
    return new SpindleError(ErrorCode.IO_ERROR, `${nodeCode}: ${(err as Error).message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SpindleError(ErrorCode.INTERNAL, message, { cause: err });
}

/** A bug: crash loudly in production too. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) {
    const err = new Error(`assertion failed: ${message}`);
    err.name = 'AssertionError';
    throw err;
  }
}
