// InProcessBulkTransport: bulk sessions between objects in one process, for tests and the
// simulator. Listeners live in a map of this transport instance under made-up addresses
// (`inproc:1`, …), so two transports never see each other's listeners.
//
// Same semantics as TcpBulkTransport (one conformance suite): frames are delivered
// asynchronously (setImmediate, in send order per direction) and go through the same FrameInbox
// (into/maxBytes limits, unclaimed frames, timeouts, aborts, close). The payload is copied at
// delivery, so a send resolves once the sender's buffer is no longer needed. The CRC32C is checked
// only when the sender passed one (CHECKSUM_MISMATCH on a mismatch, like TCP).
//
// Calls: the payload is copied at `call` and handed to the listener's handler asynchronously
// (setImmediate); its answer is delivered like a frame, its error encoded and decoded as the TCP
// ERROR frame is (code and message only, cut to the same length), so both transports fail a call
// with the same SpindleError. Unlike TCP, requests in progress are not bounded per session (there
// is no socket to stop reading; tests and the simulator bound their own load), and there are no
// per-peer limits, idle or progress timeouts (no remote addresses, frames arrive whole); the
// credential check, the session limit and the byte budgets (frame-inbox.ts) are the same.
import { ANONYMOUS_ADMIN, type Principal } from '../auth/principal.js';
import { crc32c } from '../crc32c.js';
import { ErrorCode, SpindleError, assert } from '../errors.js';
import { BULK_CONNECT_TIMEOUT_DEFAULT_MS } from './constants.js';
import { FrameInbox } from './frame-inbox.js';
import {
  checkSend,
  decodeErrorAnswer,
  encodeErrorAnswer,
  resolveBulkOptions,
  unavailable,
  type BulkTransportOptions,
  type ResolvedBulkOptions,
} from './options.js';
import { SessionWaiters } from './session-waiters.js';
import type {
  BulkCallOptions,
  BulkChannel,
  BulkListener,
  BulkReceiveOptions,
  BulkRequestHandler,
  BulkTransport,
} from './transport.js';

interface PendingSend {
  readonly reject: (error: SpindleError) => void;
}

class InProcessChannel implements BulkChannel {
  peer!: InProcessChannel;
  /** The listener's request dispatcher (accepting side). */
  onRequest: ((channel: InProcessChannel, requestId: number, payload: Buffer) => void) | null = null;
  private readonly inbox: FrameInbox;
  private closeError: SpindleError | null = null;
  private readonly pendingSends = new Set<PendingSend>();
  private requestIdCounter = 0;
  private readonly closeHooks: Array<() => void> = [];
  /** Who the peer is (accepting side, once accepted). */
  principal: Principal | undefined;

  constructor(
    readonly sessionId: string,
    private readonly connecting: boolean,
    private readonly options: ResolvedBulkOptions,
  ) {
    this.inbox = new FrameInbox(`bulk session ${sessionId}`, options, (error) => {
      this.fail(error);
      this.peer.fail(error);
    });
  }

  get closed(): boolean {
    return this.closeError !== null;
  }

  onClose(hook: () => void): void {
    this.closeHooks.push(hook);
  }

  nextRequestId(): number {
    assert(this.connecting, 'nextRequestId is for the connecting side of a bulk session');
    return ++this.requestIdCounter;
  }

  receive(requestId: number, options?: BulkReceiveOptions): Promise<Buffer> {
    return this.inbox.receive(requestId, options);
  }

  send(requestId: number, payload: Uint8Array, crc?: number): Promise<void> {
    if (this.closeError !== null) return Promise.reject(this.closeError);
    const bad = checkSend(`bulk session ${this.sessionId}`, requestId, payload, this.options.maxFrameBytes);
    if (bad !== undefined) return Promise.reject(bad);
    return new Promise<void>((resolve, reject) => {
      const pending: PendingSend = { reject };
      this.pendingSends.add(pending);
      setImmediate(() => {
        if (!this.pendingSends.delete(pending)) return;
        if (this.closeError !== null) {
          reject(this.closeError);
          return;
        }
        this.peer.deliver(requestId, payload, crc);
        resolve();
      });
    });
  }

  call(payload: Uint8Array, options?: BulkCallOptions): Promise<Buffer> {
    assert(this.connecting, 'call is for the connecting side of a bulk session');
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
    const answer = this.inbox.receive(requestId, options, true);
    const copy = Buffer.from(payload);
    setImmediate(() => {
      if (this.closeError === null) this.peer.request(requestId, copy);
    });
    return answer;
  }

  /** A request arrived (accepting side). */
  private request(requestId: number, payload: Buffer): void {
    if (this.closeError !== null) return;
    if (this.onRequest === null) this.answerError(requestId, unavailable('this listener answers no requests'));
    else this.onRequest(this, requestId, payload);
  }

  /** Delivers the handler's answer to the caller (accepting side); dropped once closed. */
  answer(requestId: number, payload: Uint8Array): void {
    if (this.closeError !== null) return;
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
    setImmediate(() => {
      if (this.closeError === null) this.peer.deliver(requestId, payload, undefined);
    });
  }

  /** Delivers an error answer to the caller (accepting side); dropped once closed. */
  answerError(requestId: number, error: unknown): void {
    if (this.closeError !== null) return;
    const encoded = encodeErrorAnswer(error);
    setImmediate(() => {
      if (this.closeError === null) this.peer.inbox.endWithError(requestId, decodeErrorAnswer(encoded)!);
    });
  }

  close(): void {
    this.fail(unavailable(`bulk session ${this.sessionId}: closed`));
    this.peer.fail(unavailable(`bulk session ${this.sessionId}: the peer closed the session`));
  }

  fail(error: SpindleError): void {
    if (this.closeError !== null) return;
    this.closeError = error;
    this.inbox.close(error);
    for (const pending of this.pendingSends) pending.reject(error);
    this.pendingSends.clear();
    for (const hook of this.closeHooks) hook();
  }

  private deliver(requestId: number, payload: Uint8Array, crc: number | undefined): void {
    const sink = this.inbox.beginFrame(requestId, payload.length);
    sink.write(payload);
    const actual = crc32c(payload);
    this.inbox.endFrame(sink, crc === undefined || actual === crc >>> 0, actual);
  }
}

class InProcessListener implements BulkListener {
  private readonly sessions = new Map<string, InProcessChannel>();
  private readonly waiting: SessionWaiters;
  private closedFlag = false;
  private requestHandler: BulkRequestHandler | null = null;
  private readonly dispatch = (channel: InProcessChannel, requestId: number, payload: Buffer): void =>
    this.onRequest(channel, requestId, payload);

  constructor(
    readonly address: string,
    private readonly onClosed: () => void,
    private readonly options: ResolvedBulkOptions,
  ) {
    this.waiting = new SessionWaiters(`bulk listener ${address}`);
  }

  handleRequests(handler: BulkRequestHandler): void {
    this.requestHandler = handler;
  }

  /** A request of one of this listener's sessions: the handler answers it (concurrently). */
  private onRequest(channel: InProcessChannel, requestId: number, payload: Buffer): void {
    const handler = this.requestHandler;
    if (handler === null) {
      channel.answerError(requestId, unavailable(`bulk listener ${this.address}: this listener answers no requests`));
      return;
    }
    let answered: Promise<Uint8Array>;
    try {
      answered = Promise.resolve(handler(payload, channel));
    } catch (err) {
      answered = Promise.reject(err);
    }
    answered.then(
      (answer) => channel.answer(requestId, answer),
      (err: unknown) => {
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

  get closed(): boolean {
    return this.closedFlag;
  }

  channel(sessionId: string, waitMs = 0): Promise<BulkChannel> {
    const found = this.sessions.get(sessionId);
    if (found !== undefined) return Promise.resolve(found);
    if (this.closedFlag || !(waitMs > 0)) {
      return Promise.reject(
        unavailable(
          `bulk listener ${this.address}: no session ${sessionId}${this.closedFlag ? ' (listener closed)' : ''}`,
        ),
      );
    }
    return this.waiting.wait(sessionId, waitMs);
  }

  /** The accepting end of a new session, whose hello carried `credential`; false when refused. */
  accept(channel: InProcessChannel, credential: string): boolean {
    if (this.closedFlag || this.sessions.has(channel.sessionId) || this.sessions.size >= this.options.sessionsMax)
      return false;
    const check = this.options.authenticate;
    const principal = check === undefined ? ANONYMOUS_ADMIN : check(credential);
    if (principal === undefined) {
      throw new SpindleError(
        ErrorCode.UNAUTHENTICATED,
        'bulk session refused: its credential is not valid for this cluster',
      );
    }
    channel.principal = principal;
    this.sessions.set(channel.sessionId, channel);
    channel.onRequest = this.dispatch;
    channel.onClose(() => this.sessions.delete(channel.sessionId));
    this.waiting.arrived(channel);
    return true;
  }

  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.onClosed();
    for (const channel of [...this.sessions.values()]) channel.close();
    this.waiting.rejectAll(unavailable(`bulk listener ${this.address}: closed`));
  }
}

export class InProcessBulkTransport implements BulkTransport {
  readonly name = 'in-process';
  private readonly options: ResolvedBulkOptions;
  private readonly listeners = new Map<string, InProcessListener>();
  private addressCounter = 0;

  constructor(options: BulkTransportOptions = {}) {
    this.options = resolveBulkOptions(options, 'bulk.in-process');
  }

  /** `host` is ignored; port 0 picks the next free `inproc:<n>`, another port asks for `inproc:<port>`. */
  async listen(_host: string, port: number): Promise<BulkListener> {
    let address: string;
    if (port === 0) {
      do address = `inproc:${++this.addressCounter}`;
      while (this.listeners.has(address));
    } else {
      address = `inproc:${port}`;
      if (this.listeners.has(address)) throw unavailable(`bulk listener ${address}: address in use`);
    }
    const listener = new InProcessListener(
      address,
      () => {
        if (this.listeners.get(address) === listener) this.listeners.delete(address);
      },
      this.options,
    );
    this.listeners.set(address, listener);
    return listener;
  }

  async connect(address: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<BulkChannel> {
    const { signal } = options;
    if (signal?.aborted)
      throw new SpindleError(ErrorCode.CANCELLED, `bulk connect to ${address} cancelled`, { cause: signal.reason });
    if (!((options.timeoutMs ?? BULK_CONNECT_TIMEOUT_DEFAULT_MS) >= 0)) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `bulk connect to ${address}: bad timeoutMs ${options.timeoutMs}`,
      );
    }
    // Asynchronous like a real handshake.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const listener = this.listeners.get(address);
    if (listener === undefined || listener.closed) throw unavailable(`bulk connect to ${address}: no listener there`);
    const sessionId = this.options.newSessionId();
    const local = new InProcessChannel(sessionId, true, this.options);
    const remote = new InProcessChannel(sessionId, false, this.options);
    local.peer = remote;
    remote.peer = local;
    let accepted: boolean;
    try {
      accepted = listener.accept(remote, this.options.credential.toString('utf8'));
    } catch (err) {
      local.close();
      throw err instanceof SpindleError
        ? new SpindleError(err.errorCode, `bulk connect to ${address}: ${err.message}`, { cause: err })
        : err;
    }
    if (!accepted) {
      local.close();
      throw unavailable(`bulk connect to ${address}: the listener refused the session`);
    }
    return local;
  }
}
