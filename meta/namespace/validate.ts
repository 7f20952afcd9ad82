// Checks of request fields that do not need the store: missing sub-messages, ids and lengths out
// of range, bad modes and symlink targets. Every operation calls these before its transaction,
// so bad input gets INVALID_ARGUMENT with the field named, and nothing changes.
import { FILE_SIZE_MAX_BYTES, SYMLINK_TARGET_MAX_BYTES } from '../../common/constants.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { splitPath } from '../../common/names.js';
import type { PathAt } from '../../proto/index.js';
import { MODE_MASK } from './constants.js';

function invalid(method: string, message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, `${method}: ${message}`);
}

/** A required PathAt sub-message with a sane parent_ino. */
export function requirePathAt(at: PathAt | undefined, method: string, field = 'at'): PathAt {
  if (at === undefined || at === null) throw invalid(method, `field '${field}' (the path) is required`);
  if (typeof at.path !== 'string') throw invalid(method, `field '${field}.path' must be a string`);
  if (!Number.isSafeInteger(at.parentIno) || at.parentIno < 0) {
    throw invalid(method, `field '${field}.parent_ino' must be an inode id below 2^53, got ${at.parentIno}`);
  }
  // Syntax (NUL, over-long names or path) is checked here, before any id is reserved or key read.
  if (at.path !== '') splitPath(at.path, { allowDots: true });
  return at;
}

/** An inode id: a positive integer below 2^53. */
export function requireIno(ino: number, method: string, field = 'ino'): number {
  if (!Number.isSafeInteger(ino) || ino < 1)
    throw invalid(method, `field '${field}' must be an inode id (1 .. 2^53-1), got ${ino}`);
  return ino;
}

/** A file length or offset: 0 .. FILE_SIZE_MAX_BYTES. */
export function requireLength(value: number, method: string, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > FILE_SIZE_MAX_BYTES) {
    throw invalid(method, `field '${field}' must be between 0 and ${FILE_SIZE_MAX_BYTES} bytes, got ${value}`);
  }
  return value;
}

/** A counter or timestamp carried as uint64: a safe non-negative integer. */
export function requireU64(value: number, method: string, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw invalid(method, `field '${field}' must be a non-negative integer below 2^53, got ${value}`);
  return value;
}

/** Permission bits: 0 .. 07777. */
export function requireMode(mode: number, method: string, field = 'mode'): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > MODE_MASK) {
    throw invalid(method, `field '${field}' must be permission bits between 0 and 0o7777, got ${mode}`);
  }
  return mode;
}

/** A symlink target: 1 .. SYMLINK_TARGET_MAX_BYTES bytes of UTF-8 without NUL (stored verbatim). */
export function requireSymlinkTarget(target: string, method: string): string {
  if (typeof target !== 'string' || target.length === 0) throw invalid(method, "field 'target' must not be empty");
  if (target.includes('\0')) throw invalid(method, "field 'target' contains a NUL byte");
  const bytes = Buffer.byteLength(target, 'utf8');
  if (bytes > SYMLINK_TARGET_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.NAME_TOO_LONG,
      `${method}: symlink target is ${bytes} bytes; the limit is ${SYMLINK_TARGET_MAX_BYTES}`,
    );
  }
  return target;
}
