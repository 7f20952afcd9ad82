import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CPU_PROFILE_DIR_ENV } from './cpu-profile.js';
import { PACKAGE_ROOT } from './package-root.js';

const dir = mkdtempSync(join(tmpdir(), 'spindle-cpu-profile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a process that calls startCpuProfileFromEnv('probe') (compiled module) and spins a little. */
function runProbe(env: NodeJS.ProcessEnv): string {
  const module = pathToFileURL(join(PACKAGE_ROOT, 'dist', 'common', 'cpu-profile.js')).href;
  const script = `import { startCpuProfileFromEnv } from '${module}';
    const started = startCpuProfileFromEnv('probe');
    let x = 0; for (let i = 0; i < 5e6; i++) x += i;
    console.log(JSON.stringify({ started, pid: process.pid }));`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
}

describe('startCpuProfileFromEnv', () => {
  it(`writes <name>-<pid>.cpuprofile into ${CPU_PROFILE_DIR_ENV} at exit`, () => {
    const { started, pid } = JSON.parse(runProbe({ ...process.env, [CPU_PROFILE_DIR_ENV]: dir }));
    expect(started).toBe(true);
    expect(readdirSync(dir)).toEqual([`probe-${pid}.cpuprofile`]);
    const profile = JSON.parse(readFileSync(join(dir, `probe-${pid}.cpuprofile`), 'utf8'));
    expect(profile.nodes.length).toBeGreaterThan(0);
    expect(profile.samples.length).toBeGreaterThan(0);
  });

  it('does nothing when the variable is unset', () => {
    const env = { ...process.env };
    delete env[CPU_PROFILE_DIR_ENV];
    expect(JSON.parse(runProbe(env)).started).toBe(false);
  });
});
