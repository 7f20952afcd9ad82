// The checkout's Python venv (.venv, made by scripts/setup.sh) for the tests in test/python: its
// interpreter, or a failure that says how to make it — these tests never skip.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../common/package-root.js';

/** The venv's python; throws (failing the test) when the venv is missing. */
export function requireVenvPython(): string {
  const python = join(PACKAGE_ROOT, '.venv', 'bin', 'python');
  if (!existsSync(python)) {
    throw new Error(`${python} is missing: run scripts/setup.sh (it makes the Python venv the Python tests use)`);
  }
  return python;
}
