// Named limits of the bulk transports. Each has a unit and a one-line reason.

/** Largest chunk (CHUNK_SIZE_MAX_BYTES, 64 MiB) plus slack for a small trailer a caller may add. */
export const BULK_FRAME_MAX_DEFAULT_BYTES = 64 * 1024 * 1024 + 64 * 1024;
/**
 * Bytes of frames one session holds that nobody has taken yet — frames that arrived before anyone
 * asked for them, frames still arriving into a buffer of the transport's, requests its handler is
 * working on: unclaimed frames exist only while a message races its frame, or when a receiver gave
 * up before its frame came, so a few large frames is plenty. Beyond it the oldest complete
 * unclaimed frames are dropped; if that is not enough, the session is closed.
 */
export const BULK_UNCLAIMED_MAX_DEFAULT_BYTES = 256 * 1024 * 1024;
/**
 * The same bytes summed over every session of one transport (a node): what peers together may pin.
 * Beyond it the session holding the most is closed, so one greedy peer cannot starve the others.
 */
export const BULK_NODE_HELD_MAX_DEFAULT_BYTES = 512 * 1024 * 1024;
/** How long an unclaimed frame is kept: longer than any client's request deadline would wait for it. */
export const BULK_UNCLAIMED_TTL_DEFAULT_MS = 30_000;
/** How long a connecting peer may take to send its hello before the listener drops the socket. */
export const BULK_HELLO_TIMEOUT_DEFAULT_MS = 10_000;
/**
 * How long a session may go without a frame either way, a request in progress or a receive
 * waiting before its listener closes it: sessions cost a slot of the limits below. Its owner's
 * next use reopens one (common/bulk/session-pool.ts).
 */
export const BULK_IDLE_TIMEOUT_DEFAULT_MS = 120_000;
/** A session that stays this long within a frame without a byte arriving is closed (a stalled sender). */
export const BULK_PROGRESS_TIMEOUT_DEFAULT_MS = 15_000;
/** How long `connect` waits for the listener's hello-ack when the caller gives no timeout. */
export const BULK_CONNECT_TIMEOUT_DEFAULT_MS = 10_000;
/** Connections one listener holds at once (handshaking or not): each costs a socket and a slot. */
export const BULK_SESSIONS_MAX_DEFAULT = 4096;
/**
 * Connections one remote address may hold at once: a client process needs one per storage node
 * (a host runs a few dozen), a storage node one per successor; one peer cannot take every slot.
 */
export const BULK_SESSIONS_PER_PEER_MAX_DEFAULT = 256;
/** Longest credential a hello may carry, in UTF-8 bytes (a token is a few hundred). */
export const BULK_CREDENTIAL_MAX_BYTES = 4096;
/** Longest id (session id, …) quoted in a message: enough to recognise one, never a peer's megabyte. */
export const BULK_ID_QUOTED_MAX_CHARS = 64;
/** Refused connections are logged at most once per this interval per listener (with a count), not each. */
export const BULK_REFUSAL_LOG_INTERVAL_MS = 5_000;
/** The connecting side's reusable read buffer: one read may take this much from the kernel at once. */
export const BULK_READ_BUFFER_BYTES = 1024 * 1024;
/**
 * A payload with at least this much left to arrive is read straight into its destination rather
 * than through the read buffer: below it, one read of the buffer also takes the frames behind it
 * (small answers come many to a read), which saves more syscalls than the copy costs.
 */
export const BULK_DIRECT_READ_MIN_BYTES = 64 * 1024;
/**
 * Longest message an error answer (ERROR frame) carries, in UTF-8 bytes; longer ones are cut: the
 * caller needs the code and a readable reason, not an unbounded string from a peer.
 */
export const BULK_ERROR_MESSAGE_MAX_BYTES = 4096;
/**
 * Calls that gave up (timeout, abort) whose answers are dropped on arrival, per session: enough for
 * a burst of timeouts at full rate; an older one's late answer becomes an unclaimed frame.
 */
export const BULK_ABANDONED_ANSWERS_MAX = 4096;
/**
 * Requests of one session its listener's handler works on at once; beyond it the listener stops
 * reading that session's socket until one is answered (TCP pushes back on the caller). What one
 * read already holds is still dispatched, so the bound is this plus one read buffer's worth.
 */
export const BULK_REQUESTS_IN_PROGRESS_MAX = 1024;
