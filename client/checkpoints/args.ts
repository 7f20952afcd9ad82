// Checking the arguments callers give checkpoints: steps, ranks, world sizes, save ids, shard names
// and retention options.
//
// Guarantees: every refusal is INVALID_ARGUMENT naming the field and what it accepts; an accepted
// shard name or save id is a single safe path component (no '/', NUL, '.' or '..').
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { NAME_BYTES_MAX, STEP_MAX, WORLD_SIZE_MAX } from './constants.js';

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}

function wholeNumber(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkStep(value: unknown, field = 'step'): number {
  return wholeNumber(value, field, 0, STEP_MAX);
}

export function checkWorldSize(value: unknown): number {
  return wholeNumber(value, 'worldSize', 1, WORLD_SIZE_MAX);
}

export function checkRank(value: unknown, worldSize: number, field = 'rank'): number {
  return wholeNumber(value, field, 0, worldSize - 1);
}

/** Letters, digits, '_' and '-': safe in a directory name, on every host. */
export function checkSaveId(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value) || value.length > NAME_BYTES_MAX) {
    throw invalid(
      `saveId must be 1..${NAME_BYTES_MAX} letters, digits, '_' or '-' (the same on every rank), ` +
        `got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Letters, digits, '.', '_' and '-', not starting with '.': one file name in rank-<r>/. */
export function checkShardName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(value) || value.length > NAME_BYTES_MAX) {
    throw invalid(
      `${field} must be 1..${NAME_BYTES_MAX} letters, digits, '.', '_' or '-', not starting with '.', ` +
        `got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** An optional count >= 1 (keepLast, keepEvery), undefined when not given. */
export function checkOptionalCount(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  return wholeNumber(value, field, 1, Number.MAX_SAFE_INTEGER);
}
