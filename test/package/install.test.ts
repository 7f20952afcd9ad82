// Spindle as a package a trainer's repository installs: `npm pack` of this checkout, installed into
// an empty project outside the repository. Everything then runs from the installed copy, as a user's
// would: `spindle up` from its bin starts meta and storage from its compiled dist/ (no native addons:
// the pure-JS fallbacks), a plain ESM script (no tsx, no TypeScript) imports SpindleClient from
// 'spindle' and round-trips a file, and the bin's file commands and typed errors work against it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';

const run = promisify(execFile);
const NPM_TIMEOUT_MS = 240_000;
const UP_READY_TIMEOUT_MS = 90_000;

const ROUND_TRIP_SCRIPT = `
import { SpindleClient, SpindleError, ErrorCode } from 'spindle';
import { createRequire } from 'node:module';

const client = await SpindleClient.connect({ meta: process.env.SPINDLE_META });
try {
  const body = Buffer.alloc(3 << 20, 'spindle-package-');
  await client.mkdir('/pkg', { recursive: true });
  await client.writeFile('/pkg/hello.bin', body);
  const back = await client.readFile('/pkg/hello.bin');
  const stat = await client.stat('/pkg/hello.bin');
  const names = await client.readdir('/pkg');
  const missing = await client.stat('/pkg/nope').catch((err) => err);
  // Where 'spindle' resolved from: the installed copy, never the checkout.
  const resolved = createRequire(import.meta.url).resolve('spindle');
  console.log(JSON.stringify({
    same: back.equals(body), size: stat.size, names, resolved,
    missing: {
      typed: missing instanceof SpindleError,
      notFound: missing.errorCode === ErrorCode.NOT_FOUND,
      code: missing.code,
    },
  }));
} finally {
  await client.close();
}
`;

describe('the npm package, installed outside the repository', () => {
  let work: string;
  let app: string;
  let bin: string;
  let meta: string;
  let up: ChildProcess | undefined;

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
    bin = join(app, 'node_modules', '.bin', 'spindle');
    // A cluster started by the installed package itself, in the user's project.
    up = spawn(bin, ['up', '--port', '0', '--data-dir', join(work, 'data')], {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    up.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const firstLine = new Promise<string>((resolve, reject) => {
      createInterface({ input: up!.stdout! }).once('line', resolve);
      up!.once('exit', (code) => reject(new Error(`spindle up exited ${code} before it was ready: ${stderr}`)));
      setTimeout(() => reject(new Error(`spindle up not ready in time: ${stderr}`)), UP_READY_TIMEOUT_MS).unref();
    });
    meta = (JSON.parse(await firstLine) as { meta: string }).meta;
  }, NPM_TIMEOUT_MS + UP_READY_TIMEOUT_MS);

  afterAll(async () => {
    if (up?.pid !== undefined && up.exitCode === null) {
      const exited = new Promise((resolve) => up!.once('exit', resolve));
      up.kill('SIGTERM');
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('ships compiled JS with a source behind every module, declarations and the bin; no tests', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PACKAGE_ROOT });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/client/index.js');
    expect(files).toContain('dist/client/index.d.ts');
    expect(files).toContain('dist/meta/main.js');
    expect(files).toContain('bin/spindle.mjs');
    expect(files).toContain('proto/meta.proto');
    expect(files.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((path) => /\.test\.|\/testing\//.test(path))).toEqual([]);
    // No leftovers of modules that no longer exist (a stale dist/ must not ship).
    const orphans = files
      .filter((path) => path.startsWith('dist/') && path.endsWith('.js'))
      .filter((path) => !existsSync(join(PACKAGE_ROOT, path.slice('dist/'.length).replace(/\.js$/, '.ts'))));
    expect(orphans).toEqual([]);
  });

  it('its servers run from the installed copy', async () => {
    const { stdout } = await run('ps', ['-o', 'args=', '--ppid', String(up!.pid)]);
    const servers = stdout.split('\n').filter((line) => /\/main\.js/.test(line));
    expect(servers.length).toBe(4); // meta + 3 storage nodes
    for (const line of servers) expect(line).toContain(join(app, 'node_modules', 'spindle', 'dist'));
  });

  it('a plain ESM script imports SpindleClient from "spindle" and round-trips a file, with typed errors', async () => {
    writeFileSync(join(app, 'round-trip.mjs'), ROUND_TRIP_SCRIPT);
    const { stdout } = await run(process.execPath, ['round-trip.mjs'], {
      cwd: app,
      env: { ...process.env, SPINDLE_META: meta },
      timeout: 60_000,
    });
    expect(JSON.parse(stdout.trim())).toEqual({
      same: true,
      size: 3 << 20,
      names: ['hello.bin'],
      resolved: join(app, 'node_modules', 'spindle', 'dist', 'client', 'index.js'),
      missing: { typed: true, notFound: true, code: 'ENOENT' },
    });
  });

  it('the installed bin runs the compiled CLI: --version, mkdir, ls', async () => {
    const env = { ...process.env, SPINDLE_META: meta };
    const { stdout: version } = await run(bin, ['--version'], { cwd: app });
    expect(version.trim()).toMatch(/^\d+\.\d+\.\d+/);
    await run(bin, ['mkdir', '-p', '/from-bin/dir'], { cwd: app, env, timeout: 60_000 });
    const { stdout } = await run(bin, ['ls', '/from-bin'], { cwd: app, env, timeout: 60_000 });
    expect(stdout.trim().split('\n')).toEqual(['dir']);
  });
});
