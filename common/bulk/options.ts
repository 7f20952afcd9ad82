// Options, argument checks and error helpers shared by the bulk transports.
import { randomBytes } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import { systemClock, type Clock } from '../clock.js';
import { ErrorCode, SpindleError, isKnownErrorCode } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import {
  BULK_CREDENTIAL_MAX_BYTES,
  BULK_ERROR_MESSAGE_MAX_BYTES,
  BULK_FRAME_MAX_DEFAULT_BYTES,
  BULK_HELLO_TIMEOUT_DEFAULT_MS,
  BULK_ID_QUOTED_MAX_CHARS,
  BULK_IDLE_TIMEOUT_DEFAULT_MS,
  BULK_NODE_HELD_MAX_DEFAULT_BYTES,
  BULK_PROGRESS_TIMEOUT_DEFAULT_MS,
  BULK_SESSIONS_MAX_DEFAULT,
  BULK_SESSIONS_PER_PEER_MAX_DEFAULT,
  BULK_UNCLAIMED_MAX_DEFAULT_BYTES,
  BULK_UNCLAIMED_TTL_DEFAULT_MS,
} from './constants.js';
import type { FrameInboxOptions } from './frame-inbox.js';
import { NodeHeldBytes } from './node-held-bytes.js';

/** A frame length is a u32 on the wire. */
const TWO_POW_32 = 2 ** 32;

/**
 * Checks the credential a peer's hello carries ('' when it sent none): who the session's peer is,
 * or undefined to refuse the session (UNAUTHENTICATED). May throw a SpindleError to refuse with it.
 */
type BulkAuthenticate = (credential: string) => Principal | undefined;

/**
 * The limits of a listener's sessions (docs/bulk-limits.md): each has a default in constants.ts
 * and a storage config key (common/config.ts) of the same name with `bulk` in front.
 */
interface BulkLimits {
  /** Largest frame sent or accepted, checked at its header (default BULK_FRAME_MAX_DEFAULT_BYTES). */
  maxFrameBytes?: number;
  /** Bytes one session may hold for nobody (default BULK_UNCLAIMED_MAX_DEFAULT_BYTES). */
  unclaimedMaxBytes?: number;
  /** The same summed over every session of the transport (default BULK_NODE_HELD_MAX_DEFAULT_BYTES). */
  nodeHeldMaxBytes?: number;
  /** How long an unclaimed frame is kept (default BULK_UNCLAIMED_TTL_DEFAULT_MS). */
  unclaimedTtlMs?: number;
  /** Connections a listener holds at once (default BULK_SESSIONS_MAX_DEFAULT). */
  sessionsMax?: number;
  /** Connections one remote address may hold at once (default BULK_SESSIONS_PER_PEER_MAX_DEFAULT). */
  sessionsPerPeerMax?: number;
  /** A connection must send its hello within this (default BULK_HELLO_TIMEOUT_DEFAULT_MS). */
  helloTimeoutMs?: number;
  /** A session with no traffic, request or receive this long is closed (default BULK_IDLE_TIMEOUT_DEFAULT_MS). */
  idleTimeoutMs?: number;
  /** A frame that gets no byte this long closes its session (default BULK_PROGRESS_TIMEOUT_DEFAULT_MS). */
  progressTimeoutMs?: number;
}

/** Options shared by the bulk transports. */
export interface BulkTransportOptions extends BulkLimits {
  /** Sent in the hello of every session this transport opens (default: none). */
  credential?: string;
  /** Checks the hello of every session a listener of this transport accepts (default: accept all). */
  authenticate?: BulkAuthenticate;
  clock?: Clock;
  logger?: Logger;
  /** Where session ids come from (default: 16 random bytes, hex); tests pass known ids. */
  newSessionId?: () => string;
}

export interface ResolvedBulkOptions extends FrameInboxOptions {
  readonly newSessionId: () => string;
  readonly nodeHeld: NodeHeldBytes;
  readonly credential: Buffer;
  readonly authenticate: BulkAuthenticate | undefined;
  readonly sessionsMax: number;
  readonly sessionsPerPeerMax: number;
  readonly helloTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly progressTimeoutMs: number;
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

/**
 * An id as a message may quote it: whole when short, else its start and its length — a peer's
 * megabyte-long id must not travel on in an error (it would not fit a gRPC trailer).
 */
export function quoteId(id: string): string {
  if (id.length <= BULK_ID_QUOTED_MAX_CHARS) return JSON.stringify(id);
  return `${JSON.stringify(id.slice(0, BULK_ID_QUOTED_MAX_CHARS))}… (${id.length} characters)`;
}

export function resolveBulkOptions(options: BulkTransportOptions, component: string): ResolvedBulkOptions {
  const nodeHeldMaxBytes = options.nodeHeldMaxBytes ?? BULK_NODE_HELD_MAX_DEFAULT_BYTES;
  const credential = Buffer.from(options.credential ?? '', 'utf8');
  const resolved: ResolvedBulkOptions = {
    maxFrameBytes: options.maxFrameBytes ?? BULK_FRAME_MAX_DEFAULT_BYTES,
    unclaimedMaxBytes: options.unclaimedMaxBytes ?? BULK_UNCLAIMED_MAX_DEFAULT_BYTES,
    unclaimedTtlMs: options.unclaimedTtlMs ?? BULK_UNCLAIMED_TTL_DEFAULT_MS,
    nodeHeld: new NodeHeldBytes(nodeHeldMaxBytes),
    sessionsMax: options.sessionsMax ?? BULK_SESSIONS_MAX_DEFAULT,
    sessionsPerPeerMax: options.sessionsPerPeerMax ?? BULK_SESSIONS_PER_PEER_MAX_DEFAULT,
    helloTimeoutMs: options.helloTimeoutMs ?? BULK_HELLO_TIMEOUT_DEFAULT_MS,
    idleTimeoutMs: options.idleTimeoutMs ?? BULK_IDLE_TIMEOUT_DEFAULT_MS,
    progressTimeoutMs: options.progressTimeoutMs ?? BULK_PROGRESS_TIMEOUT_DEFAULT_MS,
    credential,
    authenticate: options.authenticate,
    clock: options.clock ?? systemClock,
    logger: (options.logger ?? silentLogger()).child({ component }),
    newSessionId: options.newSessionId ?? randomSessionId,
  };
  const bad: string[] = [];
  const positive = (name: keyof BulkLimits, value: number, what = 'a positive integer'): void => {
    if (!Number.isSafeInteger(value) || value < 1) bad.push(`${name} ${value} (${what})`);
  };
  positive('nodeHeldMaxBytes', nodeHeldMaxBytes);
  positive('sessionsMax', resolved.sessionsMax);
  positive('sessionsPerPeerMax', resolved.sessionsPerPeerMax);
  positive('helloTimeoutMs', resolved.helloTimeoutMs, 'a positive integer of milliseconds');
  positive('idleTimeoutMs', resolved.idleTimeoutMs, 'a positive integer of milliseconds');
  positive('progressTimeoutMs', resolved.progressTimeoutMs, 'a positive integer of milliseconds');
  if (credential.length > BULK_CREDENTIAL_MAX_BYTES) {
    bad.push(`credential of ${credential.length} bytes (at most ${BULK_CREDENTIAL_MAX_BYTES})`);
  }
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
