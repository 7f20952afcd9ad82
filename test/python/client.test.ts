// The spindle package without an agent (test/python/client_checks.py with the venv's python): bad
// arguments and a missing agent address are refused before any call, naming what is wrong; no
// agent at the address is UNAVAILABLE saying how to start one; RANK / WORLD_SIZE give the placement.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { requireVenvPython } from './venv.js';

describe('spindle (Python) without an agent', () => {
  it('refuses bad arguments clearly and says how to start a missing agent', async () => {
    const python = requireVenvPython();
    const { RANK: _rank, WORLD_SIZE: _world, ...env } = process.env;
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        python,
        [join(PACKAGE_ROOT, 'test', 'python', 'client_checks.py')],
        { cwd: PACKAGE_ROOT, env: { ...env, PYTHONPATH: join(PACKAGE_ROOT, 'python') }, timeout: 45_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect({ code: result.code, stdout: result.stdout }, result.stderr).toEqual({ code: 0, stdout: 'ok\n' });
  });
});
