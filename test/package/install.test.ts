// Spindle as a package a trainer's repository installs: `npm pack` of this checkout, installed into
// an empty project outside the repository, used from plain ESM JavaScript (no tsx, no TypeScript)
// through the package name, against a real cluster: a write, a read-back, a stat and a listing.
// Also checks the installed `spindle` bin runs the compiled CLI and that only the client library is
// the package's main export (the servers are not pulled in by `import 'spindle'`).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { startCluster, type TestCluster } from '../harness/cluster.js';

const run = promisify(execFile);
const NPM_TIMEOUT_MS = 240_000;

const ROUND_TRIP_SCRIPT = `
import { SpindleClient } from 'spindle';
import { createRequire } from 'node:module';

const client = await SpindleClient.connect({ meta: process.env.SPINDLE_META });
try {
  const body = Buffer.alloc(3 << 20, 'spindle-package-');
  await client.mkdir('/pkg', { recursive: true });
  await client.writeFile('/pkg/hello.bin', body);
  const back = await client.readFile('/pkg/hello.bin');
  const stat = await client.stat('/pkg/hello.bin');
  const names = await client.readdir('/pkg');
  // Where 'spindle' resolved from: the installed copy, never the checkout.
  const resolved = createRequire(import.meta.url).resolve('spindle');
  console.log(JSON.stringify({ same: back.equals(body), size: stat.size, names, resolved }));
} finally {
  await client.close();
}
`;

describe('the npm package', () => {
  let work: string;
  let app: string;
  let cluster: TestCluster | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'spindle-package-'));
    // dist/ was built by the global setup; packing again must not rebuild it under other tests.
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: PACKAGE_ROOT });
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    if (tarball === undefined) throw new Error(`npm pack wrote no tarball into ${work}`);
    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'trainer', private: true, type: 'module' }));
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(work, tarball)],
      { cwd: app, timeout: NPM_TIMEOUT_MS },
    );
    cluster = await startCluster();
  }, NPM_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('ships compiled JS, type declarations and the bin, but no TypeScript sources or tests', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PACKAGE_ROOT });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/client/index.js');
    expect(files).toContain('dist/client/index.d.ts');
    expect(files).toContain('dist/meta/main.js');
    expect(files).toContain('bin/spindle.mjs');
    expect(files.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((path) => /\.test\.|\/testing\//.test(path))).toEqual([]);
  });

  it('a plain ESM script outside the repo imports SpindleClient from "spindle" and round-trips a file', async () => {
    writeFileSync(join(app, 'round-trip.mjs'), ROUND_TRIP_SCRIPT);
    const { stdout } = await run(process.execPath, ['round-trip.mjs'], {
      cwd: app,
      env: { ...process.env, SPINDLE_META: cluster!.metaAddress },
      timeout: 60_000,
    });
    const result = JSON.parse(stdout.trim()) as { same: boolean; size: number; names: string[]; resolved: string };
    expect(result).toMatchObject({ same: true, size: 3 << 20, names: ['hello.bin'] });
    expect(result.resolved).toBe(join(app, 'node_modules', 'spindle', 'dist', 'client', 'index.js'));
  });

  it('the installed spindle bin runs the compiled CLI', async () => {
    const { stdout } = await run(join(app, 'node_modules', '.bin', 'spindle'), ['ls', '/pkg'], {
      cwd: app,
      env: { ...process.env, SPINDLE_META: cluster!.metaAddress },
      timeout: 60_000,
    });
    expect(stdout.trim().split('\n')).toContain('hello.bin');
  });
});
