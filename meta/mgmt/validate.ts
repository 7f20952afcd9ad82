// Checks of request fields shared by the cluster manager's operations. Requests reach the manager
// from gRPC (decoded, so well-typed but possibly missing or out of range) and from in-process
// callers (anything), so every field is checked for type and range and a bad one gets an
// INVALID_ARGUMENT naming the field and what is allowed.
import { ErrorCode, SpindleError } from '../../common/errors.js';

export function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'a list' : 'an object';
  return String(value);
}

/** An integer in [min, max] (both inclusive). */
export function requireInt(value: unknown, field: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${field} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** A string of at most maxBytes UTF-8 bytes without NUL; `required` refuses the empty string. */
export function requireString(value: unknown, field: string, maxBytes: number, required: boolean): string {
  if (value === undefined && !required) return '';
  if (typeof value !== 'string') throw invalid(`${field} must be a string, got ${describe(value)}`);
  if (required && value.length === 0) throw invalid(`${field} is missing`);
  if (Buffer.byteLength(value, 'utf8') > maxBytes) throw invalid(`${field} is longer than ${maxBytes} bytes`);
  if (value.includes('\0')) throw invalid(`${field} contains a NUL byte`);
  return value;
}

/** An array (possibly empty) of at most maxLength items. */
export function requireArray(value: unknown, field: string, maxLength: number): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${field} must be a list, got ${describe(value)}`);
  if (value.length > maxLength) throw invalid(`${field} has ${value.length} entries, at most ${maxLength} are allowed`);
  return value;
}

/** The request itself must be an object (an in-process caller may pass anything). */
export function requireObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`${what} must be an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

/** `host:port` (IPv6 hosts in brackets), port 1–65535. */
export function requireAddress(value: unknown, field: string, maxBytes: number): string {
  const address = requireString(value, field, maxBytes, true);
  const match = ADDRESS.exec(address);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || !(port >= 1 && port <= 65_535)) {
    throw invalid(
      `${field} must be host:port with a port from 1 to 65535 (e.g. 127.0.0.1:7401), got ${describe(address)}`,
    );
  }
  return address;
}

/** Idempotency tag of an admin request: absent, or a client id with a request id. */
export function readTag(value: unknown): { clientId: string; requestId: number } | undefined {
  if (value === undefined || value === null) return undefined;
  const tag = requireObject(value, 'tag');
  const clientId = requireString(tag['clientId'], 'tag.client_id', 256, false);
  const requestId = requireInt(tag['requestId'] ?? 0, 'tag.request_id', 0);
  if (clientId === '' && requestId === 0) return undefined;
  if (clientId === '') throw invalid('tag.client_id is missing (a tag needs a client id and a request id)');
  return { clientId, requestId };
}
