// Argument checks shared by the loader: every bad number becomes SpindleError(INVALID_ARGUMENT)
// whose message names the field, the value received and the range it must be in.
import { ErrorCode, SpindleError } from '../../common/errors.js';

/** Throws unless `value` is a safe integer >= `min`; returns it. */
export function requireInteger(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${field} must be an integer >= ${min} and <= 2^53 - 1, got ${describe(value)}`,
    );
  }
  return value;
}

/** Throws unless `value` is an integer in [0, limit); returns it. */
export function requireIndex(field: string, value: unknown, limit: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value >= limit) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${field} must be an integer in [0, ${limit}), got ${describe(value)}`,
    );
  }
  return value;
}

/** A value as it appears in a message: strings quoted, everything else as written. */
export function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
