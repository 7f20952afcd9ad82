// Tokens: what one minted names comes back from verification; a forged, altered, foreign, malformed
// or expired one is refused with UNAUTHENTICATED saying why.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, isSpindleError } from '../errors.js';
import { loadOrCreateClusterKey, PRIVATE_KEY_FILE, readPublicKeyFile, PUBLIC_KEY_FILE } from './cluster-key.js';
import { mintToken, verifyToken } from './token.js';
import { TokenVerifier } from './token-verifier.js';

const dir = mkdtempSync(join(tmpdir(), 'auth-core-token-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(isSpindleError(err, ErrorCode.UNAUTHENTICATED)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('tokens', async () => {
  const key = await loadOrCreateClusterKey(join(dir, 'a'));
  const other = await loadOrCreateClusterKey(join(dir, 'b'));
  const now = Date.now();

  it('creates the key once, private part 0600, and reads the same key back', async () => {
    expect(statSync(join(dir, 'a', PRIVATE_KEY_FILE)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateClusterKey(join(dir, 'a'));
    expect(again.keyId).toBe(key.keyId);
    expect((await readPublicKeyFile(join(dir, 'a', PUBLIC_KEY_FILE))).keyId).toBe(key.keyId);
  });

  it('verifies what it minted', () => {
    const token = mintToken(key, { role: 'storage', user: 'node-3', uid: 0, gid: 0, nodeId: 3 }, now);
    expect(verifyToken(key, token)).toEqual({ role: 'storage', user: 'node-3', uid: 0, gid: 0, nodeId: 3 });
    const alice = mintToken(key, { role: 'client', user: 'alice', uid: 1000, gid: 100 }, now);
    expect(verifyToken(key, alice)).toMatchObject({ role: 'client', user: 'alice', uid: 1000, gid: 100 });
  });

  it('refuses forged, altered, foreign and malformed tokens', () => {
    const token = mintToken(key, { role: 'client', user: 'alice', uid: 1000, gid: 100 }, now);
    const [prefix, claims, signature] = token.split('.') as [string, string, string];
    const admin = Buffer.from(
      Buffer.from(claims, 'base64url').toString().replace('"r":"client"', '"r":"admin"'),
    ).toString('base64url');
    expect(refusal(() => verifyToken(key, `${prefix}.${admin}.${signature}`))).toMatch(/signature/);
    const forger = generateKeyPairSync('ed25519');
    const forged = mintToken(
      { ...key, privateKey: forger.privateKey },
      { role: 'admin', user: 'x', uid: 0, gid: 0 },
      now,
    );
    expect(refusal(() => verifyToken(key, forged))).toMatch(/signature/);
    const foreign = mintToken(other, { role: 'admin', user: 'root', uid: 0, gid: 0 }, now);
    expect(refusal(() => verifyToken(key, foreign))).toMatch(/another cluster/);
    expect(refusal(() => verifyToken(key, 'hello'))).toMatch(/not a Spindle token/);
    expect(refusal(() => verifyToken(key, `spindle1.${'A'.repeat(5000)}.x`))).toMatch(/longer than/);
    expect(refusal(() => verifyToken(key, 'spindle1.!!!.x'))).toMatch(/claims|signature/);
  });

  it('refuses to mint a storage token without a node id', () => {
    expect(() => mintToken(key, { role: 'storage', user: 'n', uid: 0, gid: 0 }, now)).toThrow(/node id/);
  });

  it('caches a verified token and refuses it once expired', () => {
    let clock = now;
    const verifier = new TokenVerifier(key, () => clock);
    const token = mintToken(
      key,
      { role: 'client', user: 'bob', uid: 1, gid: 1, expiresAtSec: Math.floor(now / 1000) + 60 },
      now,
    );
    const first = verifier.verify(token);
    expect(verifier.verify(token)).toBe(first);
    clock = now + 61_000;
    expect(refusal(() => verifier.verify(token))).toMatch(/expired/);
  });
});
