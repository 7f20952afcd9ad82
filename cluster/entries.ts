// How a process entry of this package is run: which file node executes and with which flags.
//
// Guarantees: an entry is named by its TypeScript source path. A production entry, relative to the
// package root (`meta/main.ts`, `storage/main.ts`, `bench/worker.ts`, …), runs as its compiled
// `dist/<entry>.js`, so no server compiles TypeScript at start; test fixtures — a `.ts` file under
// `test/` (not part of the build) or given by an absolute path — run from source through tsx, a
// dev dependency. Anything else is refused (INVALID_ARGUMENT). An entry that cannot run — a
// missing build, a missing file, no tsx — is a SERVICE_START_FAILED error saying what to do, raised
// before anything is spawned. Every entry gets NODE_FLAGS. Children run with the package root as
// their cwd, so relative entries and data paths mean the same for every caller.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { NODE_FLAGS } from './server-env.js';

/** Process entries: source paths relative to the package root, or test fixtures (tests point them at fakes). */
export interface ServiceEntries {
  meta: string;
  storage: string;
}
export const DEFAULT_ENTRIES: ServiceEntries = { meta: 'meta/main.ts', storage: 'storage/main.ts' };

/** What an entry may be, for the messages that refuse one. */
const ENTRY_FORMS =
  'an entry is a source path ending in .ts: relative to the package root for a production entry ' +
  '(e.g. meta/main.ts, run as dist/meta/main.js), or a test fixture under test/ or by absolute path (run through tsx)';

function refused(entry: string, why: string): SpindleError {
  return new SpindleError(
    ErrorCode.INVALID_ARGUMENT,
    `cannot run entry ${JSON.stringify(entry)}: ${why}; ${ENTRY_FORMS}`,
  );
}

function cannotStart(message: string, cause?: unknown): SpindleError {
  return new SpindleError(ErrorCode.SERVICE_START_FAILED, message, { cause });
}

/** Absolute `file:` URL of tsx's loader (a dev dependency), so children find it whatever their cwd. */
function tsxLoaderUrl(entry: string): string {
  const require = createRequire(join(PACKAGE_ROOT, 'package.json'));
  let loader: string;
  try {
    loader = require.resolve('tsx');
  } catch (err) {
    throw cannotStart(
      `${entry} runs from source through tsx, a dev dependency that cannot be found from ${PACKAGE_ROOT}: ` +
        'test fixtures need a checkout with its dev dependencies installed (`npm install`)',
      err,
    );
  }
  return pathToFileURL(loader).href;
}

/** Node arguments that run a test fixture from source through tsx. */
function fixtureScript(entry: string): string[] {
  const source = resolve(PACKAGE_ROOT, entry);
  if (!existsSync(source)) throw cannotStart(`${source} does not exist: cannot run entry ${entry}`);
  return ['--import', tsxLoaderUrl(entry), source];
}

/**
 * The node arguments that run `entry` (see the file comment): `[dist/meta/main.js]` for
 * `meta/main.ts`, `['--import', <tsx loader>, <absolute source>]` for a test fixture.
 */
export function entryScript(entry: string): string[] {
  if (!entry.endsWith('.ts')) throw refused(entry, 'it does not end in .ts');
  if (isAbsolute(entry)) return fixtureScript(entry);
  const relative = normalize(entry);
  if (relative === '..' || relative.startsWith('../')) throw refused(entry, 'it is outside the package');
  if (relative.startsWith('test/')) return fixtureScript(relative);
  if (relative.startsWith('dist/')) throw refused(entry, 'name the source file, not the build output');
  const compiled = join(PACKAGE_ROOT, 'dist', `${relative.slice(0, -'.ts'.length)}.js`);
  if (existsSync(compiled)) return [compiled];
  const source = join(PACKAGE_ROOT, relative);
  if (existsSync(source)) {
    throw cannotStart(`${compiled} is missing: run \`npm run build\` in ${PACKAGE_ROOT} first, then start again`);
  }
  throw cannotStart(`no entry ${entry} in ${PACKAGE_ROOT}: neither ${source} nor its build ${compiled} exists`);
}

/** argv (after `node`) that runs an entry of this package (with NODE_FLAGS); see entryScript. */
export function entryArgv(entry: string, flags: readonly string[]): string[] {
  return [...NODE_FLAGS, ...entryScript(entry), ...flags];
}
