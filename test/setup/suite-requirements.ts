// Whole suites that need something this machine may lack (FUSE, root, network namespaces) say so
// through here instead of skipping silently: outside CI the skip is reported on stderr; in CI
// (CI=true) a skip fails the run with the reason unless it is allowed by name in
// SPINDLE_ALLOW_SKIP (a comma-separated list, e.g. SPINDLE_ALLOW_SKIP=fuse,netns), since a suite
// that silently stops running hides a broken feature.
import { it } from 'vitest';

/** What a suite may need. */
export type SuiteRequirement = 'fuse' | 'root' | 'netns';

/** The names SPINDLE_ALLOW_SKIP allows to skip in CI. */
function allowedSkips(env: NodeJS.ProcessEnv): Set<string> {
  return new Set(
    (env.SPINDLE_ALLOW_SKIP ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== ''),
  );
}

/**
 * Call at a suite file's top level: true when the suite must be skipped (`describe.skipIf(...)`).
 * `missing` is why it cannot run here, or undefined when it can. A skip that CI does not allow
 * registers a failing test that names the reason and the switch that would allow it.
 */
export function skipUnlessAvailable(
  requirement: SuiteRequirement,
  missing: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (missing === undefined) return false;
  if (env.CI === 'true' && !allowedSkips(env).has(requirement)) {
    it(`needs ${requirement}, which CI must provide`, () => {
      throw new Error(
        `this suite cannot run here: ${missing}. In CI a skipped suite fails; ` +
          `set SPINDLE_ALLOW_SKIP=${requirement} to allow skipping it`,
      );
    });
  } else {
    console.warn(`suite skipped (needs ${requirement}): ${missing}`);
  }
  return true;
}
