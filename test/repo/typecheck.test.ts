// The whole tree type-checks (`npm run typecheck`): the global setup's build emits JS even with type
// errors so that the other tests can run, and this test is where those errors fail the suite. tsc
// prints type errors on stdout; a crash (or no tsc at all) prints on stderr or nothing: the test
// wants no output on either and exit code 0, so none of them passes.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';

const run = promisify(execFile);

it('tsc --noEmit finds no type error', async () => {
  const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, '--noEmit', '-p', '.'], {
    cwd: PACKAGE_ROOT,
    maxBuffer: 64 << 20,
  }).then(
    ({ stdout, stderr }) => ({ code: 0 as unknown, output: `${stdout}${stderr}` }),
    (err: { code?: unknown; stdout?: string; stderr?: string; message?: string }) => ({
      code: err.code,
      output: `${err.stdout ?? ''}${err.stderr ?? ''}` || (err.message ?? String(err)),
    }),
  );
  expect(result.output, 'run `npm run typecheck` for the errors').toBe('');
  expect(result.code, 'tsc exit code').toBe(0);
});
