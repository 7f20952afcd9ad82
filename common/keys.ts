// The key registry: every key in a KvEngine (meta) or a target's chunk index (storage) starts with
// one fixed 4-byte ASCII prefix from this table, followed by binary parts. No string keys are
// built anywhere else, so key spaces cannot collide and a range scan over one prefix sees only
// its own records.
//
// Encoding (order-preserving): a number is 8 bytes big-endian unsigned (a safe non-negative
// integer), a bigint is 8 bytes big-endian unsigned (0 <= v < 2^64), a string is its UTF-8 bytes,
// a Uint8Array is copied raw. Variable-length parts (strings, bytes) carry no terminator, so they
// belong last in a key (e.g. DENT ‖ parent ‖ name).
import { ErrorCode, SpindleError, assert } from './errors.js';

export const KeyPrefix = {
  /** INOD ‖ ino → inode. */
  INODE: 'INOD',
  /** DENT ‖ parent ino ‖ name → child ino and type. */
  DENTRY: 'DENT',
  /** CHTB ‖ table id ‖ version → chain table. */
  CHAIN_TABLE: 'CHTB',
  /** CHAN ‖ chain id → chain (targets, version). */
  CHAIN: 'CHAN',
  /** NODE ‖ node id → storage node registration. */
  NODE: 'NODE',
  /** TARG ‖ target id → target state. */
  TARGET: 'TARG',
  /** SESS ‖ ino ‖ client id → open-for-write session (length recovery after a client crash). */
  SESSION: 'SESS',
  /** IDEM ‖ client id ‖ request id → stored result of a mutating request. */
  IDEMPOTENCY: 'IDEM',
  /** GCQU ‖ ino → inode waiting for its chunks to be removed. */
  GC: 'GCQU',
  /** CNTR ‖ name → monotonic counter (next inode id, next node id, …). */
  COUNTER: 'CNTR',
  /** ROUT → routing info version and cluster-wide routing state. */
  ROUTING: 'ROUT',
  /** CHNK ‖ ino ‖ index → chunk metadata on a storage target. */
  CHUNK: 'CHNK',
  /** CHSQ ‖ client id ‖ channel id → last applied write sequence number (exactly-once writes). */
  CHANNEL: 'CHSQ',
  /** KVOB ‖ key hash → KV-cache object metadata on a storage target. */
  KV_OBJECT: 'KVOB',
  /** LEAS ‖ name → lease record (the cluster-manager role, fencing tokens). */
  LEASE: 'LEAS',
  /** SCHM → on-disk schema version of the store holding it. */
  SCHEMA: 'SCHM',
  /** CONF ‖ name → cluster-wide setting stored by the manager. */
  CONFIG: 'CONF',
  /** XATR ‖ ino ‖ name → value of an extended attribute. */
  XATTR: 'XATR',
  /** LOCK ‖ ino → advisory locks held on the inode (LockTable). */
  LOCK: 'LOCK',
  /** LKSS ‖ session → until when a lock session's locks hold (µs). */
  LOCK_SESSION: 'LKSS',
  /** NCRD ‖ node id → the storage credential the node first registered with (node identity). */
  NODE_CREDENTIAL: 'NCRD',
} as const;

type KeyPrefixName = keyof typeof KeyPrefix;
export type KeyPrefixValue = (typeof KeyPrefix)[KeyPrefixName];
export type KeyPart = number | bigint | string | Uint8Array;

/** Length of every key prefix in bytes. */
const KEY_PREFIX_BYTES = 4;

// Registry invariants: checked once at load; a violation is a bug and crashes.
{
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(KeyPrefix)) {
    assert(/^[\x21-\x7e]{4}$/.test(value), `key prefix ${name}=${value} must be 4 printable ASCII bytes`);
    assert(!seen.has(value), `key prefix ${value} is registered twice`);
    seen.add(value);
  }
}

const PREFIX_VALUES: ReadonlySet<string> = new Set(Object.values(KeyPrefix));
const TWO_POW_64 = 1n << 64n;

function partBytes(part: KeyPart, index: number): Buffer {
  if (typeof part === 'number') {
    if (!Number.isSafeInteger(part) || part < 0) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `key part ${index} must be a safe non-negative integer, got ${part}`,
      );
    }
    const out = Buffer.allocUnsafe(8);
    out.writeBigUInt64BE(BigInt(part));
    return out;
  }
  if (typeof part === 'bigint') {
    if (part < 0n || part >= TWO_POW_64) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `key part ${index} must be in [0, 2^64), got ${part}`);
    }
    const out = Buffer.allocUnsafe(8);
    out.writeBigUInt64BE(part);
    return out;
  }
  if (typeof part === 'string') return Buffer.from(part, 'utf8');
  if (part instanceof Uint8Array) return Buffer.from(part.buffer, part.byteOffset, part.byteLength);
  throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `key part ${index} has unsupported type ${typeof part}`);
}

/** Builds `prefix ‖ parts…` (see the encoding above). */
export function encodeKey(prefix: KeyPrefixValue, ...parts: KeyPart[]): Buffer {
  assert(PREFIX_VALUES.has(prefix), `unregistered key prefix ${String(prefix)}`);
  const chunks: Buffer[] = [Buffer.from(prefix, 'latin1')];
  parts.forEach((part, i) => chunks.push(partBytes(part, i)));
  return Buffer.concat(chunks);
}

/** The smallest key greater than every key that starts with `key` (exclusive end of a range scan). */
export function prefixEnd(key: Uint8Array): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  throw new SpindleError(
    ErrorCode.INVALID_ARGUMENT,
    'prefixEnd: a key of only 0xff bytes (or empty) has no upper bound',
  );
}

/** The registered prefix a key starts with, or undefined. */
export function keyPrefixOf(key: Uint8Array): KeyPrefixValue | undefined {
  if (key.length < KEY_PREFIX_BYTES) return undefined;
  const text = Buffer.from(key.buffer, key.byteOffset, KEY_PREFIX_BYTES).toString('latin1');
  return PREFIX_VALUES.has(text) ? (text as KeyPrefixValue) : undefined;
}

/** Whether `key` starts with the bytes of `prefix`. */
export function hasKeyPrefix(key: Uint8Array, prefix: Uint8Array | KeyPrefixValue): boolean {
  const bytes = typeof prefix === 'string' ? Buffer.from(prefix, 'latin1') : prefix;
  if (key.length < bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (key[i] !== bytes[i]) return false;
  return true;
}

/**
 * Reads the 8-byte big-endian number at `offset` of a key (as written by encodeKey). Throws
 * INVALID_ARGUMENT if the key is too short or the value exceeds Number.MAX_SAFE_INTEGER.
 */
export function readKeyU64(key: Uint8Array, offset: number): number {
  if (offset < 0 || offset + 8 > key.length) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `key of ${key.length} bytes has no 8-byte number at offset ${offset}`,
    );
  }
  const value = Buffer.from(key.buffer, key.byteOffset, key.byteLength).readBigUInt64BE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `key number at offset ${offset} exceeds 2^53-1`);
  }
  return Number(value);
}

/** The bytes of a key after `offset`, decoded as UTF-8 (the trailing string part). */
export function readKeyString(key: Uint8Array, offset: number): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8', offset);
}
