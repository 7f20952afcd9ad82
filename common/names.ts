// Names and paths of the namespace: what a directory entry name may be, and how a path string is
// split into names. Bad input gets a clear SpindleError (INVALID_NAME / NAME_TOO_LONG) before any
// request is sent or any state changes.
//
// A name is 1..NAME_MAX_BYTES UTF-8 bytes, contains no '/' and no NUL, and is not '.' or '..'.
// A path is at most PATH_MAX_BYTES UTF-8 bytes; repeated and trailing slashes collapse.
// splitPath rejects '.' and '..' components by default: Spindle resolves paths component by
// component on the server, and a lexical '..' would be wrong across symlinks. Callers that accept
// them (a shell-like CLI) pass { allowDots: true } and resolve them themselves.
import { CLIENT_ID_MAX_BYTES, NAME_MAX_BYTES, PATH_MAX_BYTES } from './constants.js';
import { ErrorCode, SpindleError } from './errors.js';

function show(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

/** Throws unless `name` is a valid directory entry name. */
export function validateName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new SpindleError(ErrorCode.INVALID_NAME, 'a name must not be empty');
  }
  if (name.includes('/')) {
    throw new SpindleError(ErrorCode.INVALID_NAME, `name ${show(name)} contains '/': pass a single path component`);
  }
  if (name.includes('\0')) {
    throw new SpindleError(ErrorCode.INVALID_NAME, `name ${show(name)} contains a NUL byte`);
  }
  if (name === '.' || name === '..') {
    throw new SpindleError(ErrorCode.INVALID_NAME, `name ${show(name)} is reserved`);
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > NAME_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.NAME_TOO_LONG,
      `name ${show(name)} is ${bytes} bytes; the limit is ${NAME_MAX_BYTES} bytes (UTF-8)`,
    );
  }
}

/**
 * Throws INVALID_ARGUMENT unless `clientId` (of a request tag) is 1..CLIENT_ID_MAX_BYTES UTF-8
 * bytes. Meta and storage check it before it becomes part of a key or a table entry.
 */
export function validateClientId(clientId: string, field = 'tag.client_id'): void {
  if (typeof clientId !== 'string' || clientId.length === 0) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${field} must be a non-empty string`);
  }
  const bytes = Buffer.byteLength(clientId, 'utf8');
  if (bytes > CLIENT_ID_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${field} is ${bytes} bytes; the limit is ${CLIENT_ID_MAX_BYTES} bytes (UTF-8)`,
    );
  }
}

/** Whether `name` is a valid directory entry name. */
export function isValidName(name: string): boolean {
  try {
    validateName(name);
    return true;
  } catch {
    return false;
  }
}

export interface SplitPath {
  /** The path started with '/'. */
  absolute: boolean;
  /** Its components, in order; empty for '/'. */
  names: string[];
}

export interface SplitPathOptions {
  /** Keep '.' and '..' components in `names` for the caller to resolve (default: reject them). */
  allowDots?: boolean;
}

/** Splits a path into validated names. '' is invalid; '/' is { absolute: true, names: [] }. */
export function splitPath(path: string, options: SplitPathOptions = {}): SplitPath {
  if (typeof path !== 'string' || path.length === 0) {
    throw new SpindleError(ErrorCode.INVALID_NAME, 'a path must not be empty');
  }
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > PATH_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.NAME_TOO_LONG,
      `path is ${bytes} bytes; the limit is ${PATH_MAX_BYTES} bytes (UTF-8)`,
    );
  }
  if (path.includes('\0')) {
    throw new SpindleError(ErrorCode.INVALID_NAME, `path ${show(path)} contains a NUL byte`);
  }
  const names = path.split('/').filter((part) => part.length > 0);
  for (const name of names) {
    if (name === '.' || name === '..') {
      if (options.allowDots) continue;
      throw new SpindleError(
        ErrorCode.INVALID_NAME,
        `path ${show(path)} contains '${name}': use a path without '.' or '..' components`,
      );
    }
    validateName(name);
  }
  return { absolute: path.startsWith('/'), names };
}

/**
 * Joins path segments with single slashes (no '.'/'..' resolution). Absolute if the first
 * segment is; joinPath('/') is '/', joinPath('a', 'b') is 'a/b', joinPath('/a/', '/b') is '/a/b'.
 */
export function joinPath(...segments: string[]): string {
  const absolute = segments.length > 0 && segments[0]!.startsWith('/');
  const names = segments.flatMap((segment) => segment.split('/')).filter((part) => part.length > 0);
  return (absolute ? '/' : '') + names.join('/');
}

/** The path of a split path: formatPath(splitPath(p)) is p with slashes normalized. */
export function formatPath(path: SplitPath): string {
  return (path.absolute ? '/' : '') + path.names.join('/');
}
