// Nothing in the tree is unused (knip with knip.json): no file nothing reaches, no export nobody
// imports (one only its own file uses drops `export`; a module's index.ts re-exports only what
// other modules import from it), no dependency nobody loads and no binary package.json lacks.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';

const run = promisify(execFile);

it('knip finds nothing unused', async () => {
  const knip = join(PACKAGE_ROOT, 'node_modules', 'knip', 'bin', 'knip.js');
  const result = await run(process.execPath, [knip, '--no-progress'], {
    cwd: PACKAGE_ROOT,
    maxBuffer: 64 << 20,
  }).then(
    ({ stdout, stderr }) => ({ ok: true, output: `${stdout}${stderr}` }),
    (err: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
  );
  expect(result.output, 'run `npx knip` for the findings, then fix the code (see CONTRIBUTING.md)').toBe('');
  expect(result.ok).toBe(true);
});
