import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from './errors.js';
import { configureTls, tlsHint, warnIfListeningInClear } from './tls.js';

const dir = mkdtempSync(join(tmpdir(), 'auth-identity-tls-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pem = join(dir, 'some.pem');
writeFileSync(pem, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');

function configError(files: Parameters<typeof configureTls>[0]): SpindleError {
  try {
    configureTls(files, {});
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.CONFIG_INVALID);
    return err as SpindleError;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('TLS configuration', () => {
  it('refuses a certificate without its key and files that cannot be read, naming the flag', () => {
    expect(configError({ certPath: pem }).message).toMatch(/--tls-cert and --tls-key go together/);
    expect(configError({ caPath: join(dir, 'missing.pem') }).message).toMatch(/--tls-ca .*missing\.pem: cannot read/);
  });

  it('reads the environment when a flag is not given', () => {
    expect(configureTls({}, {})).toBe(false);
    expect(configureTls({}, { SPINDLE_TLS_CA: pem })).toBe(true);
    configureTls({}, {});
  });

  it('warns when a server listens beyond loopback without TLS, not on loopback or with TLS', () => {
    const warnings: string[] = [];
    const logger = { warn: (_fields: object, message: string) => warnings.push(message) };
    configureTls({}, {});
    expect(warnIfListeningInClear('127.0.0.1', 'meta', logger)).toBe(false);
    expect(warnIfListeningInClear('localhost', 'meta', logger)).toBe(false);
    expect(warnIfListeningInClear('0.0.0.0', 'meta', logger)).toBe(true);
    expect(warnings[0]).toMatch(/WITHOUT TLS/);
    configureTls({ caPath: pem }, {});
    expect(warnIfListeningInClear('0.0.0.0', 'meta', logger)).toBe(false);
    configureTls({}, {});
  });

  it('hints at --tls-ca for connection failures that look like a TLS mismatch only', () => {
    configureTls({}, {});
    expect(tlsHint('No connection established. Last error: Failed to connect')).toMatch(/--tls-ca/);
    expect(tlsHint('No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1')).toBe('');
    configureTls({ caPath: pem }, {});
    expect(tlsHint('Last error: Error: self-signed certificate in certificate chain')).toMatch(/not trusted/);
    configureTls({}, {});
  });
});
