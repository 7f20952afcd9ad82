// Vitest global setup: compiles the package (`tsc -p tsconfig.build.json` → dist/) once before any
// test runs, because every server, CLI and bench worker a test starts runs the compiled JS, and a
// dist/ older than the sources would test yesterday's code. About two seconds with the native
// compiler. tsc emits even when it finds type errors; those are reported here and fail the suite
// through test/repo/typecheck.test.ts, while the tests still run on what was emitted.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../common/package-root.js';

export default function buildDist(): void {
  const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: PACKAGE_ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    process.stderr.write(`build-dist: tsc reported errors (dist/ emitted anyway):\n${result.stdout}${result.stderr}\n`);
  }
}
