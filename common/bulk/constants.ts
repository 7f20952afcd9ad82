// Named limits of the bulk transports. Each has a unit and a one-line reason.

/** Largest chunk (CHUNK_SIZE_MAX_BYTES, 64 MiB) plus slack for a small trailer a caller may add. */
export const BULK_FRAME_MAX_DEFAULT_BYTES = 64 * 1024 * 1024 + 64 * 1024;
/**
 * Bytes of frames that arrived before anyone asked for them, per session: they exist only when a
 * receiver gave up (timeout) before its frame came, or while a read races its gRPC reply, so a
 * few large frames is plenty; the oldest is dropped beyond this.
 */
export const BULK_UNCLAIMED_MAX_DEFAULT_BYTES = 256 * 1024 * 1024;
/** How long an unclaimed frame is kept: longer than any client's request deadline would wait for it. */
export const BULK_UNCLAIMED_TTL_DEFAULT_MS = 30_000;
/** How long a connecting peer may take to send its hello before the listener drops the socket. */
export const BULK_HELLO_TIMEOUT_MS = 10_000;
/** How long `connect` waits for the listener's hello-ack when the caller gives no timeout. */
export const BULK_CONNECT_TIMEOUT_DEFAULT_MS = 10_000;
/** Sessions one listener holds at once: each may pin up to the unclaimed limit of memory. */
export const BULK_SESSIONS_MAX = 4096;
/** The connecting side's reusable read buffer: one read may take this much from the kernel at once. */
export const BULK_READ_BUFFER_BYTES = 1024 * 1024;
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
