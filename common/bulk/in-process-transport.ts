// InProcessBulkTransport: bulk sessions between objects in one process, for tests and the
// simulator. Listeners live in a map of this transport instance under made-up addresses
// (`inproc:1`, …), so two transports never see each other's listeners.
//
// Same semantics as TcpBulkTransport (one conformance suite): frames are delivered
// asynchronously (setImmediate, in send order per direction) and go through the same FrameInbox
// (into/maxBytes limits, unclaimed frames, timeouts, aborts, close). The payload is copied at
// delivery, so a send resolves once the sender's buffer is no longer needed. The CRC32C is checked
// only when the sender passed one (CHECKSUM_MISMATCH on a mismatch, like TCP).
import { crc32c } from '../crc32c.js';
import { ErrorCode, SpindleError, assert } from '../errors.js';
import { BULK_CONNECT_TIMEOUT_DEFAULT_MS, BULK_SESSIONS_MAX } from './constants.js';
import { FrameInbox } from './frame-inbox.js';
import { checkSend, resolveBulkOptions, unavailable, type BulkTransportOptions, type ResolvedBulkOptions } from './options.js';
import type { BulkChannel, BulkListener, BulkReceiveOptions, BulkTransport } from './transport.js';

interface PendingSend {
  readonly reject: (error: SpindleError) => void;
}

class InProcessChannel implements BulkChannel {
  peer!: InProcessChannel;
  private readonly inbox: FrameInbox;
  private closeError: SpindleError | null = null;
  private readonly pendingSends = new Set<PendingSend>();
  private requestIdCounter = 0;
  private readonly closeHooks: Array<() => void> = [];

  constructor(
    readonly sessionId: string,
    private readonly connecting: boolean,
    private readonly options: ResolvedBulkOptions,
  ) {
    this.inbox = new FrameInbox(`bulk session ${sessionId}`, options);
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

interface ChannelWaiter {
  readonly resolve: (channel: BulkChannel) => void;
  readonly reject: (error: SpindleError) => void;
  readonly timer: NodeJS.Timeout;
}

class InProcessListener implements BulkListener {
  private readonly sessions = new Map<string, InProcessChannel>();
  private readonly waiting = new Map<string, Set<ChannelWaiter>>();
  private closedFlag = false;

  constructor(
    readonly address: string,
    private readonly onClosed: () => void,
  ) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  channel(sessionId: string, waitMs = 0): Promise<BulkChannel> {
    const found = this.sessions.get(sessionId);
    if (found !== undefined) return Promise.resolve(found);
    if (this.closedFlag || !(waitMs > 0)) {
      return Promise.reject(unavailable(`bulk listener ${this.address}: no session ${sessionId}${this.closedFlag ? ' (listener closed)' : ''}`));
    }
    return new Promise<BulkChannel>((resolve, reject) => {
      const waiters = this.waiting.get(sessionId) ?? new Set<ChannelWaiter>();
      this.waiting.set(sessionId, waiters);
      const waiter: ChannelWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          waiters.delete(waiter);
          if (waiters.size === 0) this.waiting.delete(sessionId);
          reject(unavailable(`bulk listener ${this.address}: no session ${sessionId} after waiting ${waitMs} ms`));
        }, waitMs),
      };
      waiter.timer.unref();
      waiters.add(waiter);
    });
  }

  /** The accepting end of a new session; false when refused. */
  accept(channel: InProcessChannel): boolean {
    if (this.closedFlag || this.sessions.has(channel.sessionId) || this.sessions.size >= BULK_SESSIONS_MAX) return false;
    this.sessions.set(channel.sessionId, channel);
    channel.onClose(() => this.sessions.delete(channel.sessionId));
    const waiters = this.waiting.get(channel.sessionId);
    if (waiters !== undefined) {
      this.waiting.delete(channel.sessionId);
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.resolve(channel);
      }
    }
    return true;
  }

  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.onClosed();
    for (const channel of [...this.sessions.values()]) channel.close();
    const error = unavailable(`bulk listener ${this.address}: closed`);
    for (const [, waiters] of this.waiting) {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(error);
      }
    }
    this.waiting.clear();
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
    const listener = new InProcessListener(address, () => {
      if (this.listeners.get(address) === listener) this.listeners.delete(address);
    });
    this.listeners.set(address, listener);
    return listener;
  }

  async connect(address: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<BulkChannel> {
    const { signal } = options;
    if (signal?.aborted) throw new SpindleError(ErrorCode.CANCELLED, `bulk connect to ${address} cancelled`, { cause: signal.reason });
    if (!((options.timeoutMs ?? BULK_CONNECT_TIMEOUT_DEFAULT_MS) >= 0)) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `bulk connect to ${address}: bad timeoutMs ${options.timeoutMs}`);
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
    if (!listener.accept(remote)) {
      local.close();
      throw unavailable(`bulk connect to ${address}: the listener refused the session`);
    }
    return local;
  }
}
