// Byte helpers shared by the KV engines: keys are compared bytewise and, inside the engines, kept
// as latin1 strings (one char per byte), whose JS string order is exactly the bytewise order of the
// bytes — so Map lookups and `<` comparisons on them are byte-correct and cheap.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { KV_KEY_MAX_BYTES, KV_VALUE_MAX_BYTES } from './constants.js';

/** Bytes → latin1 string (one UTF-16 code unit per byte; order preserving). */
export function keyToString(key: Uint8Array): string {
  return (Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength)).toString('latin1');
}

/** latin1 string → a fresh Buffer. */
export function stringToKey(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** A private copy (callers may reuse the buffers they pass in or get back). */
export function copyBytes(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafe(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

/** A Buffer view of the same memory (no copy). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Bytewise comparison: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(asBuffer(a), asBuffer(b));
}

function describe(what: string, value: unknown): string {
  return `${what} must be a Uint8Array, got ${value === null ? 'null' : typeof value}`;
}

/** A key to read or write: 1..KV_KEY_MAX_BYTES bytes. */
export function checkKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, describe('kv key', key));
  if (key.byteLength === 0) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'kv key must not be empty');
  if (key.byteLength > KV_KEY_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `kv key is ${key.byteLength} bytes; the limit is ${KV_KEY_MAX_BYTES}`,
    );
  }
}

/** A range bound: 0..KV_KEY_MAX_BYTES + 1 bytes (an empty start means "from the first key"). */
export function checkBound(bound: unknown, what: string): asserts bound is Uint8Array {
  if (!(bound instanceof Uint8Array))
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, describe(`kv range ${what}`, bound));
  if (bound.byteLength > KV_KEY_MAX_BYTES + 1) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `kv range ${what} is ${bound.byteLength} bytes; the limit is ${KV_KEY_MAX_BYTES + 1}`,
    );
  }
}

export function checkValue(value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, describe('kv value', value));
  if (value.byteLength > KV_VALUE_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `kv value is ${value.byteLength} bytes; the limit is ${KV_VALUE_MAX_BYTES}`,
    );
  }
}

export function checkLimit(limit: unknown): void {
  if (limit === undefined) return;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `kv range limit must be a non-negative integer, got ${String(limit)}`,
    );
  }
}
