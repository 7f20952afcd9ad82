// Validation of page-index requests, done for a whole batch before anything changes: bad input
// gets an INVALID_ARGUMENT naming the field (`keys[3]`, `pages[0].sizeBytes`) and the index is
// left exactly as it was.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import {
  BATCH_KEYS_MAX,
  LEASE_MS_MAX,
  PAGE_KEY_BYTES,
  PAGE_SIZE_MAX_BYTES,
  PAGE_SIZE_MIN_BYTES,
  TTL_MS_MAX,
} from './constants.js';

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}

/** The map key of a page key (hex of its 32 bytes). */
export function pageKeyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

function checkPageKey(key: unknown, field: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw invalid(`${field} must be a byte array of ${PAGE_KEY_BYTES} bytes`);
  if (key.length === 0) throw invalid(`${field} is empty: a page key has ${PAGE_KEY_BYTES} bytes`);
  if (key.length !== PAGE_KEY_BYTES) {
    throw invalid(`${field} has ${key.length} bytes: a page key has ${PAGE_KEY_BYTES} bytes`);
  }
}

function checkBatchLength(length: number, field: string, max = BATCH_KEYS_MAX): void {
  if (length > max) throw invalid(`${field} has ${length} entries: a batch has at most ${max}`);
}

export function checkKeyBatch(keys: readonly Uint8Array[], field: string, max = BATCH_KEYS_MAX): void {
  if (!Array.isArray(keys)) throw invalid(`${field} must be an array of page keys`);
  checkBatchLength(keys.length, field, max);
  keys.forEach((key, i) => {
    checkPageKey(key, `${field}[${i}]`);
  });
}

function checkPageSize(sizeBytes: unknown, field: string): void {
  if (
    typeof sizeBytes !== 'number' ||
    !Number.isSafeInteger(sizeBytes) ||
    sizeBytes < PAGE_SIZE_MIN_BYTES ||
    sizeBytes > PAGE_SIZE_MAX_BYTES
  ) {
    throw invalid(
      `${field} must be an integer in ${PAGE_SIZE_MIN_BYTES}..${PAGE_SIZE_MAX_BYTES} ` +
        `(16 KiB..32 MiB), got ${sizeBytes}`,
    );
  }
}

/** undefined is allowed (no lease / no TTL); otherwise an integer in min..max milliseconds. */
function checkOptionalMs(value: unknown, field: string, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${field} must be an integer in ${min}..${max} ms, got ${value}`);
  }
}

export function checkLeaseMs(leaseMs: unknown): void {
  checkOptionalMs(leaseMs, 'leaseMs', 0, LEASE_MS_MAX);
}

function checkTtlMs(ttlMs: unknown, field: string): void {
  checkOptionalMs(ttlMs, field, 1, TTL_MS_MAX);
}

/** The fields of a put that are checked (the location is opaque). */
interface CheckedPut {
  readonly key: Uint8Array;
  readonly parentKey?: Uint8Array;
  readonly sizeBytes: number;
  readonly ttlMs?: number;
}

export function checkPutBatch(puts: readonly CheckedPut[]): void {
  if (!Array.isArray(puts)) throw invalid('pages must be an array');
  checkBatchLength(puts.length, 'pages');
  puts.forEach((put, i) => {
    checkPageKey(put?.key, `pages[${i}].key`);
    if (put.parentKey !== undefined) {
      checkPageKey(put.parentKey, `pages[${i}].parentKey`);
      if (pageKeyId(put.parentKey) === pageKeyId(put.key)) {
        throw invalid(`pages[${i}].parentKey equals its key: a page is not its own parent`);
      }
    }
    checkPageSize(put.sizeBytes, `pages[${i}].sizeBytes`);
    checkTtlMs(put.ttlMs, `pages[${i}].ttlMs`);
  });
}
