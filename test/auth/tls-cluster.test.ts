// A cluster with TLS on (real meta and storage processes given SPINDLE_TLS_CERT/KEY/CA, a CA made
// by openssl for this run): a client that trusts the CA writes and reads files over TLS gRPC and
// TLS bulk sessions; the CLI with the CA (SPINDLE_TLS_CA or --tls-ca) reads them too, and without
// it (or trusting another CA) fails with a message that names --tls-ca.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { configureTls } from '../../common/tls.js';
import { startCluster, type TestCluster } from '../harness/cluster.js';
import { makeTestCa, type TestCa } from './testing/test-ca.js';

const SPINDLE = join(PACKAGE_ROOT, 'bin', 'spindle.mjs');

let ca: TestCa;
let cluster: TestCluster;

beforeAll(async () => {
  ca = makeTestCa();
  // This process is a client of the cluster (the launcher's own checks included): it trusts the CA.
  configureTls({ caPath: ca.caPath }, {});
  cluster = await startCluster({ env: ca.serverEnv, dataTransport: 'bulk' });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  ca?.remove();
});

/** Runs the CLI with `tls` as its only SPINDLE_TLS_* settings. */
function cli(args: string[], tls: Record<string, string>) {
  const env: NodeJS.ProcessEnv = { ...process.env, SPINDLE_META: cluster.metaAddress, ...tls };
  for (const key of ['SPINDLE_TLS_CERT', 'SPINDLE_TLS_KEY', 'SPINDLE_TLS_CA']) if (!(key in tls)) delete env[key];
  return spawnSync(process.execPath, [SPINDLE, ...args], { env, encoding: 'utf8', timeout: 60_000 });
}

describe('TLS', () => {
  it('serves writes and reads to a client that trusts the CA (gRPC and bulk sessions over TLS)', async () => {
    const client = await cluster.client();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await client.writeFile('/tls.bin', data);
    expect(Buffer.from(await client.readFile('/tls.bin')).equals(data)).toBe(true);
    await client.writeFile('/hello.txt', Buffer.from('over TLS\n'));

    const withCa = cli(['cat', '/hello.txt'], { SPINDLE_TLS_CA: ca.caPath });
    expect(withCa.status, withCa.stderr).toBe(0);
    expect(withCa.stdout).toBe('over TLS\n');
    // No deprecation noise on stderr from dialing an IP address over TLS.
    expect(withCa.stderr).not.toMatch(/DeprecationWarning/);
    // The flag does the same as the variable.
    const withFlag = cli(['--tls-ca', ca.caPath, 'cat', '/hello.txt'], {});
    expect(withFlag.status, withFlag.stderr).toBe(0);
    expect(withFlag.stdout).toBe('over TLS\n');
  });

  it('a client without the CA, or trusting another CA, fails with a message naming --tls-ca', () => {
    const plain = cli(['cat', '/hello.txt'], {});
    expect(plain.status).not.toBe(0);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toMatch(/if the cluster uses TLS, give its CA with --tls-ca/);

    const stranger = cli(['cat', '/hello.txt'], { SPINDLE_TLS_CA: ca.otherCaPath });
    expect(stranger.status).not.toBe(0);
    expect(stranger.stdout).toBe('');
    expect(stranger.stderr).toMatch(/certificate is not trusted: give the CA .* --tls-ca/);
  });
});
