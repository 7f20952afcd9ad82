// FrameInbox: the receiving half of one bulk session, shared by every BulkTransport
// implementation (TCP, in-process) so the rules are written once.
//
// It pairs frames with the `receive` calls asking for them, by request id, in either order:
//   - a receive waiting when a frame starts: the frame's bytes go straight into the receiver's
//     `into` (or one buffer of the frame's length) as they arrive — one copy, no concatenation;
//   - a frame with nobody waiting: kept as an *unclaimed* frame in a buffer of its own length, until
//     a receive takes it, it expires (TTL), or newer frames push it out (total bytes bounded, oldest
//     dropped first, with a warning). A receive that starts while such a frame is still arriving
//     takes it over: the bytes so far are copied into its `into` and the rest goes there directly.
//   - memory: a buffer of the transport's (an unclaimed frame, or a receive without `into`) is
//     allocated when the frame's first byte arrives, never at its header; its length is charged
//     first to the session's budget (`unclaimedMaxBytes`: the oldest complete unclaimed frames are
//     dropped to make room, and if that is not enough the session is closed) and to the node's
//     (`nodeHeld`, node-held-bytes.ts: the session holding the most is closed). The charge ends when
//     a receive takes the bytes or they are dropped; the transport charges what else it holds
//     (requests its handler works on) through `hold`/`release`.
//   - a frame longer than the receive allows (`into`, `maxBytes`) fails that receive with
//     INVALID_ARGUMENT and its payload is skipped; a frame whose CRC32C does not match fails it
//     with CHECKSUM_MISMATCH (an unclaimed one keeps the error for whoever asks).
//   - timeouts (TIMEOUT) and aborts (CANCELLED) end one receive (timeouts share one timer per
//     inbox, armed for the earliest deadline: a timer per receive — an AbortController and a
//     sleep — cost a call ~40 µs of CPU); when its frame was being written
//     into its `into`, the rest of that frame is discarded (the caller's buffer is theirs again).
//   - the answer to a call that gave up (`receive(id, options, true)`) is dropped when it comes
//     (the ids of the last BULK_ABANDONED_ANSWERS_MAX such calls are remembered), not kept;
//   - `close(error)` rejects every waiting receive with that error and drops everything held.
//   - an error answer (an ERROR frame, the reply to a failed `BulkChannel.call`) ends the receive
//     of its id with that error, or is kept like an unclaimed frame that carries it.
//
// The transport drives it: `beginFrame(id, length)` when a frame's header is known, `sink.write`
// for each piece of payload, `endFrame(sink, crcOk)` when the payload is complete;
// `endWithError(id, error)` for an error answer.
import type { Clock } from '../clock.js';
import { ErrorCode, SpindleError } from '../errors.js';
import type { Logger } from '../logger.js';
import { BULK_ABANDONED_ANSWERS_MAX } from './constants.js';
import type { HeldBytesHolder, NodeHeldBytes } from './node-held-bytes.js';
import type { BulkReceiveOptions } from './transport.js';

export interface FrameInboxOptions {
  /** Largest frame accepted (the default `maxBytes` of a receive). */
  readonly maxFrameBytes: number;
  /** Bytes the session holds for nobody yet (see the header); the oldest unclaimed frames go beyond it. */
  readonly unclaimedMaxBytes: number;
  /** The node's budget of the same bytes over all its sessions (none: only the session's). */
  readonly nodeHeld?: NodeHeldBytes;
  /** How long an unclaimed frame is kept. */
  readonly unclaimedTtlMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

interface Waiter {
  readonly requestId: number;
  readonly into: Uint8Array | undefined;
  /** Longest frame this receive accepts. */
  readonly limitBytes: number;
  /** The CRC32C the payload must have, if the caller knows it. */
  readonly expectCrc32c: number | undefined;
  readonly resolve: (payload: Buffer) => void;
  readonly reject: (error: SpindleError) => void;
  /** When the receive gives up (ms on the clock's monotonic `nowUs`; Infinity without a timeout). */
  readonly deadlineMs: number;
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  /** The abort listener on `signal`, if any. */
  onAbort: (() => void) | null;
  /** Nobody asks for this id again once the receive gave up (a call's answer): drop its frame. */
  readonly dropLate: boolean;
  /** The frame currently arriving for this receive, if any. */
  sink: FrameSink | null;
}

interface UnclaimedFrame {
  readonly payload: Buffer;
  /** CRC32C of the payload (checked against the frame header). */
  readonly crc32c: number;
  readonly error: SpindleError | undefined;
  readonly expiresAtMs: number;
}

/** Where the payload of one arriving frame goes. */
export class FrameSink {
  /** Destination of the remaining bytes; null before its first byte (see allocateOnWrite) or once skipped. */
  target: Uint8Array | null = null;
  /** A buffer of lengthBytes is allocated for it when its first byte arrives (not at its header). */
  allocateOnWrite = false;
  /** Payload bytes seen so far (written or skipped). */
  filled = 0;
  /** True when the frame has no destination any more (too long, receiver gone, inbox closed). */
  discarded = false;
  /** The receive this frame goes to; null while it is an unclaimed frame in the making. */
  waiter: Waiter | null = null;
  /** Bytes charged to the budgets for this frame's buffer (0 when it goes into a receiver's `into`). */
  charged = 0;
  /**
   * Set by a transport while a socket read may land straight in `target` (tcp-transport.ts): called
   * when the frame loses its destination, so the transport points that read elsewhere before the
   * receiver's buffer is theirs again.
   */
  onDiscard: (() => void) | null = null;

  constructor(
    readonly requestId: number,
    readonly lengthBytes: number,
    private readonly owner: FrameInbox | null = null,
  ) {}

  /** Whether the payload is kept (false: its bytes are skipped). */
  get keeps(): boolean {
    return this.target !== null || this.allocateOnWrite;
  }

  /** Copies the next piece of payload to its destination (or skips it). */
  write(piece: Uint8Array): void {
    if (this.allocateOnWrite) {
      this.allocateOnWrite = false;
      this.target = Buffer.allocUnsafe(this.lengthBytes);
    }
    if (this.target !== null) this.target.set(piece, this.filled);
    this.filled += piece.length;
  }

  discard(): void {
    this.target = null;
    this.allocateOnWrite = false;
    this.discarded = true;
    this.waiter = null;
    this.uncharge();
    const onDiscard = this.onDiscard;
    this.onDiscard = null;
    onDiscard?.();
  }

  /** The buffer is no longer the transport's to hold (given to a receive, dropped). */
  uncharge(): void {
    if (this.charged === 0) return;
    this.owner?.release(this.charged);
    this.charged = 0;
  }
}

const EMPTY = Buffer.alloc(0);

function bufferView(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class FrameInbox implements HeldBytesHolder {
  private readonly waiters = new Map<number, Waiter>();
  /** Frames arriving with no receive attached yet, by request id. */
  private readonly arriving = new Map<number, FrameSink>();
  /** Insertion order is arrival order, which is expiry order (one TTL for all). */
  private readonly unclaimed = new Map<number, UnclaimedFrame>();
  private unclaimedBytes = 0;
  private expiryTimer: AbortController | null = null;
  /** Waiting receives that have a deadline. */
  private readonly timed = new Set<Waiter>();
  /** The one timer of those deadlines, and when it fires (Infinity: not armed). */
  private deadlineTimer: AbortController | null = null;
  private deadlineTimerDueMs = Infinity;
  /** Ids whose receive gave up for good (calls): their frames are dropped on arrival. Oldest first. */
  private readonly abandoned = new Set<number>();
  private closeError: SpindleError | null = null;
  /** Bytes charged to the budgets (see the header). */
  private held = 0;

  constructor(
    /** Names the session in messages, e.g. 'bulk session 3f…' (set again once the id is known). */
    public what: string,
    private readonly options: FrameInboxOptions,
    /** Closes the session when it is over budget (default: only this inbox closes). */
    private readonly onOverBudget: (error: SpindleError) => void = (error) => this.close(error),
  ) {}

  get heldBytes(): number {
    return this.held;
  }

  /** Receives waiting for their frame (a session with one is not idle). */
  get waitingCount(): number {
    return this.waiters.size;
  }

  /**
   * Charges `bytes` the session is about to hold to its budget and the node's, making room as the
   * header says. False when the session was closed instead (it must not keep the bytes).
   */
  hold(bytes: number, sessionLimit = true): boolean {
    if (this.closeError !== null) return false;
    // A frame a receive asked for is one frame at a time per session: only the node's budget applies.
    const max = sessionLimit ? this.options.unclaimedMaxBytes : Infinity;
    if (this.held + bytes > max) this.dropOldestUnclaimed(this.held + bytes - max);
    if (this.held + bytes > max) {
      this.evict(
        new SpindleError(
          ErrorCode.RPC_UNAVAILABLE,
          `${this.what}: closed, it would hold ${this.held + bytes} bytes of frames and requests nobody took, ` +
            `more than a session may (${max})`,
        ),
      );
      return false;
    }
    if (this.options.nodeHeld !== undefined && !this.options.nodeHeld.reserve(this, bytes)) return false;
    this.held += bytes;
    return true;
  }

  /** Drops complete unclaimed frames, oldest first, until `bytes` are freed or none is left. */
  private dropOldestUnclaimed(bytes: number): void {
    let freed = 0;
    for (const [oldId, old] of this.unclaimed) {
      if (freed >= bytes) break;
      this.options.logger.warn(
        { requestId: oldId, lengthBytes: old.payload.length, unclaimedMaxBytes: this.options.unclaimedMaxBytes },
        'unclaimed bulk frames over their byte limit; the oldest is dropped',
      );
      freed += old.payload.length;
      this.dropUnclaimed(oldId, old);
    }
  }

  /** Gives back bytes charged by `hold` (nothing once closed: close gave everything back). */
  release(bytes: number): void {
    if (this.closeError !== null || bytes === 0) return;
    this.held -= bytes;
    this.options.nodeHeld?.release(this, bytes);
  }

  evict(error: SpindleError): void {
    this.options.logger.warn({ session: this.what, heldBytes: this.held }, 'bulk session over its byte budget; closed');
    this.onOverBudget(error);
    this.close(error);
  }

  /** Frames held that nobody has asked for yet (for tests and metrics). */
  get unclaimedCount(): number {
    return this.unclaimed.size;
  }

  get unclaimedTotalBytes(): number {
    return this.unclaimedBytes;
  }

  /**
   * The frame of `requestId`. `dropLate`: once this receive has given up (timeout, abort), nobody
   * will ask for the frame again (a call's answer), so a late one is dropped rather than kept.
   */
  receive(requestId: number, options: BulkReceiveOptions = {}, dropLate = false): Promise<Buffer> {
    if (this.closeError !== null) return Promise.reject(this.closeError);
    if (!Number.isSafeInteger(requestId) || requestId < 0) {
      return Promise.reject(invalid(`${this.what}: request id ${requestId} is not an integer in [0, 2^53)`));
    }
    const { into, maxBytes, timeoutMs, signal, expectCrc32c } = options;
    if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) {
      return Promise.reject(invalid(`${this.what}: maxBytes ${maxBytes} is not a non-negative integer`));
    }
    if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
      return Promise.reject(invalid(`${this.what}: timeoutMs ${timeoutMs} is not a non-negative number`));
    }
    if (this.waiters.has(requestId)) {
      return Promise.reject(invalid(`${this.what}: a receive of request ${requestId} is already waiting`));
    }
    const limitBytes = Math.min(maxBytes ?? this.options.maxFrameBytes, into?.length ?? Infinity);

    const held = this.unclaimed.get(requestId);
    if (held !== undefined) {
      this.dropUnclaimed(requestId, held);
      if (held.error !== undefined) return Promise.reject(held.error);
      if (held.payload.length > limitBytes)
        return Promise.reject(this.tooLong(requestId, held.payload.length, limitBytes));
      const wrong = this.unexpectedCrc(requestId, held.crc32c, expectCrc32c);
      if (wrong !== undefined) return Promise.reject(wrong);
      if (into === undefined) return Promise.resolve(held.payload);
      into.set(held.payload, 0);
      return Promise.resolve(bufferView(into.subarray(0, held.payload.length)));
    }
    if (signal?.aborted) {
      return Promise.reject(
        new SpindleError(ErrorCode.CANCELLED, `${this.what}: receive of request ${requestId} cancelled`, {
          cause: signal.reason,
        }),
      );
    }

    const sink = this.arriving.get(requestId);
    if (sink !== undefined && sink.lengthBytes > limitBytes) {
      // Arriving now, too long for this receive: the frame is consumed by the failure.
      this.arriving.delete(requestId);
      sink.discard();
      return Promise.reject(this.tooLong(requestId, sink.lengthBytes, limitBytes));
    }

    return new Promise<Buffer>((resolve, reject) => {
      const deadlineMs = timeoutMs === undefined ? Infinity : this.monotonicMs() + timeoutMs;
      const waiter: Waiter = {
        requestId,
        into,
        limitBytes,
        expectCrc32c,
        resolve,
        reject,
        deadlineMs,
        timeoutMs,
        signal,
        onAbort: null,
        dropLate,
        sink: null,
      };
      this.waiters.set(requestId, waiter);
      if (deadlineMs !== Infinity) {
        this.timed.add(waiter);
        if (deadlineMs < this.deadlineTimerDueMs) this.armDeadlineTimer(deadlineMs);
      }
      if (signal !== undefined) {
        const onAbort = (): void => {
          this.giveUp(
            waiter,
            new SpindleError(ErrorCode.CANCELLED, `${this.what}: receive of request ${requestId} cancelled`, {
              cause: signal.reason,
            }),
          );
        };
        waiter.onAbort = onAbort;
        signal.addEventListener('abort', onAbort, { once: true });
      }
      if (sink !== undefined) {
        // Take over the frame that is arriving: bytes so far into `into`, the rest straight there.
        this.arriving.delete(requestId);
        sink.waiter = waiter;
        waiter.sink = sink;
        if (into !== undefined && sink.keeps) {
          const target = into.subarray(0, sink.lengthBytes);
          if (sink.target !== null) target.set(sink.target.subarray(0, sink.filled), 0);
          sink.target = target;
          sink.allocateOnWrite = false;
          sink.uncharge();
        }
      }
    });
  }

  /** A frame's header is known: decides where its payload goes. */
  beginFrame(requestId: number, lengthBytes: number): FrameSink {
    const sink = new FrameSink(requestId, lengthBytes, this);
    if (this.closeError !== null) {
      sink.discard();
      return sink;
    }
    if (this.abandoned.size > 0 && this.abandoned.delete(requestId)) {
      sink.discard();
      return sink;
    }
    const waiter = this.waiters.get(requestId);
    if (waiter !== undefined && waiter.sink === null) {
      if (lengthBytes > waiter.limitBytes) {
        sink.discard();
        this.settle(waiter, this.tooLong(requestId, lengthBytes, waiter.limitBytes));
        return sink;
      }
      sink.waiter = waiter;
      if (waiter.into !== undefined) {
        sink.target = waiter.into.subarray(0, lengthBytes);
      } else if (!this.charge(sink)) {
        return sink;
      }
      waiter.sink = sink;
      return sink;
    }
    if (lengthBytes > this.options.unclaimedMaxBytes) {
      this.options.logger.warn(
        { requestId, lengthBytes, unclaimedMaxBytes: this.options.unclaimedMaxBytes },
        'bulk frame nobody waits for is larger than the unclaimed limit; dropped',
      );
      sink.discard();
      return sink;
    }
    if (!this.charge(sink)) return sink;
    this.arriving.set(requestId, sink);
    return sink;
  }

  /** Charges a frame's buffer (allocated at its first byte); false (frame discarded) when refused. */
  private charge(sink: FrameSink): boolean {
    if (!this.hold(sink.lengthBytes, sink.waiter === null)) {
      sink.discard();
      return false;
    }
    sink.charged = sink.lengthBytes;
    sink.allocateOnWrite = true;
    return true;
  }

  /**
   * The frame's payload is complete; `crcOk` says whether its CRC32C matched the header's,
   * `frameCrc32c` is the header's (compared with what the receiver expects, if it said).
   */
  endFrame(sink: FrameSink, crcOk: boolean, frameCrc32c: number): void {
    if (this.arriving.get(sink.requestId) === sink) this.arriving.delete(sink.requestId);
    if (sink.discarded || !sink.keeps) return;
    const payload = sink.target === null ? EMPTY : bufferView(sink.target);
    const error = crcOk
      ? undefined
      : new SpindleError(
          ErrorCode.CHECKSUM_MISMATCH,
          `${this.what}: frame of request ${sink.requestId} (${sink.lengthBytes} bytes) failed its CRC32C check`,
        );
    if (sink.waiter !== null) {
      // The caller owns the bytes from here.
      sink.uncharge();
      this.settle(
        sink.waiter,
        error ?? this.unexpectedCrc(sink.requestId, frameCrc32c, sink.waiter.expectCrc32c),
        payload,
      );
      return;
    }
    // The charge moves to the unclaimed frame (same bytes).
    sink.charged = 0;
    this.keepUnclaimed(sink.requestId, {
      payload,
      crc32c: frameCrc32c >>> 0,
      error,
      expiresAtMs: this.options.clock.nowMs() + this.options.unclaimedTtlMs,
    });
  }

  /**
   * The other end answered request `requestId` with an error (an ERROR frame): the receive waiting
   * for it rejects with `error`; with none waiting, the error is kept like an unclaimed frame (for
   * a receive that comes later, until the TTL).
   */
  endWithError(requestId: number, error: SpindleError): void {
    if (this.closeError !== null) return;
    if (this.abandoned.size > 0 && this.abandoned.delete(requestId)) return;
    const waiter = this.waiters.get(requestId);
    if (waiter !== undefined) {
      this.settle(waiter, error);
      return;
    }
    this.keepUnclaimed(requestId, {
      payload: EMPTY,
      crc32c: 0,
      error,
      expiresAtMs: this.options.clock.nowMs() + this.options.unclaimedTtlMs,
    });
  }

  /** Rejects every waiting receive with `error` and drops every frame held. Idempotent. */
  close(error: SpindleError): void {
    if (this.closeError !== null) return;
    this.closeError = error;
    const held = this.held;
    this.held = 0;
    if (held > 0) this.options.nodeHeld?.release(this, held);
    for (const sink of this.arriving.values()) sink.discard();
    this.arriving.clear();
    for (const waiter of [...this.waiters.values()]) this.settle(waiter, error);
    this.unclaimed.clear();
    this.unclaimedBytes = 0;
    this.abandoned.clear();
    this.expiryTimer?.abort();
    this.expiryTimer = null;
    this.deadlineTimer?.abort();
    this.deadlineTimer = null;
    this.deadlineTimerDueMs = Infinity;
  }

  /** (Re-)arms the deadline timer for `dueMs`. */
  private armDeadlineTimer(dueMs: number): void {
    this.deadlineTimer?.abort();
    const timer = new AbortController();
    this.deadlineTimer = timer;
    this.deadlineTimerDueMs = dueMs;
    this.options.clock.sleep(Math.max(0, dueMs - this.monotonicMs()), timer.signal).then(
      () => {
        if (this.deadlineTimer !== timer) return;
        this.deadlineTimer = null;
        this.deadlineTimerDueMs = Infinity;
        this.sweepDeadlines();
      },
      () => {},
    );
  }

  /** Deadlines are kept on `nowUs` (monotonic within a process), not the wall clock's `nowMs`. */
  private monotonicMs(): number {
    return this.options.clock.nowUs() / 1000;
  }

  /** Gives up the receives whose deadline has passed; re-arms for the earliest one left. */
  private sweepDeadlines(): void {
    if (this.closeError !== null) return;
    const nowMs = this.monotonicMs();
    let nextMs = Infinity;
    for (const waiter of this.timed) {
      if (waiter.deadlineMs <= nowMs) {
        this.giveUp(
          waiter,
          new SpindleError(
            ErrorCode.TIMEOUT,
            `${this.what}: request ${waiter.requestId} did not arrive within ${waiter.timeoutMs} ms`,
          ),
        );
      } else if (waiter.deadlineMs < nextMs) {
        nextMs = waiter.deadlineMs;
      }
    }
    if (nextMs !== Infinity && nextMs < this.deadlineTimerDueMs) this.armDeadlineTimer(nextMs);
  }

  private settle(waiter: Waiter, error: SpindleError | undefined, payload?: Buffer): void {
    if (this.waiters.get(waiter.requestId) !== waiter) return;
    this.waiters.delete(waiter.requestId);
    // The deadline timer stays armed: it finds nothing due and re-arms (or not), which is cheaper
    // than a timer per receive.
    if (waiter.deadlineMs !== Infinity) this.timed.delete(waiter);
    if (waiter.onAbort !== null) waiter.signal!.removeEventListener('abort', waiter.onAbort);
    if (waiter.sink !== null) {
      // A receive that ends before its frame is complete: the rest of the frame is skipped.
      if (payload === undefined && waiter.sink.filled < waiter.sink.lengthBytes) waiter.sink.discard();
      waiter.sink = null;
    }
    if (error !== undefined) waiter.reject(error);
    else waiter.resolve(payload!);
  }

  /** Timeout or abort of one receive. */
  private giveUp(waiter: Waiter, error: SpindleError): void {
    const sink = waiter.sink;
    if (waiter.dropLate) {
      // Its frame, arriving now or later, has nobody to go to.
      if (sink === null) this.abandon(waiter.requestId);
      else sink.discard();
    } else if (sink !== null && waiter.into === undefined && !sink.discarded) {
      // The frame is going into a buffer of its own: let it finish as an unclaimed frame.
      sink.waiter = null;
      waiter.sink = null;
      this.arriving.set(sink.requestId, sink);
    }
    this.settle(waiter, error);
  }

  private abandon(requestId: number): void {
    this.abandoned.add(requestId);
    // Bounded: an answer that never comes is forgotten after this many newer ones (were it to come
    // after all, it would be kept as an unclaimed frame and expire).
    if (this.abandoned.size > BULK_ABANDONED_ANSWERS_MAX) this.abandoned.delete(this.abandoned.values().next().value!);
  }

  private unexpectedCrc(
    requestId: number,
    frameCrc32c: number,
    expected: number | undefined,
  ): SpindleError | undefined {
    if (expected === undefined || frameCrc32c >>> 0 === expected >>> 0) return undefined;
    return new SpindleError(
      ErrorCode.CHECKSUM_MISMATCH,
      `${this.what}: frame of request ${requestId} has CRC32C ${frameCrc32c >>> 0}, ` +
        `not the ${expected >>> 0} its request names; the bytes are not the ones described, resend`,
    );
  }

  private tooLong(requestId: number, lengthBytes: number, limitBytes: number): SpindleError {
    return invalid(
      `${this.what}: frame of request ${requestId} is ${lengthBytes} bytes, ` +
        `more than this receive accepts (${limitBytes})`,
    );
  }

  private keepUnclaimed(requestId: number, frame: UnclaimedFrame): void {
    const previous = this.unclaimed.get(requestId);
    if (previous !== undefined) {
      this.options.logger.warn(
        { requestId },
        'bulk frame arrived twice under one request id; the older one is dropped',
      );
      this.dropUnclaimed(requestId, previous);
    }
    // Its bytes were charged when the frame began (the oldest made room then).
    this.unclaimed.set(requestId, frame);
    this.unclaimedBytes += frame.payload.length;
    this.scheduleExpiry();
  }

  private dropUnclaimed(requestId: number, frame: UnclaimedFrame): void {
    this.unclaimed.delete(requestId);
    this.unclaimedBytes -= frame.payload.length;
    this.release(frame.payload.length);
  }

  /** One timer for the oldest unclaimed frame; it sweeps the expired ones and re-arms. */
  private scheduleExpiry(): void {
    if (this.expiryTimer !== null || this.closeError !== null) return;
    const oldest = this.unclaimed.values().next();
    if (oldest.done) return;
    const timer = new AbortController();
    this.expiryTimer = timer;
    const delayMs = Math.max(0, oldest.value.expiresAtMs - this.options.clock.nowMs());
    this.options.clock.sleep(delayMs, timer.signal).then(
      () => {
        this.expiryTimer = null;
        const nowMs = this.options.clock.nowMs();
        for (const [requestId, frame] of this.unclaimed) {
          if (frame.expiresAtMs > nowMs) break;
          this.options.logger.debug({ requestId, lengthBytes: frame.payload.length }, 'unclaimed bulk frame expired');
          this.dropUnclaimed(requestId, frame);
        }
        this.scheduleExpiry();
      },
      () => {},
    );
  }
}

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}
