// Named limits and timeouts of the FUSE mount (docs/mount.md lists them). Each has a unit and a
// one-line reason.

/** How long the kernel may cache a file's attributes: short, so other clients' changes show up within a second. */
export const ATTR_TIMEOUT_S = 1;
/** How long the kernel may cache a name → inode lookup: same reasoning as the attributes. */
export const ENTRY_TIMEOUT_S = 1;

/** Inodes whose missing security.capability the mount remembers (one small entry each; bounds memory). */
export const ABSENT_CAPABILITY_INODES_MAX = 65_536;

/** Largest read or write request negotiated with the kernel (the addon sets max_read/max_write). */
export const FUSE_IO_MAX_BYTES = 1024 * 1024;

/** Write-back buffer per open file: one default chunk, so a sequential writer sends whole chunks. */
export const WRITE_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * A partly filled write buffer is sent once no write came for this long (and less than twice it):
 * a writer that stopped without closing leaves its bytes only in the mount process briefly, while
 * a slow steady writer still fills whole chunks.
 */
export const WRITE_BUFFER_IDLE_MS = 500;
/** A buffer that keeps getting writes but never fills is sent at this age anyway (as the kernel's dirty expiry). */
export const WRITE_BUFFER_MAX_AGE_MS = 30_000;
/** Buffer flushes in flight per open file before a write waits (pipelines storage round trips). */
export const WRITE_FLUSHES_INFLIGHT_MAX = 4;
/** Spare write buffers kept for reuse across files (avoids 4 MiB malloc churn; bounded memory). */
export const WRITE_BUFFER_POOL_MAX = 16;

/**
 * Bytes prefetched ahead of a sequential reader per open file, in whole chunks (16 MiB, as the
 * library's production readaheadBytes).
 */
export const READAHEAD_WINDOW_BYTES = 16 * 1024 * 1024;
/** Sequential reads in a row before readahead starts (a single read does not prefetch). */
export const READAHEAD_TRIGGER_READS = 2;

/** Directory entries fetched from meta per page while listing. */
export const READDIR_PAGE_ENTRIES = 1000;

/** Open files and directories per mount (a handle is a few KiB plus its buffers). */
export const OPEN_HANDLES_MAX = 65_536;

/** How long unmount waits for the FUSE loop to end before it aborts the kernel connection. */
export const UNMOUNT_WAIT_MS = 3_000;
/** How long unmount waits for requests in flight to finish (their replies go nowhere after). */
export const UNMOUNT_DRAIN_MS = 5_000;

/** Block size reported by statfs and stat (st_blksize): one FUSE request. */
export const STAT_BLOCK_SIZE_BYTES = 1024 * 1024;
/** Longest name statfs reports (meta's limit). */
export const NAME_MAX_BYTES = 255;

/** How often a mount renews its lock session (a fifth of meta's 5 s lease, LOCK_SESSION_LEASE_MS). */
export const LOCK_SESSION_RENEW_MS = 1_000;
/** First pause before a blocked lock request asks again; doubles up to LOCK_RETRY_MAX_MS. */
export const LOCK_RETRY_MIN_MS = 5;
/** Longest pause between two tries of a blocked lock request (bounds the wake-up delay). */
export const LOCK_RETRY_MAX_MS = 100;
