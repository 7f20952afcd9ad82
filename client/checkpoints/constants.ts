// Named limits of checkpoints (client/checkpoints/), each with its unit and the reason for its value.

/** Digits of the zero-padded step in a directory name: names sort as steps up to 10^12 - 1. */
export const STEP_DIGITS = 12;
/** Largest step: it must fit STEP_DIGITS digits. */
export const STEP_MAX = 10 ** STEP_DIGITS - 1;
/** Largest world size: a part file per rank is read at commit; beyond this a save is a mistake. */
export const WORLD_SIZE_MAX = 65_536;
/** Longest shard name and save id, in bytes (ASCII only): names, not payloads. */
export const NAME_BYTES_MAX = 200;
/** Largest manifest.json or part file a reader accepts (a million shards is about 100 MiB). */
export const MANIFEST_BYTES_MAX = 256 * 1024 * 1024;
/** Sequential read size of verify and whole-shard reads: large reads keep every chain busy. */
export const VERIFY_READ_BYTES = 8 * 1024 * 1024;
/** A staging directory whose save started longer ago than this is abandoned, whoever owns it. */
export const STAGING_AGE_MAX_MS = 24 * 60 * 60 * 1000;
/** A staging directory without any readable owner file (crash right after mkdir) is abandoned after this. */
export const STAGING_OWNERLESS_GRACE_MS = 10 * 60 * 1000;
/** How often a rank that lost the race to create manifest.json checks whether the winner renamed. */
export const COMMIT_POLL_MS = 50;
/** Polls before giving up on the winning committer (60 s: a commit is one small write and a rename). */
export const COMMIT_WAIT_POLLS = 1200;
/** Default bound on captured-but-unwritten shard bytes per Checkpoints (captureShard). */
export const STAGING_BYTES_DEFAULT = 256 * 1024 * 1024;
/** captureShard copies in pieces of this size: one chunk, one staging pool buffer each. */
export const CAPTURE_PIECE_BYTES = 4 * 1024 * 1024;
/** Shards verify and readShards read at once: enough to keep several chains busy, bounded memory. */
export const SHARD_READS_PARALLEL = 4;
/** Writes in flight per shard: a large shard keeps the chain busy while the next piece is ready. */
export const SHARD_WRITES_IN_FLIGHT = 4;
/** Reads in flight for one whole-shard read (VERIFY_READ_BYTES each), CRC32C'd piece by piece. */
export const SHARD_READ_DEPTH = 4;
