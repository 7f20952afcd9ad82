// BulkTransport: where the bytes of chunk reads and writes travel when they do not travel inside a
// gRPC message. The gRPC request carries a descriptor (proto `BulkRef`, or `bulk_session_id` +
// `bulk_request_id` for reads) and the payload moves as one frame on a dedicated connection: a
// minimal binary frame of request id, length and CRC32C (see tcp-transport.ts for the layout).
//
// Why: grpc-js encodes, copies and flow-controls every byte of a message through the event loop
// (0.19× raw TCP for 4 MiB unary responses, docs/performance.md); a raw connection moves the same
// bytes at close to the socket's limit, with one copy on the receiving side.
//
// Shape: a client `connect`s to a node's `BulkListener` and gets a `BulkChannel` (a session, with
// an id the listener knows it by). Both ends of a session are BulkChannels: each can `send` a frame
// under a request id and `receive` the frame the other end sent under an id. Request ids are chosen
// by the connecting side and are unique per session and direction. This interface is the place an
// RDMA transport would plug in (a session = a queue pair, `send` = an RDMA write into the buffer
// the receiver posted with `receive({ into })`).
//
// Implementations: `TcpBulkTransport` (raw TCP, production) and `InProcessBulkTransport` (tests and
// the simulator). Both pass one conformance suite (common/bulk/conformance.ts).

import type { Principal } from '../auth/principal.js';

/** Options of one receive. */
export interface BulkReceiveOptions {
  /**
   * Where the payload goes. The frame's bytes are written straight into it and the result is a
   * view of it; a frame longer than `into` fails the receive with INVALID_ARGUMENT.
   */
  into?: Uint8Array;
  /** A frame longer than this fails the receive (default: the transport's frame limit). */
  maxBytes?: number;
  /**
   * The CRC32C the payload must have (e.g. a Write's `data_crc32c`). The transport checks the
   * bytes against the frame's CRC anyway; this also checks that CRC against the caller's, so a
   * caller that knows what its sender computed need not compute it again (CHECKSUM_MISMATCH).
   */
  expectCrc32c?: number;
  /** Give up (TIMEOUT) if the frame has not arrived after this long. */
  timeoutMs?: number;
  /** Give up (CANCELLED) when aborted. */
  signal?: AbortSignal;
}

/** Options of one `BulkChannel.call`. */
export interface BulkCallOptions {
  /** Give up (TIMEOUT) if the answer has not arrived after this long. */
  timeoutMs?: number;
  /** Give up (CANCELLED) when aborted. */
  signal?: AbortSignal;
  /** An answer longer than this fails the call with INVALID_ARGUMENT (default: the frame limit). */
  maxBytes?: number;
}

/** One end of a bulk session. */
export interface BulkChannel {
  /** The session id (the connecting side's; the listener's end has the same id). */
  readonly sessionId: string;
  /** True once the session is closed (by either end or a broken connection). */
  readonly closed: boolean;
  /**
   * The accepting end: who the peer is, from the credential its hello carried (ANONYMOUS_ADMIN
   * when the listener checks none). Undefined on the connecting end.
   */
  readonly principal?: Principal;
  /**
   * Sends `payload` as one frame under `requestId`. Resolves when the transport no longer needs
   * the buffer (the caller may then reuse it); rejects with RPC_UNAVAILABLE when the session is
   * closed. `crc32c` is the payload's CRC32C when the caller already knows it (saves computing it).
   */
  send(requestId: number, payload: Uint8Array, crc32c?: number): Promise<void>;
  /**
   * The payload of the frame the other end sent under `requestId` (one frame per id): waits for
   * it, or takes it from the frames that arrived before anyone asked. The frame's CRC32C is
   * checked (CHECKSUM_MISMATCH). Rejects with RPC_UNAVAILABLE when the session closes first.
   */
  receive(requestId: number, options?: BulkReceiveOptions): Promise<Buffer>;
  /** Ids unique in this session, for frames this end asks for or sends (connecting side only). */
  nextRequestId(): number;
  /**
   * A small request answered by the listener's request handler (`BulkListener.handleRequests`):
   * sends `payload` as a REQUEST frame under a fresh id and resolves with the handler's answer.
   * Rejects with the handler's error (its ErrorCode and message, sent back as an ERROR frame),
   * RPC_UNAVAILABLE when the session closes or the listener has no handler, TIMEOUT / CANCELLED
   * per `options`. For requests whose whole round trip should not pay a gRPC call (batches of
   * small reads); connecting side only. The payload may be reused once `call` has returned. An
   * answer that arrives after its call gave up is dropped.
   */
  call(payload: Uint8Array, options?: BulkCallOptions): Promise<Buffer>;
  /** Closes the session; pending receives and sends reject with RPC_UNAVAILABLE. Idempotent. */
  close(): void;
}

/** The accepting side: sessions peers opened, by id. */
export interface BulkListener {
  /** What peers pass to `connect` (host:port for TCP). */
  readonly address: string;
  /**
   * The listener's end of session `sessionId`. Rejects with RPC_UNAVAILABLE (retryable: the peer
   * reconnects and retries) when no such session is open, after waiting up to `waitMs` for it to
   * arrive (a peer's gRPC call can overtake its connection handshake).
   */
  channel(sessionId: string, waitMs?: number): Promise<BulkChannel>;
  /**
   * Answers REQUEST frames (`BulkChannel.call`) of every session with `handler`: its result goes
   * back as a DATA frame under the request's id; a thrown error as an ERROR frame carrying its
   * ErrorCode (SpindleError; INTERNAL otherwise) and message. Requests are handled concurrently.
   * Without a handler, requests are answered RPC_UNAVAILABLE. Replaces an earlier handler.
   */
  handleRequests(handler: BulkRequestHandler): void;
  /** Stops accepting and closes every session. */
  close(): Promise<void>;
}

/** Answers one request payload of a session (see BulkListener.handleRequests). */
export type BulkRequestHandler = (payload: Buffer, session: BulkChannel) => Promise<Uint8Array>;

export interface BulkTransport {
  /** 'tcp', 'in-process', … (reported by `spindle doctor` and in bench rows). */
  readonly name: string;
  /** Starts accepting sessions; port 0 picks one. */
  listen(host: string, port: number): Promise<BulkListener>;
  /** Opens a session to a listener. Rejects with RPC_UNAVAILABLE when it cannot. */
  connect(address: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<BulkChannel>;
}

/** Which data path clients and storage nodes use for chunk bytes. */
export type DataTransport = 'bulk' | 'grpc';
