// The per-user credentials file and the order in which a client finds its token.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { credentialsFilePath, forgetCredentials, readCredentials, storeCredentials } from './credentials-file.js';
import { resolveToken } from './token-source.js';

const dir = mkdtempSync(join(tmpdir(), 'auth-core-credentials-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('credentials file', () => {
  it('keeps one entry per meta address, mode 0600, through concurrent writers', async () => {
    const file = join(dir, 'nested', 'credentials.json');
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        storeCredentials(`127.0.0.1:${7400 + i}`, { client: `c${i}`, admin: `a${i}` }, file),
      ),
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);
    for (let i = 0; i < 8; i++)
      expect(readCredentials(`127.0.0.1:${7400 + i}`, file)).toEqual({ client: `c${i}`, admin: `a${i}` });
    // localhost and 127.0.0.1 are one host; a list finds its first stored address.
    expect(readCredentials('localhost:7401', file)?.client).toBe('c1');
    expect(readCredentials('10.0.0.9:7400,127.0.0.1:7402', file)?.client).toBe('c2');
    await forgetCredentials('127.0.0.1:7403', file);
    expect(readCredentials('127.0.0.1:7403', file)).toBeUndefined();
    expect(readCredentials('127.0.0.1:7404', file)?.admin).toBe('a4');
    expect(readCredentials('127.0.0.1:7400', join(dir, 'missing.json'))).toBeUndefined();
  });

  it('finds a token: explicit, --token-file, SPINDLE_TOKEN, SPINDLE_TOKEN_FILE, then the file by role', async () => {
    const file = join(dir, 'order.json');
    await storeCredentials('127.0.0.1:9000', { client: 'stored-client', admin: 'stored-admin' }, file);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'from-file\n');
    const env = { SPINDLE_CREDENTIALS: file };
    const meta = '127.0.0.1:9000';
    expect(credentialsFilePath(env)).toBe(file);
    expect(resolveToken({ metaAddress: meta, token: 'given', tokenFile, env: { ...env, SPINDLE_TOKEN: 'e' } })).toBe(
      'given',
    );
    expect(resolveToken({ metaAddress: meta, tokenFile, env: { ...env, SPINDLE_TOKEN: 'e' } })).toBe('from-file');
    expect(
      resolveToken({ metaAddress: meta, env: { ...env, SPINDLE_TOKEN: 'e', SPINDLE_TOKEN_FILE: tokenFile } }),
    ).toBe('e');
    expect(resolveToken({ metaAddress: meta, env: { ...env, SPINDLE_TOKEN_FILE: tokenFile } })).toBe('from-file');
    expect(resolveToken({ metaAddress: meta, env })).toBe('stored-client');
    expect(resolveToken({ metaAddress: meta, role: 'admin', env })).toBe('stored-admin');
    expect(resolveToken({ metaAddress: '127.0.0.1:1', env })).toBeUndefined();
    expect(() => resolveToken({ metaAddress: meta, tokenFile: join(dir, 'nope'), env })).toThrow(/cannot read/);
  });
});
