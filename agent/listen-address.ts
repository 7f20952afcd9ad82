// Where `spindle agent` listens: `HOST:PORT` ([v6]:PORT too) or `unix:/abs/path.sock`. Guarantees:
// only loopback hosts (127.0.0.0/8, ::1, localhost) are accepted unless remote access is allowed
// explicitly — the agent serves the cluster's data with the agent's own credentials and has no
// authentication of its own; every refusal is SpindleError(INVALID_ARGUMENT) saying what to pass.
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { PORT_RANGE, parseIntegerFlag } from '../common/flags.js';

export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

const UNIX_PREFIX = 'unix:';

/** True for hosts that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Reads `--listen`; throws INVALID_ARGUMENT on malformed text or a remote host without `allowRemote`. */
export function parseListenAddress(text: string, allowRemote: boolean): ListenAddress {
  if (text.startsWith(UNIX_PREFIX)) {
    const path = text.slice(UNIX_PREFIX.length);
    if (!isAbsolute(path)) {
      throw invalid(`--listen unix:PATH needs an absolute socket path, got ${JSON.stringify(text)}`);
    }
    return { kind: 'unix', path };
  }
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  if (match === null) {
    throw invalid(`--listen must be HOST:PORT (e.g. 127.0.0.1:0) or unix:/abs/path.sock, got ${JSON.stringify(text)}`);
  }
  const host = match[1] ?? match[2] ?? '';
  const port = parseIntegerFlag('--listen port', match[3] ?? '', PORT_RANGE);
  if (!allowRemote && !isLoopbackHost(host)) {
    throw invalid(
      `--listen ${text}: ${host} is not a loopback address; the agent has no authentication, so it listens ` +
        'on 127.0.0.1 or ::1 (or a unix socket) unless --allow-remote is given',
    );
  }
  return { kind: 'tcp', host, port };
}

/** The address as gRPC targets and binds name it: `host:port`, `[v6]:port` or `unix:/path`. */
export function formatListenAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return `${UNIX_PREFIX}${address.path}`;
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}
