// `spindle doctor --json` through the real entry (bin/spindle.mjs): the report's fields, the
// exit-code contract (0 exactly when every check `spindle up` needs is ok), and a broken
// requirement (an unknown SPINDLE_BLOCK_IO) turning the exit code non-zero with a fix.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorReport } from './doctor-command.js';
import { ExitCode } from './exit-codes.js';
import { PACKAGE_ROOT } from '../common/package-root.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'spindle.mjs');

function doctor(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; report: DoctorReport; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, 'doctor', '--json', ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      try {
        resolve({ code, report: JSON.parse(stdout) as DoctorReport, stderr });
      } catch {
        reject(new Error(`doctor printed no JSON (exit ${code}): ${stdout}\n${stderr}`));
      }
    });
  });
}

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'spindle-doctor-test-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('spindle doctor --json', () => {
  it('reports every check with a status, whether up needs it, and a fix when not ok', async () => {
    const { code, report } = await doctor(['--data-dir', dataDir]);
    expect(report.probeDir).toBe(dataDir);
    const names = report.checks.map((c) => c.name);
    expect(names).toEqual([
      'node',
      'npm-deps',
      'data-dir',
      'uring-addon',
      'o-direct',
      'io-uring',
      'block-io',
      'fuse-addon',
      'dev-fuse',
      'fusermount3',
      'crc32c',
      'malloc',
      'etcd',
    ]);
    for (const c of report.checks) {
      expect(['ok', 'missing', 'warn', 'info']).toContain(c.status);
      expect(typeof c.detail).toBe('string');
      if (c.status === 'missing' || c.status === 'warn') expect(c.fix).not.toBe('');
    }
    const byName = new Map(report.checks.map((c) => [c.name, c]));
    expect(byName.get('node')).toMatchObject({ status: 'ok', required: true });
    expect(byName.get('data-dir')).toMatchObject({ status: 'ok', required: true });
    expect(byName.get('fuse-addon')!.required).toBe(false);
    expect(byName.get('etcd')!.status).toBe('info');
    // setup.sh builds native/crc32c; the row says which implementation checksums use.
    expect(byName.get('crc32c')!.detail).toMatch(/SSE4\.2|node-rs/);
    // The block I/O backend a storage node would choose, and it agrees with the io_uring probe.
    expect(report.blockIo).toBeDefined();
    expect(byName.get('block-io')!.detail).toContain(`would use ${report.blockIo!.kind}`);
    expect(report.blockIo!.kind).toBe(byName.get('io-uring')!.status === 'ok' ? 'uring' : 'fs');
    // The exit code follows the required checks.
    const requiredOk = report.checks.every((c) => !c.required || c.status === 'ok');
    expect(report.ok).toBe(requiredOk);
    expect(code).toBe(requiredOk ? ExitCode.OK : ExitCode.FAILURE);
    // The probes left nothing behind.
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('forced fs is reported as the choice; an unknown SPINDLE_BLOCK_IO fails the required block-io check', async () => {
    const forced = await doctor(['--data-dir', dataDir], { ...process.env, SPINDLE_BLOCK_IO: 'fs' });
    expect(forced.report.blockIo).toEqual({ kind: 'fs', reason: 'fs asked for (SPINDLE_BLOCK_IO=fs)' });
    const bad = await doctor(['--data-dir', dataDir], { ...process.env, SPINDLE_BLOCK_IO: 'spdk' });
    expect(bad.code).toBe(ExitCode.FAILURE);
    expect(bad.report.ok).toBe(false);
    expect(bad.report.blockIo).toBeUndefined();
    expect(bad.report.checks.find((c) => c.name === 'block-io')).toMatchObject({
      status: 'missing',
      required: true,
      fix: expect.stringContaining('SPINDLE_BLOCK_IO'),
    });
  });
});
