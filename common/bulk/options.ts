// Options, argument checks and error helpers shared by the bulk transports.
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { ErrorCode, SpindleError, isKnownErrorCode } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import {
  BULK_ERROR_MESSAGE_MAX_BYTES,
  BULK_FRAME_MAX_DEFAULT_BYTES,
  BULK_UNCLAIMED_MAX_DEFAULT_BYTES,
  BULK_UNCLAIMED_TTL_DEFAULT_MS,
} from './constants.js';
import type { FrameInboxOptions } from './frame-inbox.js';

/** A frame length is a u32 on the wire. */
const TWO_POW_32 = 2 ** 32;

/** Options shared by the bulk transports. */
export interface BulkTransportOptions {
  /** Largest frame sent or accepted (default BULK_FRAME_MAX_DEFAULT_BYTES). */
  maxFrameBytes?: number;
  /** Bytes of unclaimed frames one session keeps (default BULK_UNCLAIMED_MAX_DEFAULT_BYTES). */
  unclaimedMaxBytes?: number;
  /** How long an unclaimed frame is kept (default BULK_UNCLAIMED_TTL_DEFAULT_MS). */
  unclaimedTtlMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Where session ids come from (default: 16 random bytes, hex); tests pass known ids. */
  newSessionId?: () => string;
}

export interface ResolvedBulkOptions extends FrameInboxOptions {
  readonly newSessionId: () => string;
}

/** A session id: 16 bytes as 32 lowercase hex digits. */
export const SESSION_ID_BYTES = 16;
const SESSION_ID_PATTERN = /^[0-9a-f]{32}$/;

function randomSessionId(): string {
  return randomBytes(SESSION_ID_BYTES).toString('hex');
}

export function isSessionId(value: string): boolean {
  return SESSION_ID_PATTERN.test(value);
}

export function resolveBulkOptions(options: BulkTransportOptions, component: string): ResolvedBulkOptions {
  const resolved: ResolvedBulkOptions = {
    maxFrameBytes: options.maxFrameBytes ?? BULK_FRAME_MAX_DEFAULT_BYTES,
    unclaimedMaxBytes: options.unclaimedMaxBytes ?? BULK_UNCLAIMED_MAX_DEFAULT_BYTES,
    unclaimedTtlMs: options.unclaimedTtlMs ?? BULK_UNCLAIMED_TTL_DEFAULT_MS,
    clock: options.clock ?? systemClock,
    logger: (options.logger ?? silentLogger()).child({ component }),
    newSessionId: options.newSessionId ?? randomSessionId,
  };
  const bad: string[] = [];
  if (
    !Number.isSafeInteger(resolved.maxFrameBytes) ||
    resolved.maxFrameBytes < 0 ||
    resolved.maxFrameBytes >= TWO_POW_32
  ) {
    bad.push(`maxFrameBytes ${resolved.maxFrameBytes} (an integer in [0, 2^32))`);
  }
  if (!Number.isSafeInteger(resolved.unclaimedMaxBytes) || resolved.unclaimedMaxBytes < 0) {
    bad.push(`unclaimedMaxBytes ${resolved.unclaimedMaxBytes} (a non-negative integer)`);
  }
  if (!(resolved.unclaimedTtlMs >= 0)) bad.push(`unclaimedTtlMs ${resolved.unclaimedTtlMs} (a non-negative number)`);
  if (bad.length > 0) throw new SpindleError(ErrorCode.CONFIG_INVALID, `bulk transport options: ${bad.join('; ')}`);
  return resolved;
}

export function unavailable(message: string, cause?: unknown): SpindleError {
  return new SpindleError(ErrorCode.RPC_UNAVAILABLE, message, cause === undefined ? undefined : { cause });
}

/** Checks a send's arguments the same way in every transport; returns the error or undefined. */
export function checkSend(
  what: string,
  requestId: number,
  payload: Uint8Array,
  maxFrameBytes: number,
): SpindleError | undefined {
  if (!Number.isSafeInteger(requestId) || requestId < 0) {
    return new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${what}: request id ${requestId} is not an integer in [0, 2^53)`,
    );
  }
  if (payload.length > maxFrameBytes) {
    return new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${what}: payload of ${payload.length} bytes is larger than the frame limit (${maxFrameBytes})`,
    );
  }
  return undefined;
}

/** Bytes before the message in an error answer: the ErrorCode number, u32 big-endian. */
export const ERROR_ANSWER_CODE_BYTES = 4;

/**
 * The payload of an error answer (ERROR frame) to a request whose handler threw `error`: the
 * ErrorCode (SpindleError's, INTERNAL for anything else), u32 big-endian, then the message in
 * UTF-8, cut to BULK_ERROR_MESSAGE_MAX_BYTES at a character boundary.
 */
export function encodeErrorAnswer(error: unknown): Buffer {
  const code = error instanceof SpindleError ? error.errorCode : ErrorCode.INTERNAL;
  const message = error instanceof Error ? error.message : String(error);
  const messageBytes = Math.min(Buffer.byteLength(message, 'utf8'), BULK_ERROR_MESSAGE_MAX_BYTES);
  const payload = Buffer.allocUnsafe(ERROR_ANSWER_CODE_BYTES + messageBytes);
  payload.writeUInt32BE(code, 0);
  // Buffer#write writes whole characters only: a cut message may end a few bytes short.
  const written = payload.write(message, ERROR_ANSWER_CODE_BYTES, messageBytes, 'utf8');
  return written === messageBytes ? payload : payload.subarray(0, ERROR_ANSWER_CODE_BYTES + written);
}

/**
 * The SpindleError an error answer carries (retryable per its code's default); undefined when the
 * payload is too short to be one. A code this build does not know becomes INTERNAL.
 */
export function decodeErrorAnswer(payload: Buffer): SpindleError | undefined {
  if (payload.length < ERROR_ANSWER_CODE_BYTES) return undefined;
  const code = payload.readUInt32BE(0);
  const message = payload.toString('utf8', ERROR_ANSWER_CODE_BYTES);
  if (isKnownErrorCode(code)) return new SpindleError(code, message);
  return new SpindleError(ErrorCode.INTERNAL, `${message} (error code ${code}, unknown here)`);
}
