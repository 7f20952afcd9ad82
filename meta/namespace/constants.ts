// Named limits of the namespace. Each has a unit and a reason; process-wide limits live in
// common/constants.ts and tunables in MetaConfig (common/config.ts).

/** First inode id handed out by the allocator; ids below it are reserved (1 is the root). */
export const INODE_ID_FIRST = 16;
/**
 * Largest inode id: ids travel as JS numbers (ts-proto forceLong=number), so stay below 2^53, and
 * inos from 2^52 on are the storage nodes' KV-cache chunk space (docs/kvcache.md), never a file's.
 */
export const INODE_ID_MAX = 2 ** 52 - 1;
/**
 * Inode ids one process takes from the shared counter in one small transaction. Large enough that
 * the counter key is written once per thousand creates (not a hotspot), small enough that ids lost
 * when a process dies are negligible.
 */
export const INODE_ID_BATCH = 1024;
/**
 * How long a process may hand out ids of a batch it reserved: older ones are dropped (skipped, never
 * used). So an id below the counter as it was this long ago (plus a margin) that names no inode
 * never will, and meta's orphan sweep may remove its chunks (meta/orphan-sweeper.ts).
 */
export const INODE_ID_RESERVATION_TTL_MS = 10 * 60_000;

/** Symlinks followed while resolving one path before ELOOP (Linux MAXSYMLINKS is 40). */
export const SYMLINK_FOLLOW_MAX = 40;
/** Ancestors walked by the rename loop check before the tree is declared corrupt. */
export const DIRECTORY_DEPTH_MAX = 4096;

/** Entries a recursive remove deletes per transaction (keeps each transaction small). */
export const REMOVE_BATCH_ENTRIES = 256;
/** Transactions one recursive remove may run before giving up (a tree refilled as fast as it is removed). */
export const REMOVE_TRANSACTIONS_MAX = 1_000_000;

/**
 * Shards of the usage counters (inode count, bytes). Every create, remove and length change
 * updates one random shard, so concurrent transactions rarely touch the same counter key.
 */
export const USAGE_SHARDS = 16;

/**
 * Opens in one BatchOpen call: each is its own transaction, so this bounds one call's work,
 * response size and the write-lane queue it adds (clients send at most 64; see client/meta-rpc.ts).
 */
export const OPEN_BATCH_MAX = 256;

/**
 * Renames or removes in one BatchRename / BatchRemove call: they run in one transaction, so this
 * bounds its size, its time holding the write lanes and the response (clients send at most 64).
 */
export const RENAME_REMOVE_BATCH_MAX = 256;

/**
 * Most entries of a readdir page with attributes (readdirplus), below readDirPageMax: an entry's
 * attributes can take KiBs (a symlink's target), and the page must stay under gRPC's 4 MiB.
 */
export const READDIR_PLUS_PAGE_MAX = 1_024;

/** Idempotency records removed per sweep transaction. */
export const IDEMPOTENCY_SWEEP_BATCH = 512;

/** Default permission bits when a request leaves mode 0. */
export const FILE_MODE_DEFAULT = 0o644;
export const DIRECTORY_MODE_DEFAULT = 0o755;
/** Permission bits of a symlink (as on Linux; never checked). */
export const SYMLINK_MODE = 0o777;
/** Highest permission bits accepted (07777: rwx for u/g/o plus setuid, setgid, sticky). */
export const MODE_MASK = 0o7777;

/**
 * How long a lock session's advisory locks hold without a renewal: a client that dies releases its
 * locks this long after its last renewal (mounts renew every LOCK_SESSION_RENEW_MS, a fifth of it).
 */
export const LOCK_SESSION_LEASE_MS = 5_000;
