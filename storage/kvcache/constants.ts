// Limits of the KV-cache page index, each with its unit and the reason for its value.

/** A page key is a SHA-256-sized hash-chain link: key i commits to keys 0..i-1 of its prompt. */
export const PAGE_KEY_BYTES = 32;
/** put/get/exists/remove carry at most this many keys: one bounded message per storage node. */
export const BATCH_KEYS_MAX = 128;
/** A matchPrefix chain: 16,384 pages cover a 1M-token prompt at 64 tokens per page. */
export const MATCH_PREFIX_KEYS_MAX = 16_384;
/** Smallest page: below this the per-page overhead dominates the bytes moved. */
export const PAGE_SIZE_MIN_BYTES = 16 * 1024;
/** Largest page: one page must fit one bulk transfer and one storage chunk. */
export const PAGE_SIZE_MAX_BYTES = 32 * 1024 * 1024;
/** A lease bridges a scheduler's lookup and a worker's load; longer holds capacity hostage. */
export const LEASE_MS_MAX = 10 * 60 * 1000;
/** TTLs beyond a day are a mistake in units more often than a wish. */
export const TTL_MS_MAX = 24 * 60 * 60 * 1000;
/** A put evicts at most this many pages before it gives up with REJECTED_FULL (bounded latency). */
export const EVICTIONS_PER_PUT_MAX = 64;
/** A put evicts at most this many bytes (four largest pages) before it gives up with REJECTED_FULL. */
export const EVICTED_BYTES_PER_PUT_MAX = 4 * PAGE_SIZE_MAX_BYTES;
/** Retry hint of REJECTED_FULL when no lease is about to end (the space frees only by removal or TTL). */
export const FULL_RETRY_AFTER_MS_DEFAULT = 1000;
/**
 * Page writes of one put in flight through the chain at once: a page write waits on every replica's
 * fsync, so one at a time leaves the nodes idle. A child may commit before its parent while a put
 * runs (a plain match on a replica can see that hole until the put is answered); a put that fails
 * part way leaves orphans the head's rebuild removes.
 */
export const KV_PUT_WRITES_IN_FLIGHT = 4;
