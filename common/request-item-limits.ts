// Item limits of batch requests, checked on the raw message before it is decoded (issue 15): a
// call carrying millions of items was decoded whole before its handler refused it, and three such
// calls held a storage node's event loop for 4 s, near its self-fence. Counting a repeated field's
// items walks the top-level fields' tags and lengths only and stops once past the limit, so a
// refusal costs at most the limit's worth of tags, whatever the message's size.
//
// The limits here are the hard ones of each method (a server's configured limit may be lower and
// is still checked after decoding, with the same message).
import { ErrorCode, SpindleError } from './errors.js';

/** Fields of a request counted together against one limit. */
interface ItemLimit {
  /** Field numbers of repeated top-level fields; `packed` ones are packed varints (uint64 ids). */
  readonly fields: ReadonlyArray<{ readonly number: number; readonly packed?: boolean }>;
  readonly max: number;
  /** What the items are, for the error message. */
  readonly what: string;
}

/** Read items of one BatchRead (storage BATCH_READ_IOS_MAX). */
const BATCH_READ_IOS_MAX = 1024;
/** Entries of one BatchStat (the largest meta's batchStatMax config may be). */
const BATCH_STAT_ENTRIES_MAX = 100_000;
/** Opens of one BatchOpen (meta OPEN_BATCH_MAX). */
const BATCH_OPEN_MAX = 256;
/** Renames of one BatchRename, removes of one BatchRemove (meta RENAME_REMOVE_BATCH_MAX). */
const BATCH_RENAME_REMOVE_MAX = 256;
/** Page keys of one KV get, exists or remove (storage kvcache BATCH_KEYS_MAX). */
const KV_BATCH_KEYS_MAX = 128;
/** Page keys of one KV prefix match (storage kvcache MATCH_PREFIX_KEYS_MAX). */
const KV_MATCH_PREFIX_KEYS_MAX = 16_384;

const KV_KEYS = { fields: [{ number: 4 }], max: KV_BATCH_KEYS_MAX, what: 'page keys' };

/** Limits by gRPC method path. */
const ITEM_LIMITS: Readonly<Record<string, ItemLimit>> = {
  '/spindle.Storage/BatchRead': { fields: [{ number: 1 }], max: BATCH_READ_IOS_MAX, what: 'read items' },
  '/spindle.Meta/BatchStat': {
    fields: [{ number: 1 }, { number: 2, packed: true }],
    max: BATCH_STAT_ENTRIES_MAX,
    what: 'entries',
  },
  '/spindle.Meta/BatchOpen': { fields: [{ number: 1 }], max: BATCH_OPEN_MAX, what: 'opens' },
  '/spindle.Meta/BatchRename': { fields: [{ number: 1 }], max: BATCH_RENAME_REMOVE_MAX, what: 'renames' },
  '/spindle.Meta/BatchRemove': { fields: [{ number: 1 }], max: BATCH_RENAME_REMOVE_MAX, what: 'removes' },
  '/spindle.KvStore/KvGet': KV_KEYS,
  '/spindle.KvStore/KvExists': KV_KEYS,
  '/spindle.KvStore/KvRemove': KV_KEYS,
  '/spindle.KvStore/KvMatchPrefix': { fields: [{ number: 4 }], max: KV_MATCH_PREFIX_KEYS_MAX, what: 'page keys' },
};

/** The error for a request of `path` over its item limit, or undefined (within it, or no limit). */
export function itemLimitError(path: string, bytes: Uint8Array): SpindleError | undefined {
  const limit = ITEM_LIMITS[path];
  if (limit === undefined) return undefined;
  const count = countItemsUpTo(bytes, limit);
  if (count <= limit.max) return undefined;
  return new SpindleError(
    ErrorCode.INVALID_ARGUMENT,
    `${path}: more than ${limit.max} ${limit.what} in one request (a message of ${bytes.length} bytes); ` +
      `at most ${limit.max} per call (split the batch)`,
  );
}

/**
 * Items of the limit's fields in `bytes`, counted until one past `limit.max`. A message that does
 * not parse counts what was seen: the decoder refuses it afterwards.
 */
function countItemsUpTo(bytes: Uint8Array, limit: ItemLimit): number {
  let count = 0;
  let pos = 0;
  while (pos < bytes.length && count <= limit.max) {
    const tag = readVarint(bytes, pos);
    if (tag === undefined) return count;
    pos = tag.next;
    const fieldNumber = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    const field = limit.fields.find((f) => f.number === fieldNumber);
    if (wireType === 0) {
      const value = readVarint(bytes, pos);
      if (value === undefined) return count;
      pos = value.next;
      if (field !== undefined) count++;
    } else if (wireType === 1) {
      pos += 8;
    } else if (wireType === 5) {
      pos += 4;
    } else if (wireType === 2) {
      const length = readVarint(bytes, pos);
      if (length === undefined) return count;
      const end = Math.min(bytes.length, length.next + length.value);
      if (field?.packed === true) count += packedVarints(bytes, length.next, end, limit.max + 1 - count);
      else if (field !== undefined) count++;
      pos = end;
    } else {
      return count;
    }
  }
  return count;
}

/** Varints in bytes[start, end), one per byte without the continuation bit, counted up to `upTo`. */
function packedVarints(bytes: Uint8Array, start: number, end: number, upTo: number): number {
  let count = 0;
  for (let i = start; i < end && count < upTo; i++) if ((bytes[i]! & 0x80) === 0) count++;
  return count;
}

/** A varint (as a number: exact up to 2^53, enough for tags and lengths) and where the next field starts. */
function readVarint(bytes: Uint8Array, start: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let pos = start; pos < bytes.length && pos < start + 10; pos++) {
    const byte = bytes[pos]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return { value, next: pos + 1 };
    scale *= 128;
  }
  return undefined;
}
