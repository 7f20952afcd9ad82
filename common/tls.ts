// Transport security of one process: TLS for its gRPC servers and channels and for its bulk
// sessions, from three PEM files — the process's certificate and key (what a server presents) and
// the CA that signed the servers it dials. Configured once at start by the entry point
// (`--tls-cert/--tls-key/--tls-ca`), or from SPINDLE_TLS_CERT / SPINDLE_TLS_KEY / SPINDLE_TLS_CA
// when no entry point configured it (a trainer that links the client library sets only those).
//
// Guarantees: TLS is on when any of the three is given, off otherwise (plain TCP, as before); a
// file that cannot be read, a certificate without its key, or a server without a certificate is a
// CONFIG_INVALID naming the flag, at start. Clients verify the server's certificate against the CA
// (or the system's roots without one) and its name against the address they dial, so a
// certificate for a cluster must name the addresses its servers listen on (IP or DNS SANs).
// Tokens, not client certificates, say who a caller is: servers do not ask for one.
import { readFileSync } from 'node:fs';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { type ChannelCredentials, credentials, ServerCredentials } from '@grpc/grpc-js';
import { ErrorCode, SpindleError } from './errors.js';

/** Paths of the PEM files, as given by flags or the environment. */
export interface TlsFiles {
  certPath?: string;
  keyPath?: string;
  caPath?: string;
}

interface TlsMaterial {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly ca?: Buffer;
}

/** The environment variables read when no entry point configured TLS. */
const TLS_ENV = { cert: 'SPINDLE_TLS_CERT', key: 'SPINDLE_TLS_KEY', ca: 'SPINDLE_TLS_CA' } as const;

/** undefined: not resolved yet (the environment is read on first use); null: TLS off. */
let configured: TlsMaterial | null | undefined;

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `${flag} ${path}: cannot read it (${(err as Error).message})`, {
      cause: err,
    });
  }
}

function load(files: TlsFiles): TlsMaterial | null {
  const { certPath, keyPath, caPath } = files;
  if (!certPath && !keyPath && !caPath) return null;
  if (Boolean(certPath) !== Boolean(keyPath)) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      '--tls-cert and --tls-key go together (SPINDLE_TLS_CERT and SPINDLE_TLS_KEY): give both or neither',
    );
  }
  return {
    cert: certPath ? readPem(certPath, '--tls-cert') : undefined,
    key: keyPath ? readPem(keyPath, '--tls-key') : undefined,
    ca: caPath ? readPem(caPath, '--tls-ca') : undefined,
  };
}

/** The TLS files named by SPINDLE_TLS_CERT / SPINDLE_TLS_KEY / SPINDLE_TLS_CA. */
function tlsFilesFromEnv(env: NodeJS.ProcessEnv = process.env): TlsFiles {
  return { certPath: env[TLS_ENV.cert], keyPath: env[TLS_ENV.key], caPath: env[TLS_ENV.ca] };
}

/**
 * Sets this process's TLS from flags; a flag left out falls back to its environment variable.
 * Returns whether TLS is on. Throws CONFIG_INVALID for unreadable or incomplete files.
 */
export function configureTls(files: TlsFiles = {}, env: NodeJS.ProcessEnv = process.env): boolean {
  const fromEnv = tlsFilesFromEnv(env);
  configured = load({
    certPath: files.certPath ?? fromEnv.certPath,
    keyPath: files.keyPath ?? fromEnv.keyPath,
    caPath: files.caPath ?? fromEnv.caPath,
  });
  return configured !== null;
}

function current(): TlsMaterial | null {
  if (configured === undefined) configured = load(tlsFilesFromEnv());
  if (configured !== null) quietIpServerNameWarning();
  return configured;
}

let warningFiltered = false;

/**
 * grpc-js puts the host it dials in the TLS server name even when it is an IP address, and Node
 * prints a deprecation warning (DEP0123) for that in every process: on every CLI command. The
 * certificate is still checked against the address (IP SANs), so that one warning is dropped.
 */
function quietIpServerNameWarning(): void {
  if (warningFiltered) return;
  warningFiltered = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' ? (rest[0] as { code?: string } | null)?.code : rest[1];
    if (code === 'DEP0123') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** Whether this process speaks TLS. */
function tlsEnabled(): boolean {
  return current() !== null;
}

/**
 * A hint for a failed connection that looks like a TLS mismatch ('' otherwise): a plain-text
 * client whose connection the server dropped (it expects TLS), or a TLS client that does not
 * trust the server's certificate.
 */
export function tlsHint(details: string): string {
  if (!tlsEnabled()) {
    const dropped = /No connection established/.test(details) && !/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(details);
    return dropped ? ' — if the cluster uses TLS, give its CA with --tls-ca (or SPINDLE_TLS_CA)' : '';
  }
  return /certificate|self.signed/i.test(details)
    ? " — the server's certificate is not trusted: give the CA that signed the cluster's certificates with " +
        '--tls-ca (or SPINDLE_TLS_CA)'
    : '';
}

/** Credentials of every gRPC channel this process opens: TLS with the CA when configured. */
export function channelCredentials(): ChannelCredentials {
  const material = current();
  if (material === null) return credentials.createInsecure();
  return credentials.createSsl(material.ca ?? null, material.key ?? null, material.cert ?? null);
}

function requireServerMaterial(material: TlsMaterial): { cert: Buffer; key: Buffer } {
  if (material.cert === undefined || material.key === undefined) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      'TLS is on (--tls-ca or SPINDLE_TLS_CA) but this server has no certificate: give --tls-cert and --tls-key',
    );
  }
  return { cert: material.cert, key: material.key };
}

/** Credentials of every gRPC server this process binds (TCP; a Unix socket stays plain). */
export function serverCredentials(): ServerCredentials {
  const material = current();
  if (material === null) return ServerCredentials.createInsecure();
  const { cert, key } = requireServerMaterial(material);
  return ServerCredentials.createSsl(material.ca ?? null, [{ cert_chain: cert, private_key: key }], false);
}

/** How a bulk transport secures its sockets when TLS is on. */
export interface BulkSocketSecurity {
  /** Wraps a socket the listener accepted; the returned socket carries the session. */
  accept(socket: net.Socket): tls.TLSSocket;
  /** Opens a connection to host:port; the session starts at 'secureConnect'. */
  connect(host: string, port: number): tls.TLSSocket;
}

/** The bulk sockets' security, or undefined when TLS is off (plain TCP). */
export function bulkSocketSecurity(): BulkSocketSecurity | undefined {
  const material = current();
  if (material === null) return undefined;
  let serverContext: tls.SecureContext | undefined;
  return {
    accept(socket) {
      serverContext ??= tls.createSecureContext({ ...requireServerMaterial(material), ca: material.ca });
      return new tls.TLSSocket(socket, { isServer: true, secureContext: serverContext });
    },
    connect(host, port) {
      return tls.connect({ host, port, ca: material.ca, servername: sniServerName(host) });
    },
  };
}

/** SNI carries host names only: none for an IP address (the certificate's IP SANs are checked). */
function sniServerName(host: string): string | undefined {
  return /^[\d.]+$/.test(host) || host.includes(':') ? undefined : host;
}

/** Loopback listen addresses: reachable from this machine only. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Warns loudly (log line and stderr) when a server listens beyond loopback without TLS: tokens
 * and data then cross the network in the clear. `what` names the listener ("meta gRPC").
 */
export function warnIfListeningInClear(
  host: string,
  what: string,
  logger: { warn(fields: object, message: string): void },
): boolean {
  if (isLoopback(host) || tlsEnabled()) return false;
  logger.warn(
    { host, listener: what },
    'listening beyond loopback WITHOUT TLS: tokens and data cross the network in the clear; ' +
      'give --tls-cert/--tls-key/--tls-ca',
  );
  process.stderr.write(
    `WARNING: ${what} listens on ${host} without TLS: tokens and data cross the network in the clear ` +
      '(give --tls-cert, --tls-key and --tls-ca)\n',
  );
  return true;
}
