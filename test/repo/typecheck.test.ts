// The whole tree type-checks (`npm run typecheck`): the global setup's build emits JS even with type
// errors so that the other tests can run, and this test is where those errors fail the suite.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';

const run = promisify(execFile);

it('tsc --noEmit finds no type error', async () => {
  const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const output = await run(process.execPath, [tsc, '--noEmit', '-p', '.'], {
    cwd: PACKAGE_ROOT,
    maxBuffer: 64 << 20,
  }).then(
    () => '',
    (err: { stdout?: string }) => err.stdout ?? String(err),
  );
  expect(output).toBe('');
});
