// How a process entry of this package is run: which file node executes and with which flags.
//
// Guarantees: a production entry (`meta/main.ts`, `storage/main.ts`, `bench/worker.ts`, …) runs
// as its compiled `dist/<entry>.js`, so no server compiles TypeScript at start, and a missing
// build is a clear error before anything is spawned; test fixtures (under `test/`, not part of the
// build) run from source through tsx. Every entry gets NODE_FLAGS. Children run with the package
// root as their cwd, so relative entries and data paths mean the same for every caller.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { NODE_FLAGS } from './server-env.js';

/** The Spindle package (the repository root in a checkout): children run with it as their cwd. */
export const REPO_ROOT = PACKAGE_ROOT;

/** Process entries, relative to the repository root (tests may point them at fakes). */
export interface ServiceEntries {
  meta: string;
  storage: string;
}
export const DEFAULT_ENTRIES: ServiceEntries = { meta: 'meta/main.ts', storage: 'storage/main.ts' };

/** Absolute `file:` URL of tsx's loader (a dev dependency), so children find it whatever their cwd. */
function tsxLoaderUrl(): string {
  const require = createRequire(join(PACKAGE_ROOT, 'package.json'));
  return pathToFileURL(require.resolve('tsx')).href;
}

/**
 * The node arguments that run `entry` (a source path such as `meta/main.ts`): the compiled
 * `dist/meta/main.js` of the package, or, for a test fixture under `test/`, the source through tsx.
 */
export function entryScript(entry: string): string[] {
  if (entry.startsWith('test/')) return ['--import', tsxLoaderUrl(), resolve(PACKAGE_ROOT, entry)];
  const compiled = join(PACKAGE_ROOT, 'dist', entry.replace(/\.ts$/, '.js'));
  if (!existsSync(compiled)) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${compiled} is missing: run \`npm run build\` in ${PACKAGE_ROOT} first, then start again`,
    );
  }
  return [compiled];
}

/** argv (after `node`) that runs an entry of this package (with NODE_FLAGS); see entryScript. */
export function entryArgv(entry: string, flags: readonly string[]): string[] {
  return [...NODE_FLAGS, ...entryScript(entry), ...flags];
}
