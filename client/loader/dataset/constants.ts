// Named limits of packed datasets (writer, reader, verify, staging collection), each with its unit
// and the reason for its value.

const MiB = 1024 * 1024;

/** Target shard size: large sequential files keep per-file metadata small; a sample never crosses one. */
export const SHARD_BYTES_DEFAULT = 256 * MiB;
/** Largest sample: its length is a u32 in the index entry. */
export const SAMPLE_BYTES_MAX = 0xffff_ffff;
/** Longest key, in UTF-8 bytes: keys are names (a file path, a record id), not payloads. */
export const KEY_BYTES_MAX = 4096;
/** Random bytes of a pack id (hex in the manifest and the staging directory's name). */
export const DATASET_ID_BYTES = 8;
/** Largest manifest.json a reader accepts (a 64 TiB dataset of 256 MiB shards needs about 20 MiB). */
export const MANIFEST_BYTES_MAX = 64 * MiB;

/** Index pages a reader keeps cached unless told otherwise (2 M entries: 512 pages). */
export const INDEX_CACHE_BYTES_DEFAULT = 64 * MiB;
/** Index page reads in flight for one entries() call: enough to hide latency, few enough to be fair. */
export const INDEX_PAGE_READS_MAX = 8;
/** Keys this close in keys.bin are read in one range (the bytes between are read and dropped). */
export const KEY_READ_GAP_BYTES = 4096;
/** A merged key read stops growing at this size. */
export const KEY_READ_RANGE_MAX_BYTES = MiB;
/** Key range reads in flight for one keys() call (a batch's keys are as random as its samples). */
export const KEY_READS_MAX = 64;
/**
 * keys.bin up to this size is read whole once and kept: a loader asks for every batch's keys, and
 * one random key read per sample would double the reads of an epoch of small samples.
 */
export const KEYS_WHOLE_BYTES_MAX = 32 * MiB;

/** Sequential read size of verify: large reads keep every chain busy while CRCs are computed. */
export const VERIFY_READ_BYTES = 8 * MiB;
/** Problems verify lists in its report; the rest are only counted (a wrecked dataset has millions). */
export const VERIFY_PROBLEMS_MAX = 100;

/** A staging directory whose pack started longer ago than this is abandoned, whoever owns it. */
export const STAGING_AGE_MAX_MS = 24 * 60 * 60 * 1000;
/** A staging directory without a readable owner.json (crash right after mkdir) is abandoned after this. */
export const STAGING_OWNERLESS_GRACE_MS = 10 * 60 * 1000;
