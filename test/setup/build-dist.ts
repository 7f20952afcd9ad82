// Vitest global setup: compiles the package (`npm run build`, scripts/build.mjs → dist/) once before
// any test runs, because every server, CLI and bench worker a test starts runs the compiled JS, and a
// dist/ older than the sources would test yesterday's code. About two seconds with the native
// compiler. tsc emits even when it finds type errors; those are reported here and fail the suite
// through test/repo/typecheck.test.ts, while the tests still run on what was emitted.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../common/package-root.js';

export default function buildDist(): void {
  const build = join(PACKAGE_ROOT, 'scripts', 'build.mjs');
  const result = spawnSync(process.execPath, [build], { cwd: PACKAGE_ROOT, encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(
      `build-dist: the build reported errors (dist/ emitted anyway):\n${result.stdout}${result.stderr}\n`,
    );
  }
}
