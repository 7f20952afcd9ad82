// A throwaway certificate authority for TLS tests: a self-signed CA and a server certificate for
// 127.0.0.1/localhost signed by it, made with the openssl command at test time (no key is ever
// committed), plus a second, unrelated CA a client can wrongly trust.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  readonly dir: string;
  /** The CA certificate clients trust. */
  readonly caPath: string;
  /** The servers' certificate (SAN IP:127.0.0.1, DNS:localhost) and key. */
  readonly certPath: string;
  readonly keyPath: string;
  /** Another CA that signed nothing here. */
  readonly otherCaPath: string;
  /** The SPINDLE_TLS_* environment of a server. */
  readonly serverEnv: Record<string, string>;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function selfSignedCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
}

export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'auth-identity-ca-'));
  selfSignedCa(dir, 'ca');
  selfSignedCa(dir, 'other-ca');
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=localhost',
  ]);
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.cnf',
  ]);
  const caPath = join(dir, 'ca.pem');
  const certPath = join(dir, 'server.pem');
  const keyPath = join(dir, 'server.key');
  return {
    dir,
    caPath,
    certPath,
    keyPath,
    otherCaPath: join(dir, 'other-ca.pem'),
    serverEnv: { SPINDLE_TLS_CERT: certPath, SPINDLE_TLS_KEY: keyPath, SPINDLE_TLS_CA: caPath },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
