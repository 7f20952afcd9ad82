// TcpBulkTransport: bulk sessions over raw TCP (node:net), the production data path for chunk
// bytes. One TCP connection is one session. When the process is configured for TLS
// (common/tls.ts) every connection is a TLS socket (read through 'data' events) and a session
// starts once the server's certificate checked out.
//
// Frame layout (every frame, both directions; integers big-endian), FRAME_HEADER_BYTES = 20:
//
//   offset size field
//   0      2    magic 0x53 0x42 ("SB")
//   2      1    protocol version (FRAME_VERSION = 2; 1 had a hello without a credential)
//   3      1    type: 1 HELLO, 2 HELLO_ACK, 3 DATA, 4 REQUEST, 5 ERROR
//   4      8    request id, u64 (a JS safe integer: the high word is at most 0x1FFFFF)
//   12     4    payload length, u32 (at most the receiver's maxFrameBytes)
//   16     4    CRC32C of the payload, u32
//   20     …    payload
//
// Handshake: the connecting side's first frame is HELLO (request id 0, payload = the 16 random
// bytes of the session id, which is their hex, then the credential in UTF-8: the rest of the
// payload, at most BULK_CREDENTIAL_MAX_BYTES, empty for none); the listener checks the credential
// (`authenticate`), registers the session under that id and answers HELLO_ACK (empty), after which
// `connect` resolves — so once `connect` has resolved, `listener.channel(id)` finds the session
// without waiting. A refused hello (bad credential: UNAUTHENTICATED; too many sessions) is
// answered with an ERROR frame under request id 0 and the connection closed; `connect` rejects
// with its code. A version-1 peer (no credential in its hello) is refused with a warning naming
// the version. After it:
//   - DATA, either way: `send`/`receive`, and the answer to a REQUEST (under the request's id);
//   - REQUEST, connecting side → listener only: `BulkChannel.call`, answered by the listener's
//     request handler with a DATA frame or an ERROR frame under the same id;
//   - ERROR, listener → connecting side only: payload = ErrorCode u32 + the message in UTF-8 (at
//     most BULK_ERROR_MESSAGE_MAX_BYTES); the waiting `call` rejects with SpindleError(code,
//     message). A handler's SpindleError keeps its code; anything else is INTERNAL; no handler is
//     RPC_UNAVAILABLE; an answer over the frame limit is INTERNAL; a REQUEST failing its CRC32C is
//     answered CHECKSUM_MISMATCH.
// A frame of a type not valid in its direction is a protocol error (below).
//
// Guarantees:
//   - receive: both ends read through `onread` (no allocation per read, no stream machinery: this
//     is what keeps the receiver cheaper per byte than plain 'data' events) into one reusable 1 MiB
//     staging buffer per connection, from which a state machine copies each payload piece once into
//     the receiver's `into` (or one buffer of the frame's length) — except that a payload with at
//     least BULK_DIRECT_READ_MIN_BYTES left whose destination exists is read by the kernel straight
//     into it (ReadLanding: no user-space copy; a receiver that gives up mid-frame gets its buffer
//     back before the next read). CRC32C is computed over each piece as it lands and checked at the
//     frame's end (CHECKSUM_MISMATCH). Pairing and limits: frame-inbox.ts.
//   - send: header and payload go to the socket in one corked write (writev, payload not copied),
//     so concurrent sends never interleave; sends queue while the socket needs 'drain'; a send
//     resolves when the socket has taken the payload (the caller may reuse it).
//   - call (the small-request path, e.g. a batch of 4 KiB chunk reads in one round trip): the
//     answer's receive is registered first, then header and payload go out as one buffer (the
//     payload is small: copied, no send promise, no queue — the caller's calls in flight bound
//     them), corked until the next tick so the calls of one turn share a writev. The listener
//     collects a REQUEST's payload whole and hands it to its handler at once (handlers run
//     concurrently, at most BULK_REQUESTS_IN_PROGRESS_MAX per session: beyond it the socket is
//     not read until one is answered); answers are corked the same way, written without waiting
//     for 'drain' (the handler's buffer is given away), and dropped when the session closed
//     meanwhile. A late answer (its call timed out or was aborted) is dropped on arrival.
//   - a malformed peer (bad magic or version, unexpected type or direction, oversized length,
//     request id beyond 2^53, an ERROR payload too short or too long) gets its connection closed
//     with a warning; the process and other sessions carry on. Lengths are checked against the
//     limits at the header, before anything is allocated or decoded.
//   - limits of the accepting side (options.ts BulkLimits, docs/bulk-limits.md): connections per
//     listener and per remote address (beyond them a connection is answered RPC_UNAVAILABLE and
//     closed, refusals logged once per BULK_REFUSAL_LOG_INTERVAL_MS with their count); a hello
//     within helloTimeoutMs; a session with no frame either way, no request in progress and no
//     receive waiting for idleTimeoutMs is closed (FIN: its owner reopens one on next use); a
//     session inside a frame that gets no byte for progressTimeoutMs (while this end reads) is
//     closed, and so is one whose peer takes no byte of what this end sends for as long;
//     buffers for frames and requests are allocated at their first byte and charged to the byte
//     budgets (frame-inbox.ts), a request's until its handler answers.
//   - a closed or broken session rejects its pending receives and sends with RPC_UNAVAILABLE
//     (retryable) and leaves its listener's table.
import * as net from 'node:net';
import { ANONYMOUS_ADMIN, type Principal } from '../auth/principal.js';
import { crc32c } from '../crc32c.js';
import { ErrorCode, SpindleError, assert } from '../errors.js';
import {
  BULK_CONNECT_TIMEOUT_DEFAULT_MS,
  BULK_CREDENTIAL_MAX_BYTES,
  BULK_DIRECT_READ_MIN_BYTES,
  BULK_ERROR_MESSAGE_MAX_BYTES,
  BULK_READ_BUFFER_BYTES,
  BULK_REFUSAL_LOG_INTERVAL_MS,
  BULK_REQUESTS_IN_PROGRESS_MAX,
} from './constants.js';
import { FrameInbox, type FrameSink } from './frame-inbox.js';
import {
  ERROR_ANSWER_CODE_BYTES,
  SESSION_ID_BYTES,
  checkSend,
  decodeErrorAnswer,
  encodeErrorAnswer,
  isSessionId,
  quoteId,
  resolveBulkOptions,
  unavailable,
  type BulkTransportOptions,
  type ResolvedBulkOptions,
} from './options.js';
import { SessionWaiters } from './session-waiters.js';
import { type BulkSocketSecurity, bulkSocketSecurity } from '../tls.js';
import type {
  BulkCallOptions,
  BulkChannel,
  BulkListener,
  BulkReceiveOptions,
  BulkRequestHandler,
  BulkTransport,
} from './transport.js';

const FRAME_MAGIC = 0x5342;
const FRAME_VERSION = 2;
/** The version before hellos carried a credential: refused with a warning that says so. */
const FRAME_VERSION_WITHOUT_CREDENTIAL = 1;
export const FRAME_HEADER_BYTES = 20;

export enum FrameType {
  HELLO = 1,
  HELLO_ACK = 2,
  DATA = 3,
  /** A request for the listener's handler (connecting side → listener). */
  REQUEST = 4,
  /** An error answer to a REQUEST (listener → connecting side). */
  ERROR = 5,
}

const TWO_POW_32 = 2 ** 32;
/** Largest high word of a request id that keeps it a JS safe integer (2^53 - 1). */
const REQUEST_ID_HIGH_MAX = 0x1fffff;
/** Payload of a HELLO: the session id and a credential. */
const HELLO_PAYLOAD_MAX_BYTES = SESSION_ID_BYTES + BULK_CREDENTIAL_MAX_BYTES;
/** Payload of a HELLO_ACK (empty today; room for a later version's). */
const HELLO_ACK_PAYLOAD_MAX_BYTES = 64;
/** The listener's sweep of hello, idle and progress timeouts runs at least this often… */
const SWEEP_INTERVAL_MAX_MS = 1_000;
/** …and at most this often. */
const SWEEP_INTERVAL_MIN_MS = 20;
/** After `close`, the socket gets this long to flush its FIN before it is destroyed. */
const CLOSE_LINGER_MS = 1_000;

/** Writes one frame header (FRAME_HEADER_BYTES) into `out` at `offset`. */
export function encodeFrameHeader(
  type: FrameType,
  requestId: number,
  lengthBytes: number,
  crc: number,
  out: Buffer = Buffer.allocUnsafe(FRAME_HEADER_BYTES),
  offset = 0,
): Buffer {
  out.writeUInt16BE(FRAME_MAGIC, offset);
  out[offset + 2] = FRAME_VERSION;
  out[offset + 3] = type;
  out.writeUInt32BE(Math.floor(requestId / TWO_POW_32), offset + 4);
  out.writeUInt32BE(requestId % TWO_POW_32, offset + 8);
  out.writeUInt32BE(lengthBytes, offset + 12);
  out.writeUInt32BE(crc >>> 0, offset + 16);
  return out;
}

/** "host:port" or "[v6]:port" → parts; undefined when malformed. */
export function parseHostPort(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Where the next socket read lands (the `onread` path). Usually the connection's reusable staging
 * buffer of BULK_READ_BUFFER_BYTES — no buffer allocated per read (GC), up to 1 MiB per read, no
 * stream machinery; the parser copies out what it keeps before the next read. But while a large
 * payload goes to a buffer the frame already has (the receiver's `into`, or the frame's own once its
 * first byte came), the read lands straight in the rest of that payload: the kernel's copy is the
 * only one (the copy out of staging was a fifth of a reading client's CPU, docs/performance.md).
 * The view is exactly the payload left, so a read never takes bytes of the next frame.
 */
class ReadLanding {
  readonly staging = Buffer.allocUnsafe(BULK_READ_BUFFER_BYTES);
  /**
   * Its first BULK_DIRECT_READ_MIN_BYTES: where a header is read after a large frame (one is likely
   * to follow), so the read takes little of the next payload through staging and the rest lands direct.
   */
  readonly stagingShort = this.staging.subarray(0, BULK_DIRECT_READ_MIN_BYTES);
  /** The memory the read under way lands in (referenced until then: the kernel writes into it). */
  current: Uint8Array = this.staging;
  /** When `current` is a frame's payload: the frame, its destination then, and the offset in it. */
  sink: FrameSink | null = null;
  target: Uint8Array | null = null;
  offset = 0;

  /** The channel reading through this landing, and its socket (set when the channel is made). */
  channel: TcpBulkChannel | null = null;
  socket: net.Socket | null = null;

  /** Lands the next read in `view` of `sink`'s target at `offset` (false: this socket cannot). */
  direct(sink: FrameSink, target: Uint8Array, offset: number, view: Uint8Array): boolean {
    if (typeof this.handle()?.useUserBuffer !== 'function') return false;
    this.sink = sink;
    this.target = target;
    this.offset = offset;
    this.current = view;
    // The receiver may give up before the read comes: its buffer is theirs again at once.
    sink.onDiscard = this.toStaging;
    return true;
  }

  /** The next read lands in staging again, in its first `short` part or all of it. */
  staged(short: boolean): Buffer {
    if (this.sink !== null) this.sink.onDiscard = null;
    this.sink = this.target = null;
    this.current = short ? this.stagingShort : this.staging;
    return this.current as Buffer;
  }

  /**
   * The frame lost its destination between reads: the socket's read buffer is switched now (the
   * read callback's return value, the usual way, would come only after the next read). Node pushes
   * a small listener per switch, freed with the socket: this happens once per abandoned frame.
   */
  private readonly toStaging = (): void => {
    this.sink = this.target = null;
    this.current = this.staging;
    this.handle()?.useUserBuffer?.(this.staging);
  };

  /** The socket's libuv handle (undocumented: `useUserBuffer` is what `onread` itself calls). */
  private handle(): { useUserBuffer?: (buffer: Uint8Array) => void } | null | undefined {
    return (this.socket as unknown as { _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null })._handle;
  }
}

/** The `onread` option of a socket read through `landing`. */
function landingReads(landing: ReadLanding): net.OnReadOpts {
  return {
    // Called once at start and after every read: where the next read lands.
    buffer: () => landing.channel?.nextReadBuffer() ?? landing.staging,
    callback: (bytesRead: number): boolean => {
      landing.channel?.onRead(bytesRead);
      return true;
    },
  };
}

/**
 * net.Server (Node 20) has no `onread`, so an accepted socket (accepted paused) is re-wrapped: its
 * handle moves into a new Socket that has one, and the accepted Socket object is dropped (which
 * also takes it out of the server's connection count — the listener tracks its sessions itself).
 * `_handle` is undocumented; where it is missing, the accepted socket is used as it is ('data'
 * events, the same parser).
 */
function adoptAccepted(accepted: net.Socket, onread: net.OnReadOpts): net.Socket {
  const holder = accepted as unknown as { _handle?: unknown };
  const handle = holder._handle;
  if (handle === undefined || handle === null) {
    accepted.resume();
    return accepted;
  }
  holder._handle = null;
  accepted.destroy();
  return new net.Socket({ handle, readable: true, writable: true, onread } as unknown as net.SocketConstructorOpts);
}

interface PendingSend {
  readonly header: Buffer;
  readonly payload: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (error: SpindleError) => void;
}

type Role = 'connecting' | 'accepting';
/** 'payload': DATA, streamed into the inbox; 'whole': HELLO, HELLO_ACK, REQUEST, ERROR, collected whole. */
type ParseState = 'header' | 'payload' | 'whole';

/** Where the accepting side's REQUEST frames go (the listener's dispatcher). */
type RequestSink = (channel: TcpBulkChannel, requestId: number, payload: Buffer) => void;

/** One end of a TCP bulk session (either side). */
class TcpBulkChannel implements BulkChannel {
  sessionId: string;
  private readonly inbox: FrameInbox;
  private closeError: SpindleError | null = null;
  private handshakeDone = false;
  private requestIdCounter = 0;

  // Parser state.
  private state: ParseState = 'header';
  private readonly header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  private frameType = FrameType.DATA;
  private frameRequestId = 0;
  private frameCrc = 0;
  private payloadLeft = 0;
  private crc = 0;
  private sink: FrameSink | null = null;
  /** The last DATA frame was large enough to be read direct (see ReadLanding.stagingShort). */
  private lastFrameLarge = false;
  /** Payload bytes the kernel read straight into their destination (for tests). */
  directReadBytes = 0;
  /** A frame collected whole: its buffer, allocated at its first byte (null before). */
  private whole: Buffer | null = null;
  private wholeLength = 0;
  private wholeFilled = 0;

  // Timeouts (accepting side; ms on the clock's monotonic nowUs).
  private readonly openedMs: number;
  private lastReadMs: number;
  private lastActivityMs: number;
  /** When the socket last took bytes this end sends (or had none waiting). */
  private lastWriteProgressMs: number;
  /** Who the peer is (accepting side, once its hello was accepted). */
  principal: Principal | undefined;

  // Send state.
  /** True while the socket is corked until the next tick (calls and answers of one turn → one writev). */
  private corkedForTick = false;
  private readonly uncorkTick = (): void => {
    this.corkedForTick = false;
    this.socket.uncork();
  };
  private readonly queued: PendingSend[] = [];
  /** Requests of this session the listener's handler is working on (accepting side). */
  private requestsInProgress = 0;
  private readonly inFlight = new Set<PendingSend>();

  /** Resolves when the socket has closed. */
  readonly socketClosed: Promise<void>;
  /** Settles when the handshake is done (connecting side: the ack came; accepting: the hello). */
  readonly ready: Promise<void>;
  private readyResolve!: () => void;
  private readyReject!: (error: SpindleError) => void;
  private readonly closeHooks: Array<(channel: TcpBulkChannel) => void> = [];

  constructor(
    private readonly socket: net.Socket,
    private readonly role: Role,
    sessionId: string,
    private readonly options: ResolvedBulkOptions,
    private readonly onHello?: (channel: TcpBulkChannel) => boolean,
    private readonly onRequest?: RequestSink,
    /** How the socket is read when through `onread` (undefined: 'data' events). */
    private readonly landing?: ReadLanding,
  ) {
    this.sessionId = sessionId;
    if (landing !== undefined) {
      landing.channel = this;
      landing.socket = socket;
    }
    this.inbox = new FrameInbox(`bulk session ${sessionId || socket.remoteAddress}`, options, (error) =>
      this.destroy(error),
    );
    this.openedMs = this.lastReadMs = this.lastActivityMs = this.lastWriteProgressMs = this.monotonicMs();
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => {});
    this.socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.lastWriteProgressMs = this.monotonicMs();
      this.flushQueue();
    });
    socket.on('error', (err) =>
      this.fail(unavailable(`bulk session ${this.sessionId}: connection failed (${err.message})`, err)),
    );
    socket.on('end', () => this.fail(unavailable(`bulk session ${this.sessionId}: the peer closed the connection`)));
    socket.on('close', () => this.fail(unavailable(`bulk session ${this.sessionId}: connection closed`)));
  }

  get closed(): boolean {
    return this.closeError !== null;
  }

  private monotonicMs(): number {
    return this.options.clock.nowUs() / 1000;
  }

  /** Something used the session (a lookup by id, a send): it is not idle. */
  touch(): void {
    this.lastActivityMs = this.monotonicMs();
  }

  /** Inside a frame: its header or payload has started and not ended. */
  private get midFrame(): boolean {
    return this.state !== 'header' || this.headerFilled > 0;
  }

  /** The listener's sweep: closes this session if it broke its hello, progress or idle timeout. */
  checkTimeouts(nowMs: number): void {
    if (this.closeError !== null) return;
    const { helloTimeoutMs, progressTimeoutMs, idleTimeoutMs, logger } = this.options;
    const remote = this.socket.remoteAddress;
    if (!this.handshakeDone) {
      if (nowMs - this.openedMs > helloTimeoutMs) {
        logger.warn({ remote, helloTimeoutMs }, 'bulk peer sent no hello in time; connection closed');
        this.destroy(unavailable(`bulk session: no hello within ${helloTimeoutMs} ms`));
      }
      return;
    }
    // A peer that reads nothing of what this end sends (read results, answers) pins those buffers.
    if (this.queued.length === 0 && this.socket.writableLength === 0) {
      this.lastWriteProgressMs = nowMs;
    } else if (nowMs - this.lastWriteProgressMs > progressTimeoutMs) {
      logger.warn(
        { sessionId: this.sessionId, remote, progressTimeoutMs, queuedBytes: this.socket.writableLength },
        'bulk peer read nothing of what this node sends in time; connection closed',
      );
      this.destroy(unavailable(`bulk session ${this.sessionId}: the peer read nothing within ${progressTimeoutMs} ms`));
      return;
    }
    if (this.midFrame) {
      // While this end does not read (requests at their limit), a stalled peer is not at fault.
      if (this.requestsInProgress < BULK_REQUESTS_IN_PROGRESS_MAX && nowMs - this.lastReadMs > progressTimeoutMs) {
        logger.warn(
          { sessionId: this.sessionId, remote, progressTimeoutMs, frameType: this.frameType },
          'bulk frame made no progress in time; connection closed',
        );
        this.destroy(unavailable(`bulk session ${this.sessionId}: no byte of a frame within ${progressTimeoutMs} ms`));
      }
      return;
    }
    if (
      this.requestsInProgress === 0 &&
      this.inbox.waitingCount === 0 &&
      this.inFlight.size === 0 &&
      this.socket.writableLength === 0 &&
      nowMs - this.lastActivityMs > idleTimeoutMs
    ) {
      logger.debug({ sessionId: this.sessionId, remote, idleTimeoutMs }, 'bulk session idle; closed');
      this.close();
    }
  }

  /**
   * Refuses the session during its handshake (accepting side): an ERROR frame under request id 0
   * tells the peer why, then the connection closes.
   */
  refuse(error: SpindleError): void {
    if (this.closeError !== null) return;
    const payload = encodeErrorAnswer(error);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
    encodeFrameHeader(FrameType.ERROR, 0, payload.length, crc32c(payload), frame, 0);
    payload.copy(frame, FRAME_HEADER_BYTES);
    this.fail(error);
    if (this.socket.destroyed) return;
    this.socket.end(frame);
    setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  onClose(hook: (channel: TcpBulkChannel) => void): void {
    this.closeHooks.push(hook);
  }

  nextRequestId(): number {
    assert(this.role === 'connecting', 'nextRequestId is for the connecting side of a bulk session');
    return ++this.requestIdCounter;
  }

  receive(requestId: number, options?: BulkReceiveOptions): Promise<Buffer> {
    return this.inbox.receive(requestId, options);
  }

  send(requestId: number, payload: Uint8Array, crc?: number): Promise<void> {
    if (this.closeError !== null) return Promise.reject(this.closeError);
    const bad = checkSend(`bulk session ${this.sessionId}`, requestId, payload, this.options.maxFrameBytes);
    if (bad !== undefined) return Promise.reject(bad);
    this.touch();
    const header = encodeFrameHeader(FrameType.DATA, requestId, payload.length, crc ?? crc32c(payload));
    return new Promise<void>((resolve, reject) => {
      const pending: PendingSend = { header, payload, resolve, reject };
      if (this.queued.length > 0 || this.socket.writableNeedDrain) this.queued.push(pending);
      else this.write(pending);
    });
  }

  call(payload: Uint8Array, options?: BulkCallOptions): Promise<Buffer> {
    assert(this.role === 'connecting', 'call is for the connecting side of a bulk session');
    if (this.closeError !== null) return Promise.reject(this.closeError);
    if (payload.length > this.options.maxFrameBytes) {
      return Promise.reject(checkSend(`bulk session ${this.sessionId}`, 0, payload, this.options.maxFrameBytes)!);
    }
    const signal = options?.signal;
    if (signal?.aborted) {
      return Promise.reject(
        new SpindleError(ErrorCode.CANCELLED, `bulk session ${this.sessionId}: call cancelled`, {
          cause: signal.reason,
        }),
      );
    }
    const requestId = ++this.requestIdCounter;
    // Registered before the request leaves, so the answer always finds its receive.
    const answer = this.inbox.receive(requestId, options, true);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
    encodeFrameHeader(FrameType.REQUEST, requestId, payload.length, crc32c(payload), frame, 0);
    frame.set(payload, FRAME_HEADER_BYTES);
    // A failed write fails the session, which rejects the answer's receive (RPC_UNAVAILABLE).
    this.corkForTick();
    this.socket.write(frame);
    return answer;
  }

  /** Sends the handler's answer to request `requestId` (accepting side); dropped once closed. */
  answer(requestId: number, payload: Uint8Array): void {
    if (this.closeError !== null) return;
    this.touch();
    if (payload.length > this.options.maxFrameBytes) {
      this.answerError(
        requestId,
        new SpindleError(
          ErrorCode.INTERNAL,
          `bulk session ${this.sessionId}: the answer to request ${requestId} is ${payload.length} bytes, ` +
            `more than the frame limit (${this.options.maxFrameBytes})`,
        ),
      );
      return;
    }
    this.corkForTick();
    this.socket.write(encodeFrameHeader(FrameType.DATA, requestId, payload.length, crc32c(payload)));
    this.socket.write(payload);
  }

  /** Sends an error answer to request `requestId` (accepting side); dropped once closed. */
  answerError(requestId: number, error: unknown): void {
    if (this.closeError !== null) return;
    const payload = encodeErrorAnswer(error);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
    encodeFrameHeader(FrameType.ERROR, requestId, payload.length, crc32c(payload), frame, 0);
    payload.copy(frame, FRAME_HEADER_BYTES);
    this.corkForTick();
    this.socket.write(frame);
  }

  /**
   * Calls and answers are small and come in bursts (the lanes a read of answers resumes, the
   * handlers one read of requests starts): corked until the next tick — which runs after the
   * current microtasks — they leave in one writev instead of one write syscall each.
   */
  private corkForTick(): void {
    if (this.corkedForTick) return;
    this.corkedForTick = true;
    this.socket.cork();
    process.nextTick(this.uncorkTick);
  }

  /** A request of this session went to the handler: stops reading at the limit (accepting side). */
  requestStarted(): void {
    if (++this.requestsInProgress === BULK_REQUESTS_IN_PROGRESS_MAX && this.closeError === null) this.socket.pause();
  }

  /**
   * The handler is done with a request of this session (its payload of `payloadBytes` was charged
   * to the budgets until now): reads again below the limit.
   */
  requestFinished(payloadBytes: number): void {
    this.releaseRequest(payloadBytes);
    if (this.requestsInProgress-- === BULK_REQUESTS_IN_PROGRESS_MAX && this.closeError === null) {
      // The peer could not make progress while this end did not read.
      this.lastReadMs = this.monotonicMs();
      this.socket.resume();
    }
  }

  /** A request's payload of `payloadBytes` is no longer held (answered, or never dispatched). */
  releaseRequest(payloadBytes: number): void {
    this.inbox.release(payloadBytes);
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** Sends the hello: the session id's bytes, then the credential (connecting side). */
  sendHello(): void {
    const id = Buffer.from(this.sessionId, 'hex');
    const payload = Buffer.concat([id, this.options.credential]);
    const header = encodeFrameHeader(FrameType.HELLO, 0, payload.length, crc32c(payload));
    this.socket.write(Buffer.concat([header, payload]));
  }

  close(): void {
    if (this.closeError !== null) return;
    const hadPendingSends = this.inFlight.size > 0 || this.queued.length > 0;
    this.fail(unavailable(`bulk session ${this.sessionId}: closed`));
    if (hadPendingSends || this.socket.destroyed) {
      this.socket.destroy();
    } else {
      // FIN after what the socket already took, so the peer reads every frame sent before close.
      this.socket.end();
      setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
    }
  }

  /** Closes the connection at once (protocol error, listener shutdown). */
  destroy(error: SpindleError): void {
    this.fail(error);
    this.socket.destroy();
  }

  private write(pending: PendingSend): void {
    this.inFlight.add(pending);
    const socket = this.socket;
    socket.cork();
    socket.write(pending.header);
    socket.write(pending.payload, (err) => {
      this.inFlight.delete(pending);
      this.lastWriteProgressMs = this.monotonicMs();
      if (err)
        pending.reject(
          this.closeError ?? unavailable(`bulk session ${this.sessionId}: send failed (${err.message})`, err),
        );
      else pending.resolve();
    });
    socket.uncork();
  }

  private flushQueue(): void {
    while (this.queued.length > 0 && this.closeError === null && !this.socket.writableNeedDrain) {
      this.write(this.queued.shift()!);
    }
  }

  private fail(error: SpindleError): void {
    if (this.closeError !== null) return;
    this.closeError = error;
    this.sink?.discard();
    this.sink = null;
    this.inbox.close(error);
    this.readyReject(error);
    for (const pending of this.queued.splice(0)) pending.reject(error);
    for (const pending of this.inFlight) pending.reject(error);
    this.inFlight.clear();
    for (const hook of this.closeHooks) hook(this);
    // A half-closed peer gets no more data from us either.
    if (!this.socket.destroyed && this.socket.readableEnded) this.socket.destroy();
  }

  private protocolError(message: string, fields: Record<string, unknown>): void {
    this.options.logger.warn({ sessionId: this.sessionId, remote: this.socket.remoteAddress, ...fields }, message);
    this.destroy(unavailable(`bulk session ${this.sessionId}: ${message}; connection closed`));
  }

  /**
   * Where the next read lands (`onread`): straight in the rest of the payload under way when that
   * is large and already has its buffer, in the staging buffer otherwise (headers, small frames,
   * and a frame's first bytes before its buffer exists: allocated at its first byte, not its header).
   */
  nextReadBuffer(): Uint8Array {
    const landing = this.landing!;
    const sink = this.sink;
    if (
      this.state === 'payload' &&
      this.payloadLeft >= BULK_DIRECT_READ_MIN_BYTES &&
      sink !== null &&
      sink.target !== null &&
      this.closeError === null
    ) {
      const target = sink.target;
      const view = target.subarray(sink.filled, sink.filled + this.payloadLeft);
      if (landing.direct(sink, target, sink.filled, view)) return view;
    }
    return landing.staged(this.state === 'header' && this.lastFrameLarge);
  }

  /** `onread` callback: `bytesRead` new bytes at the start of where nextReadBuffer said. */
  onRead(bytesRead: number): void {
    const landing = this.landing!;
    const landed = landing.current.subarray(0, bytesRead);
    const sink = landing.sink;
    if (sink === null) {
      this.onData(landed as Buffer);
      return;
    }
    if (sink === this.sink && sink.target === landing.target && sink.filled === landing.offset) {
      // In place already: only the checksum to update.
      this.lastReadMs = this.lastActivityMs = this.monotonicMs();
      this.crc = crc32c(landed, this.crc);
      this.directReadBytes += bytesRead;
      sink.filled += bytesRead;
      this.payloadLeft -= bytesRead;
      if (this.payloadLeft === 0) this.endData();
      return;
    }
    // The frame's destination changed during the read (a receive took over a frame that was going
    // into a buffer of the transport's): the bytes are this frame's payload, copied on from there.
    this.onData(Buffer.from(landed.buffer, landed.byteOffset, landed.byteLength));
  }

  /** Parses one piece of the byte stream; copies out everything it keeps (the chunk may be reused). */
  private onData(chunk: Buffer): void {
    let offset = 0;
    const length = chunk.length;
    this.lastReadMs = this.lastActivityMs = this.monotonicMs();
    while (offset < length) {
      if (this.closeError !== null) return;
      if (this.state === 'payload') {
        const take = Math.min(this.payloadLeft, length - offset);
        const piece = take === length ? chunk : chunk.subarray(offset, offset + take);
        const sink = this.sink!;
        if (sink.keeps) {
          this.crc = crc32c(piece, this.crc);
          sink.write(piece);
        } else {
          sink.filled += take;
        }
        offset += take;
        this.payloadLeft -= take;
        if (this.payloadLeft === 0) this.endData();
      } else if (this.state === 'header') {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFilled, length - offset);
        chunk.copy(this.header, this.headerFilled, offset, offset + take);
        this.headerFilled += take;
        offset += take;
        if (this.headerFilled === FRAME_HEADER_BYTES) {
          this.headerFilled = 0;
          this.onHeader();
        }
      } else {
        this.whole ??= Buffer.allocUnsafe(this.wholeLength);
        const whole = this.whole;
        const take = Math.min(whole.length - this.wholeFilled, length - offset);
        chunk.copy(whole, this.wholeFilled, offset, offset + take);
        this.wholeFilled += take;
        offset += take;
        if (this.wholeFilled === whole.length) this.endWhole();
      }
    }
  }

  private onHeader(): void {
    const header = this.header;
    const magic = header.readUInt16BE(0);
    const version = header[2]!;
    const type = header[3]!;
    const high = header.readUInt32BE(4);
    const lengthBytes = header.readUInt32BE(12);
    if (magic === FRAME_MAGIC && version === FRAME_VERSION_WITHOUT_CREDENTIAL && !this.handshakeDone) {
      this.protocolError(
        `bulk peer speaks protocol version ${version} (a hello without a credential), this node ${FRAME_VERSION}: ` +
          'upgrade the peer',
        { version },
      );
      return;
    }
    if (magic !== FRAME_MAGIC || version !== FRAME_VERSION) {
      this.protocolError('bulk frame with a bad magic or version', { magic, version });
      return;
    }
    if (high > REQUEST_ID_HIGH_MAX) {
      this.protocolError('bulk frame request id beyond 2^53', { high });
      return;
    }
    if (lengthBytes > this.options.maxFrameBytes) {
      this.protocolError('bulk frame longer than the frame limit', {
        lengthBytes,
        maxFrameBytes: this.options.maxFrameBytes,
      });
      return;
    }
    if (!this.handshakeDone) {
      const expected = this.role === 'accepting' ? FrameType.HELLO : FrameType.HELLO_ACK;
      // A listener that refuses the hello says why in an ERROR frame.
      if (type !== expected && !(this.role === 'connecting' && type === FrameType.ERROR)) {
        this.protocolError('bulk frame of an unexpected type', { type, expected });
        return;
      }
    } else if (type !== FrameType.DATA && type !== (this.role === 'accepting' ? FrameType.REQUEST : FrameType.ERROR)) {
      // REQUEST only toward the listener, ERROR only toward the connecting side; no second hello.
      this.protocolError('bulk frame of an unexpected type or direction', { type, role: this.role });
      return;
    }
    this.frameType = type;
    this.frameRequestId = high * TWO_POW_32 + header.readUInt32BE(8);
    this.frameCrc = header.readUInt32BE(16);
    if (type === FrameType.DATA) {
      this.sink = this.inbox.beginFrame(this.frameRequestId, lengthBytes);
      this.crc = 0;
      this.payloadLeft = lengthBytes;
      this.state = 'payload';
      if (lengthBytes === 0) this.endData();
      return;
    }
    const limitBytes =
      type === FrameType.REQUEST
        ? this.options.maxFrameBytes
        : type === FrameType.ERROR
          ? ERROR_ANSWER_CODE_BYTES + BULK_ERROR_MESSAGE_MAX_BYTES
          : type === FrameType.HELLO
            ? HELLO_PAYLOAD_MAX_BYTES
            : HELLO_ACK_PAYLOAD_MAX_BYTES;
    if (lengthBytes > limitBytes || (type === FrameType.ERROR && lengthBytes < ERROR_ANSWER_CODE_BYTES)) {
      this.protocolError('bulk frame of a length its type does not allow', { type, lengthBytes, limitBytes });
      return;
    }
    // A request's payload is held until its handler answers: charged now, allocated at its first byte.
    if (type === FrameType.REQUEST && !this.inbox.hold(lengthBytes)) return;
    this.whole = lengthBytes === 0 ? EMPTY : null;
    this.wholeLength = lengthBytes;
    this.wholeFilled = 0;
    this.state = 'whole';
    if (lengthBytes === 0) this.endWhole();
  }

  private endData(): void {
    const sink = this.sink!;
    this.lastFrameLarge = sink.lengthBytes >= BULK_DIRECT_READ_MIN_BYTES;
    this.sink = null;
    this.state = 'header';
    this.inbox.endFrame(sink, this.crc === this.frameCrc, this.frameCrc);
  }

  /** A frame collected whole is complete. */
  private endWhole(): void {
    const whole = this.whole!;
    this.whole = null;
    this.state = 'header';
    const crcOk = crc32c(whole) === this.frameCrc;
    if (this.frameType === FrameType.REQUEST) {
      // Charged at its header; the listener's dispatch releases it once answered.
      if (!crcOk || this.onRequest === undefined) this.releaseRequest(whole.length);
      if (!crcOk) {
        this.answerError(
          this.frameRequestId,
          new SpindleError(
            ErrorCode.CHECKSUM_MISMATCH,
            `bulk session ${this.sessionId}: request ${this.frameRequestId} failed its CRC32C check; resend`,
          ),
        );
      } else if (this.onRequest === undefined) {
        this.answerError(this.frameRequestId, unavailable('this listener answers no requests'));
      } else {
        this.onRequest(this, this.frameRequestId, whole);
      }
      return;
    }
    if (this.frameType === FrameType.ERROR && !this.handshakeDone) {
      // The listener refused the hello.
      const refusal = crcOk ? decodeErrorAnswer(whole)! : unavailable('bulk hello refused (a damaged error frame)');
      this.destroy(refusal);
      return;
    }
    if (this.frameType === FrameType.ERROR) {
      const error = crcOk
        ? decodeErrorAnswer(whole)!
        : new SpindleError(
            ErrorCode.CHECKSUM_MISMATCH,
            `bulk session ${this.sessionId}: ` +
              `the error answer to request ${this.frameRequestId} failed its CRC32C check`,
          );
      this.inbox.endWithError(this.frameRequestId, error);
      return;
    }
    const control = whole;
    if (!crcOk) {
      this.protocolError('bulk control frame failed its CRC32C check', { type: this.frameType });
      return;
    }
    if (this.frameType === FrameType.HELLO) {
      if (control.length < SESSION_ID_BYTES) {
        this.protocolError('bulk hello shorter than a session id', { lengthBytes: control.length });
        return;
      }
      this.sessionId = control.toString('hex', 0, SESSION_ID_BYTES);
      this.credential = control.toString('utf8', SESSION_ID_BYTES);
      this.inbox.what = `bulk session ${this.sessionId}`;
      this.handshakeDone = true;
      if (this.onHello !== undefined && !this.onHello(this)) return;
      this.socket.write(encodeFrameHeader(FrameType.HELLO_ACK, 0, 0, 0));
      this.readyResolve();
      return;
    }
    this.handshakeDone = true;
    this.readyResolve();
  }

  /** The credential of the peer's hello (accepting side; '' for none), until it is checked. */
  credential = '';
}

const EMPTY = Buffer.alloc(0);

class TcpBulkListener implements BulkListener {
  private readonly sessions = new Map<string, TcpBulkChannel>();
  /** Every accepted connection until its socket has closed (close() waits for them). */
  private readonly open = new Set<TcpBulkChannel>();
  /** Accepted connections not closed yet (handshaking or not): what the session limits count. */
  private readonly live = new Set<TcpBulkChannel>();
  /** Live connections per remote address. */
  private readonly perPeer = new Map<string, number>();
  /** Connections refused since the last warning about it (logged at most every BULK_REFUSAL_LOG_INTERVAL_MS). */
  private refusedUnlogged = 0;
  private refusalLoggedMs = -Infinity;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly waiting: SessionWaiters;
  private closing: Promise<void> | null = null;
  private requestHandler: BulkRequestHandler | null = null;
  private readonly dispatch: RequestSink = (channel, requestId, payload) => this.onRequest(channel, requestId, payload);

  constructor(
    private readonly server: net.Server,
    readonly address: string,
    private readonly options: ResolvedBulkOptions,
    private readonly useOnread: boolean,
    /** TLS for every accepted connection (common/tls.ts), or undefined for plain TCP. */
    private readonly security?: BulkSocketSecurity,
  ) {
    this.waiting = new SessionWaiters(`bulk listener ${address}`);
    server.on('connection', (socket) => this.onConnection(socket));
    const { helloTimeoutMs, idleTimeoutMs, progressTimeoutMs } = options;
    const intervalMs = Math.min(
      SWEEP_INTERVAL_MAX_MS,
      Math.max(SWEEP_INTERVAL_MIN_MS, Math.min(helloTimeoutMs, idleTimeoutMs, progressTimeoutMs) / 4),
    );
    this.sweepTimer = setInterval(() => this.sweep(), intervalMs);
    this.sweepTimer.unref();
  }

  channel(sessionId: string, waitMs = 0): Promise<BulkChannel> {
    const found = this.sessions.get(sessionId);
    if (found !== undefined) {
      found.touch();
      return Promise.resolve(found);
    }
    if (!isSessionId(sessionId)) {
      // Never one of ours: no wait, and the id is not echoed whole (it came from a peer's message).
      return Promise.reject(
        new SpindleError(
          ErrorCode.INVALID_ARGUMENT,
          `bulk listener ${this.address}: ${quoteId(sessionId)} is not a session id ` +
            `(${SESSION_ID_BYTES * 2} lowercase hex digits)`,
        ),
      );
    }
    if (this.closing !== null || !(waitMs > 0)) {
      return Promise.reject(
        unavailable(
          `bulk listener ${this.address}: no session ${sessionId}${this.closing !== null ? ' (listener closed)' : ''}`,
        ),
      );
    }
    return this.waiting.wait(sessionId, waitMs);
  }

  handleRequests(handler: BulkRequestHandler): void {
    this.requestHandler = handler;
  }

  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    clearInterval(this.sweepTimer);
    this.closing = new Promise<void>((resolve) => {
      const error = unavailable(`bulk listener ${this.address}: closed`);
      const sockets = [...this.open].map((channel) => channel.socketClosed);
      for (const channel of this.open) channel.destroy(error);
      const serverClosed = new Promise<void>((closed) => this.server.close(() => closed()));
      void Promise.all([serverClosed, ...sockets]).then(() => resolve());
      this.waiting.rejectAll(error);
    });
    return this.closing;
  }

  /** Hello, progress and idle timeouts of every live connection. */
  private sweep(): void {
    const nowMs = this.options.clock.nowUs() / 1000;
    for (const channel of [...this.live]) channel.checkTimeouts(nowMs);
  }

  /** Why a new connection from `remote` is refused (a session limit), or undefined. */
  private overLimit(remote: string): string | undefined {
    const { sessionsMax, sessionsPerPeerMax } = this.options;
    if (this.live.size >= sessionsMax) return `this listener holds its most sessions (${sessionsMax})`;
    if ((this.perPeer.get(remote) ?? 0) >= sessionsPerPeerMax) {
      return `${remote} holds the most sessions one address may (${sessionsPerPeerMax}); close idle ones`;
    }
    return undefined;
  }

  /** Refuses a connection at once: a short ERROR frame saying why (RPC_UNAVAILABLE), then FIN. */
  private refuseConnection(accepted: net.Socket, remote: string, reason: string): void {
    const payload = encodeErrorAnswer(unavailable(`bulk listener ${this.address}: ${reason}`));
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
    encodeFrameHeader(FrameType.ERROR, 0, payload.length, crc32c(payload), frame, 0);
    payload.copy(frame, FRAME_HEADER_BYTES);
    accepted.on('error', () => {});
    accepted.end(frame);
    setTimeout(() => accepted.destroy(), CLOSE_LINGER_MS).unref();
    this.refusedUnlogged++;
    const nowMs = this.options.clock.nowUs() / 1000;
    if (nowMs - this.refusalLoggedMs >= BULK_REFUSAL_LOG_INTERVAL_MS) {
      this.options.logger.warn(
        { remote, reason, refused: this.refusedUnlogged, sessions: this.live.size },
        'bulk connections refused at a session limit',
      );
      this.refusalLoggedMs = nowMs;
      this.refusedUnlogged = 0;
    }
  }

  private onConnection(accepted: net.Socket): void {
    if (this.closing !== null) {
      accepted.destroy();
      return;
    }
    const remote = accepted.remoteAddress ?? '';
    const refusal = this.overLimit(remote);
    if (refusal !== undefined) {
      this.refuseConnection(accepted, remote, refusal);
      return;
    }
    let landing: ReadLanding | undefined;
    let socket: net.Socket;
    if (this.security !== undefined) {
      socket = this.security.accept(accepted);
    } else if (this.useOnread) {
      landing = new ReadLanding();
      socket = adoptAccepted(accepted, landingReads(landing));
      // Not re-wrapped (no handle to move): read through 'data' events after all.
      if (socket === accepted) landing = undefined;
    } else {
      socket = accepted.resume();
    }
    const channel = new TcpBulkChannel(
      socket,
      'accepting',
      '',
      this.options,
      (ready) => this.register(ready),
      this.dispatch,
      landing,
    );
    this.open.add(channel);
    this.live.add(channel);
    this.perPeer.set(remote, (this.perPeer.get(remote) ?? 0) + 1);
    channel.onClose(() => {
      channel.socketClosed.then(() => this.open.delete(channel));
      this.live.delete(channel);
      const left = (this.perPeer.get(remote) ?? 1) - 1;
      if (left === 0) this.perPeer.delete(remote);
      else this.perPeer.set(remote, left);
      if (this.sessions.get(channel.sessionId) === channel) this.sessions.delete(channel.sessionId);
    });
  }

  /** A REQUEST frame of one of this listener's sessions: the handler answers it (concurrently). */
  private onRequest(channel: TcpBulkChannel, requestId: number, payload: Buffer): void {
    const handler = this.requestHandler;
    if (handler === null) {
      channel.releaseRequest(payload.length);
      channel.answerError(requestId, unavailable(`bulk listener ${this.address}: this listener answers no requests`));
      return;
    }
    let answered: Promise<Uint8Array>;
    try {
      answered = Promise.resolve(handler(payload, channel));
    } catch (err) {
      answered = Promise.reject(err);
    }
    channel.requestStarted();
    answered.then(
      (answer) => {
        channel.requestFinished(payload.length);
        channel.answer(requestId, answer);
      },
      (err: unknown) => {
        channel.requestFinished(payload.length);
        if (!(err instanceof SpindleError)) {
          this.options.logger.warn(
            { err, sessionId: channel.sessionId, requestId },
            'bulk request handler threw a non-Spindle error; answered INTERNAL',
          );
        }
        channel.answerError(requestId, err);
      },
    );
  }

  /** Hello received: checks its credential; the session becomes visible under its id. False when refused. */
  private register(channel: TcpBulkChannel): boolean {
    const id = channel.sessionId;
    if (this.closing !== null) {
      channel.destroy(unavailable(`bulk listener ${this.address}: closed`));
      return false;
    }
    const principal = this.authenticate(channel);
    if (principal === undefined) return false;
    channel.principal = principal;
    if (this.sessions.has(id)) {
      this.options.logger.warn({ sessionId: id }, 'bulk hello with the id of an open session; connection closed');
      channel.refuse(unavailable(`bulk session ${id}: duplicate session id`));
      return false;
    }
    this.sessions.set(id, channel);
    this.waiting.arrived(channel);
    return true;
  }

  /** Who the hello's credential names; undefined when refused (the session is closed, with a warning). */
  private authenticate(channel: TcpBulkChannel): Principal | undefined {
    const credential = channel.credential;
    channel.credential = '';
    const check = this.options.authenticate;
    if (check === undefined) return ANONYMOUS_ADMIN;
    let principal: Principal | undefined;
    let refusal: SpindleError | undefined;
    try {
      principal = check(credential);
    } catch (err) {
      refusal = err instanceof SpindleError ? err : undefined;
      if (refusal === undefined) throw err;
    }
    if (principal !== undefined) return principal;
    refusal ??= new SpindleError(
      ErrorCode.UNAUTHENTICATED,
      credential === ''
        ? 'bulk session refused: its hello carries no credential (give the client a token)'
        : 'bulk session refused: its credential is not valid for this cluster',
    );
    this.options.logger.warn(
      { sessionId: channel.sessionId, remote: channel.remoteAddress, hadCredential: credential !== '' },
      'bulk hello refused: credential not accepted',
    );
    channel.refuse(refusal);
    return undefined;
  }
}

export interface TcpBulkTransportOptions extends BulkTransportOptions {
  /**
   * How sockets are read: 'onread' (default: one reusable buffer per connection) or 'data-events'
   * (Node's stream 'data' events; the fallback where an accepted socket cannot be re-wrapped —
   * tests run the conformance suite on both).
   */
  readPath?: 'onread' | 'data-events';
}

export class TcpBulkTransport implements BulkTransport {
  readonly name = 'tcp';
  private readonly options: ResolvedBulkOptions;
  private readonly useOnread: boolean;
  /** The process's TLS (common/tls.ts): TLS sockets read through 'data' events. */
  private readonly security = bulkSocketSecurity();

  constructor(options: TcpBulkTransportOptions = {}) {
    this.options = resolveBulkOptions(options, 'bulk.tcp');
    this.useOnread = this.security === undefined && (options.readPath ?? 'onread') === 'onread';
  }

  listen(host: string, port: number): Promise<BulkListener> {
    return new Promise<BulkListener>((resolve, reject) => {
      const server = net.createServer({ noDelay: true, pauseOnConnect: true });
      const onError = (err: Error): void => {
        reject(unavailable(`bulk listener ${formatHostPort(host, port)}: cannot listen (${err.message})`, err));
      };
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.options.logger.warn({ err }, 'bulk listener error'));
        const bound = server.address() as net.AddressInfo;
        resolve(
          new TcpBulkListener(server, formatHostPort(host, bound.port), this.options, this.useOnread, this.security),
        );
      });
    });
  }

  connect(address: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<BulkChannel> {
    const target = parseHostPort(address);
    if (target === undefined) {
      return Promise.reject(
        new SpindleError(ErrorCode.INVALID_ARGUMENT, `bulk address ${JSON.stringify(address)} is not host:port`),
      );
    }
    const { signal } = options;
    if (signal?.aborted)
      return Promise.reject(
        new SpindleError(ErrorCode.CANCELLED, `bulk connect to ${address} cancelled`, { cause: signal.reason }),
      );
    const timeoutMs = options.timeoutMs ?? BULK_CONNECT_TIMEOUT_DEFAULT_MS;
    const sessionId = this.options.newSessionId();
    assert(
      isSessionId(sessionId),
      `bulk session id ${JSON.stringify(sessionId)} is not ${SESSION_ID_BYTES} bytes of lowercase hex`,
    );
    const landing = this.security === undefined && this.useOnread ? new ReadLanding() : undefined;
    const socket =
      this.security?.connect(target.host, target.port) ??
      net.connect({
        host: target.host,
        port: target.port,
        noDelay: true,
        ...(landing === undefined ? {} : { onread: landingReads(landing) }),
      });
    const channel = new TcpBulkChannel(socket, 'connecting', sessionId, this.options, undefined, undefined, landing);
    socket.once(this.security ? 'secureConnect' : 'connect', () => channel.sendHello());
    return new Promise<BulkChannel>((resolve, reject) => {
      const onAbort = (): void => {
        channel.destroy(
          new SpindleError(ErrorCode.CANCELLED, `bulk connect to ${address} cancelled`, { cause: signal?.reason }),
        );
      };
      const timer = setTimeout(() => {
        channel.destroy(unavailable(`bulk connect to ${address}: no handshake within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      channel.ready.then(
        () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(channel);
        },
        (error: SpindleError) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          // A refusal keeps its code (UNAUTHENTICATED is not retried); the rest is a connection that failed.
          reject(
            error.errorCode === ErrorCode.CANCELLED
              ? error
              : error.errorCode === ErrorCode.RPC_UNAVAILABLE
                ? unavailable(`bulk connect to ${address}: ${error.message}`, error)
                : new SpindleError(error.errorCode, `bulk connect to ${address}: ${error.message}`, { cause: error }),
          );
        },
      );
    });
  }
}
