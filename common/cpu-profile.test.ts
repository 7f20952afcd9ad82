import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CPU_PROFILE_DIR_ENV } from './cpu-profile.js';
import { PACKAGE_ROOT } from './package-root.js';

const dir = mkdtempSync(join(tmpdir(), 'spindle-cpu-profile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The script of a process that calls startCpuProfileFromEnv('probe') (compiled module), spins a
 * little, then runs `after` (e.g. a chdir) before it exits.
 */
function probeScript(after = ''): string {
  const module = pathToFileURL(join(PACKAGE_ROOT, 'dist', 'common', 'cpu-profile.js')).href;
  return `import { startCpuProfileFromEnv } from '${module}';
    const started = startCpuProfileFromEnv('probe');
    let x = 0; for (let i = 0; i < 5e6; i++) x += i;
    ${after}
    console.log(JSON.stringify({ started, pid: process.pid }));`;
}

function runProbe(env: NodeJS.ProcessEnv, options: { cwd?: string; after?: string } = {}): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', probeScript(options.after)], {
    env,
    cwd: options.cwd,
    encoding: 'utf8',
  });
}

function expectProfile(file: string): void {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  expect(profile.nodes.length).toBeGreaterThan(0);
  expect(profile.samples.length).toBeGreaterThan(0);
}

describe('startCpuProfileFromEnv', () => {
  it(`writes <name>-<pid>.cpuprofile into ${CPU_PROFILE_DIR_ENV} at exit`, () => {
    const out = join(dir, 'absolute');
    mkdirSync(out);
    const { started, pid } = JSON.parse(runProbe({ ...process.env, [CPU_PROFILE_DIR_ENV]: out }));
    expect(started).toBe(true);
    expect(readdirSync(out)).toEqual([`probe-${pid}.cpuprofile`]);
    expectProfile(join(out, `probe-${pid}.cpuprofile`));
  });

  it('takes a relative directory from the cwd at start and creates it, also if the process moves on', () => {
    const start = join(dir, 'start');
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(start);
    mkdirSync(elsewhere);
    const after = `process.chdir(${JSON.stringify(elsewhere)});`;
    const env = { ...process.env, [CPU_PROFILE_DIR_ENV]: 'profiles/run-1' };
    const { started, pid } = JSON.parse(runProbe(env, { cwd: start, after }));
    expect(started).toBe(true);
    expectProfile(join(start, 'profiles', 'run-1', `probe-${pid}.cpuprofile`));
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('refuses at start, with a clear error, a directory that cannot be created', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const env = { ...process.env, [CPU_PROFILE_DIR_ENV]: join(file, 'profiles') };
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', probeScript()], { env, encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`${CPU_PROFILE_DIR_ENV}=${join(file, 'profiles')}: cannot create`);
  });

  it('does nothing when the variable is unset', () => {
    const env = { ...process.env };
    delete env[CPU_PROFILE_DIR_ENV];
    expect(JSON.parse(runProbe(env)).started).toBe(false);
  });
});
