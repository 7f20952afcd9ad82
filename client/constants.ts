// Named limits of the client library that are not per-deployment config (those live in
// ClientConfig, common/config.ts). Each has a unit and a one-line reason.

/** Longest first wait of ready() while no chain table exists yet (meta just started; jittered below it). */
export const ROUTING_READY_BACKOFF_INITIAL_MS = 50;
/** Longest wait between ready() polls: a cluster forming takes seconds, not minutes. */
export const ROUTING_READY_BACKOFF_MAX_MS = 1_000;

/** Most read ranges in one BatchRead: keeps one response under the message limit and latency low. */
export const BATCH_READ_IOS_MAX = 256;
/** Smallest BatchRead byte budget the client falls back to when a node refuses larger ones. */
export const READ_BUDGET_MIN_BYTES = 4 * 1024;
/**
 * Batches of small reads in flight per storage node before new reads queue for the next batch:
 * few, so concurrent small reads share calls (a call costs far more CPU than a range in it), but
 * more than one, so a node works on the next batch while the client decodes the last.
 */
export const READ_BATCHES_PER_NODE_MAX = 2;
/**
 * A batch read carrying a range at least this large asks for its bytes as bulk frames (when the
 * node has a bulk listener); smaller ones travel inside the gRPC answer, where a frame per range
 * would cost more than the copy it saves.
 */
export const READ_BULK_MIN_BYTES = 64 * 1024;
/** Writes of at least this many bytes send them as a bulk frame (same trade-off as reads). */
export const WRITE_BULK_MIN_BYTES = 64 * 1024;
/**
 * Reads of at least this many bytes are sent at once, alone: per-call cost is small next to them.
 * Below it they share BatchReads: at 256 KiB a call per read still cost the client more than the
 * bytes (the loader's 256 KiB samples went 830 → 1,800/s when they shared calls; seq-read's 1 MiB+
 * reads and rand-read's figures did not move).
 */
export const READ_COALESCE_ALONE_MIN_BYTES = 1024 * 1024;

/**
 * Entries asked per Meta.ReadDir page (the server may cap it lower): packed, a page of 8,192 short
 * names is ≈ 0.2 MiB (at most 2.1 MiB with 255-byte names, under gRPC's 4 MiB), and each page
 * costs a round trip and a transaction (5,000 entries took five pages of 1,000).
 */
export const READDIR_PAGE_ENTRIES = 8_192;

/** Default permission bits of new files and directories (no umask on a remote file system). */
export const FILE_MODE_DEFAULT = 0o644;
export const DIRECTORY_MODE_DEFAULT = 0o755;

/** Largest buffer one read stream block or write stream flush may hold. */
export const STREAM_BLOCK_MAX_BYTES = 16 * 1024 * 1024;
/** Default read stream block when the file's chunk size is not known yet. */
export const STREAM_BLOCK_DEFAULT_BYTES = 1024 * 1024;
/**
 * Bytes a write stream keeps in flight (whole blocks, at least one): with 4 MiB chunks, 8 chunk
 * writes at once, enough to keep every chain head of a small cluster busy while each write waits
 * for its chain's disks; bounded so a stream's memory stays small.
 */
export const WRITE_STREAM_INFLIGHT_BYTES = 32 * 1024 * 1024;

/** Bytes BufferedFileWriter gathers before each write: a whole 4 MiB chunk per write, no read-modify-write. */
export const BUFFERED_WRITE_BYTES = 4 * 1024 * 1024;
/** BufferedFileWriter writes in flight per file while the next buffer fills (memory: (this + 1) buffers). */
export const BUFFERED_WRITES_IN_FLIGHT_MAX = 2;
