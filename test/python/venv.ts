// The checkout's Python venv (.venv, made by scripts/setup.sh) for the tests in test/python: its
// interpreter, or a failure that says how to make it — these tests never skip. The venv counts as
// ready when setup.sh recorded installing exactly the pins of python/requirements-dev.txt.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../common/package-root.js';

/** The venv's python; throws (failing the test) when the venv is missing or not up to date. */
export function requireVenvPython(): string {
  const venv = join(PACKAGE_ROOT, '.venv');
  const python = join(venv, 'bin', 'python');
  if (!existsSync(python)) {
    throw new Error(`${python} is missing: run scripts/setup.sh (it makes the Python venv the Python tests use)`);
  }
  const installed = join(venv, 'installed-requirements.txt');
  const pins = readFileSync(join(PACKAGE_ROOT, 'python', 'requirements-dev.txt'), 'utf8');
  if (!existsSync(installed) || readFileSync(installed, 'utf8') !== pins) {
    throw new Error(
      `${venv} does not have the packages of python/requirements-dev.txt installed: run scripts/setup.sh ` +
        '(and see its warnings if pip failed)',
    );
  }
  return python;
}
