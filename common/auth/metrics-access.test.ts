// /metrics access: open from loopback, a valid bearer token needed from anywhere else, everyone
// when authentication is off.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrCreateClusterKey } from './cluster-key.js';
import { metricsAccess } from './metrics-access.js';
import { mintToken } from './token.js';
import { TokenVerifier } from './token-verifier.js';

const dir = mkdtempSync(join(tmpdir(), 'auth-core-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('metricsAccess', () => {
  it('lets loopback in, and others only with a token of the cluster', async () => {
    const key = await loadOrCreateClusterKey(dir);
    const access = metricsAccess(new TokenVerifier(key))!;
    const token = mintToken(key, { role: 'client', user: 'prometheus', uid: 65534, gid: 65534 }, Date.now());
    for (const loopback of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1']) {
      expect(access(loopback, undefined)).toBe(true);
    }
    expect(access('10.1.2.3', undefined)).toBe(false);
    expect(access('10.1.2.3', 'Bearer nonsense')).toBe(false);
    expect(access('10.1.2.3', `Basic ${token}`)).toBe(false);
    expect(access('10.1.2.3', `Bearer ${token}`)).toBe(true);
    expect(access(undefined, undefined)).toBe(false);
    expect(metricsAccess(undefined)).toBeUndefined();
  });
});
