// Named limits shared by every process. Each has a unit and a one-line reason; component-local
// limits live in their own module's constants.ts.

/** Largest gRPC message: a full 64 MiB chunk plus headers must fit (grpc-js defaults to 4 MiB). */
export const RPC_MESSAGE_MAX_BYTES = 80 * 1024 * 1024;
/** HTTP/2 flow-control window: 64 KiB default starves 1 MiB messages (docs/performance.md). */
export const RPC_FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * Longest client id in a request tag (UTF-8 bytes). It is part of every idempotency key in meta
 * and of every write-channel entry a storage head remembers (DEDUPE_CHANNELS_MAX of them), so it
 * must be small; the default id (host name ≤ 253 bytes, pid, 12 hex digits) fits.
 */
export const CLIENT_ID_MAX_BYTES = 512;

/** Inode id of the root directory. */
export const ROOT_INO = 1;
/** Longest name of one directory entry, as in Linux (NAME_MAX). */
export const NAME_MAX_BYTES = 255;
/** Longest path accepted in one request (PATH_MAX). */
export const PATH_MAX_BYTES = 4096;
/** Longest symlink target. */
export const SYMLINK_TARGET_MAX_BYTES = 4096;

/** Smallest and largest chunk sizes a layout may use. */
export const CHUNK_SIZE_MIN_BYTES = 64 * 1024;
export const CHUNK_SIZE_MAX_BYTES = 64 * 1024 * 1024;
/** Default chunk size: large enough for streaming, small enough to spread a file over chains. */
export const CHUNK_SIZE_DEFAULT_BYTES = 4 * 1024 * 1024;
/** Widest stripe a layout may use. */
export const STRIPE_WIDTH_MAX = 256;
/** Largest file: 2^32 chunks of the largest size would overflow JS integers; cap at 2^50 bytes (1 PiB). */
export const FILE_SIZE_MAX_BYTES = 2 ** 50;

/** Target ids are node_id * TARGETS_PER_NODE_MAX + local index. */
export const TARGETS_PER_NODE_MAX = 1000;

/** Defaults of retryWithBackoff when the caller passes none (clients pass their config's values). */
export const RETRY_DEADLINE_DEFAULT_MS = 30_000;
export const RETRY_BACKOFF_INITIAL_DEFAULT_MS = 50;
export const RETRY_BACKOFF_MAX_DEFAULT_MS = 2_000;
/** Cap on attempts of one retry loop with a deadline, whatever its length (loops with deadline Infinity —
 * storage registration, forwarding a sent update — end only by success, a final error or their signal). */
export const RETRY_ATTEMPTS_MAX = 10_000;
