// Named limits of the storage node. Each has a unit and a one-line reason; limits shared with
// other modules (message sizes, chunk sizes) live in common/constants.ts.
import { CHUNK_SIZE_MAX_BYTES, CHUNK_SIZE_MIN_BYTES } from '../common/constants.js';

/** Smallest data block: a chunk of a few bytes still takes one block of this class. */
const BLOCK_SIZE_MIN_BYTES = CHUNK_SIZE_MIN_BYTES;
/** Largest data block: the largest chunk a layout may use fits in one block. */
export const BLOCK_SIZE_MAX_BYTES = CHUNK_SIZE_MAX_BYTES;
/** Size classes are powers of two from BLOCK_SIZE_MIN_BYTES to BLOCK_SIZE_MAX_BYTES (11 classes). */
export const BLOCK_CLASS_MIN_LOG2 = Math.log2(BLOCK_SIZE_MIN_BYTES);
export const BLOCK_CLASS_MAX_LOG2 = Math.log2(BLOCK_SIZE_MAX_BYTES);

/**
 * Address space of one data file: files of small classes hold many blocks, files of large classes
 * few. Data files are sparse, so this bounds file count, not disk use.
 */
export const DATA_FILE_TARGET_BYTES = 1024 * 1024 * 1024;
/** Every data file holds at least this many blocks (64 MiB class: 16 blocks per 1 GiB file). */
export const DATA_FILE_BLOCKS_MIN = 16;
/** Upper bound of data files per size class: 2^20 × 1 GiB is far beyond any disk. */
export const DATA_FILES_PER_CLASS_MAX = 1 << 20;

/**
 * Checksum segment of chunks written from now on: each chunk stores one CRC32C per segment besides
 * the whole-chunk CRC, so a small read reads and verifies only the segments it touches. 4 KiB: an
 * aligned 4 KiB read touches exactly one (with 64 KiB, a 4 KiB read read and checksummed 16× its
 * bytes — a third of a storage node's CPU under random 4 KiB reads); the table costs 1 KiB of
 * metadata per MiB of chunk. Chunks written with another size (format 1: 64 KiB) keep theirs
 * until they are rewritten (chunk-meta.ts).
 */
export const CRC_SEGMENT_BYTES = 4 * 1024;
/** The segment size of format-1 chunk metadata (every chunk written before format 2). */
export const CRC_SEGMENT_BYTES_FORMAT_1 = 64 * 1024;
/**
 * Decoded chunk-metadata records a target keeps in memory (chunk-meta-cache.ts): 4,096 × ≤ 4 KiB
 * of segment table (a 4 MiB chunk) ≤ 16 MiB per target, the metadata of 16 GiB of chunks.
 */
export const CHUNK_META_CACHE_ENTRIES_MAX = 4096;

/** Rows one DumpChunkMeta call returns at most: bounds message size (~60 bytes a row). */
export const DUMP_CHUNK_META_LIMIT_MAX = 4096;
/** Rows when the caller asks for 0. */
export const DUMP_CHUNK_META_LIMIT_DEFAULT = 1024;

/** Items in one BatchRead request: bounds work per call (3FS caps client batches at 128). */
export const BATCH_READ_IOS_MAX = 1024;

/** Update channels remembered for exactly-once writes; oldest forgotten first beyond this. */
export const DEDUPE_CHANNELS_MAX = 65_536;
/**
 * A client update channel unused this long is forgotten, by the head's table (update-dedupe.ts)
 * and by each target's records (channel-records.ts) alike (3FS: expired_clients_timeout 1 h).
 */
export const DEDUPE_CHANNEL_IDLE_MS = 60 * 60 * 1000;

/**
 * Client update channels whose last committed write a target records (storage/channel-records.ts,
 * exactly-once across head changes); least recently used forgotten first beyond this. ~100 bytes
 * each in memory and in channels.mdb: 65,536 channels ≈ 6 MiB per target.
 */
export const CHANNEL_RECORDS_MAX = 65_536;

/** Peer connections (successor addresses) kept open; a chain node talks to few peers. */
export const PEER_CLIENTS_MAX = 256;

/** Registration retry backoff while the manager is not up yet. */
export const REGISTER_BACKOFF_MIN_MS = 50;
export const REGISTER_BACKOFF_MAX_MS = 2_000;

/** Forwarding an update down the chain: backoff between attempts. */
export const FORWARD_BACKOFF_MIN_MS = 20;
export const FORWARD_BACKOFF_MAX_MS = 1_000;

/** A routing fetch triggered by a newer chain version in a request waits at most this long. */
export const ROUTING_REFRESH_TIMEOUT_MS = 5_000;
/** Mgmt calls (register, heartbeat, routing) give up after this long (a heartbeat after half the lease at most). */
export const MGMT_CALL_TIMEOUT_MS = 5_000;
/**
 * Longest gRPC reconnect backoff on the link to the manager. grpc-js defaults grow to 120 s, so
 * after a manager outage of t seconds a node would reconnect up to ~0.6·t later — past the
 * failure timeout a restarted manager grants — and be declared failed although healthy.
 */
export const MGMT_RECONNECT_BACKOFF_MAX_MS = 1_000;
/** First reconnect backoff on the link to the manager. */
export const MGMT_RECONNECT_BACKOFF_INITIAL_MS = 100;
/** Heartbeats outstanding at once: a stalled one does not stop the next tick from renewing the lease. */
export const HEARTBEATS_IN_FLIGHT_MAX = 2;
/** A target's disk capacity (statfs, on libuv's threadpool) is refreshed in the background at most this often. */
export const CAPACITY_REFRESH_MS = 10_000;

/** Largest chunk index: ino ‖ index keys are 8 + 8 bytes, and JS integers stay exact below 2^53. */
export const CHUNK_INDEX_MAX = Number.MAX_SAFE_INTEGER;
/** Largest inode id accepted (exact JS integer). */
export const INO_MAX = Number.MAX_SAFE_INTEGER;

/** Alignment of O_DIRECT writes (file offset, length, memory): the largest common logical block size. */
export const DIRECT_ALIGN_BYTES = 4096;
/** Smaller block writes stay buffered: the direct path's gain is the page-cache copy of large writes. */
export const DIRECT_WRITE_MIN_BYTES = 64 * 1024;
/** Aligned bounce buffers kept for reuse per target (at most a few whole chunks). */
export const DIRECT_BOUNCE_POOL_BYTES = 64 * 1024 * 1024;

// The io_uring block I/O backend (chunk-engine/uring-block-io.ts).
/**
 * Whether the uring backend reads large ranges with O_DIRECT (true) or through the page cache like
 * the fs backend (false). Through the page cache: data read again (every epoch of a training run,
 * a warm server) comes from memory at 3–4.6 GB/s instead of the device's ~0.3–0.7 GB/s (cold reads
 * cost more CPU that way); docs/performance.md "Storage I/O backend" has both measurements.
 */
export const URING_DIRECT_READS = false;
/** Reads of at least this many bytes (after widening to the alignment) go through O_DIRECT (uring). */
export const DIRECT_READ_MIN_BYTES = 64 * 1024;
/** Submission queue entries of the process's ring (the completion queue is twice as large). */
export const URING_RING_ENTRIES = 128;
/** Longest wait between retries of a failed io_uring submit (transient: EAGAIN, EBUSY). */
export const URING_FLUSH_RETRY_MAX_MS = 100;
/** Operations in flight on the ring at once; more wait in a FIFO (stays below the completion queue size). */
export const URING_INFLIGHT_MAX = 128;
