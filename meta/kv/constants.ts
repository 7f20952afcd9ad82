// Named limits of the KV engines. Each has a unit and a one-line reason.

/** Longest key: meta keys are a 4-byte prefix + ids + one name (<= 255 bytes); lmdb's limit is 1978. */
export const KV_KEY_MAX_BYTES = 1024;
/** Largest value: etcd rejects requests above 1.5 MiB, so every engine keeps values below that. */
export const KV_VALUE_MAX_BYTES = 1024 * 1024;
/** Re-runs of a conflicting transaction before TXN_CONFLICT: a hot key must not spin forever. */
export const KV_TXN_RETRIES_DEFAULT = 16;
/** Upper bound a caller may configure for txnRetriesMax (keeps a misconfiguration from livelocking). */
export const KV_TXN_RETRIES_MAX = 1000;
/** Writes in one transaction: metadata operations touch a handful of keys; bulk work goes in batches. */
export const KV_TXN_WRITES_MAX = 10_000;
/**
 * Keys the version overlay may hold before the oldest running snapshots are expired (their
 * transactions re-run): a transaction stuck inside fn must not pin memory without bound.
 */
export const KV_OVERLAY_KEYS_MAX = 250_000;
/** Initial lmdb map size: lmdb-js grows the map on demand; this only avoids early remaps. */
export const LMDB_MAP_SIZE_DEFAULT_BYTES = 256 * 1024 * 1024;
/** lmdb reader slots: lmdb-js shares one read txn per snapshot, so a handful are in use at once. */
export const LMDB_READERS_MAX = 1024;
/**
 * Keys per leaf of the in-memory sorted map: small enough for cheap splices, large enough to keep the leaf index
 * short.
 */
export const SORTED_MAP_LEAF_MAX_KEYS = 512;
