// Where Spindle's own files are, whether this module runs from the TypeScript sources (tests,
// `tsc --noEmit`), from the compiled `dist/` of a checkout, or from an installed package under
// node_modules: the nearest folder above this file that holds Spindle's package.json. Native
// addons (`native/*/build`) and compiled entry points (`dist/<module>.js`) are found from it.
// Never throws: a client bundled into another program (esbuild, ncc) has no such package.json,
// and there the folder above this file stands in — the addons it would look for are optional.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's own name, or a scoped copy of it (`@org/spindle`). */
const isSpindleManifest = (name: unknown) =>
  name === 'spindle' || (typeof name === 'string' && name.endsWith('/spindle'));

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (isSpindleManifest((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name)) return dir;
      } catch {
        // An unreadable package.json of some other package: keep looking above it.
      }
    }
    if (dirname(dir) === dir) return dirname(start);
  }
}

/** Absolute path of the Spindle package (the repository root in a checkout). */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/**
 * What to do when a native addon is missing: they are built in a checkout by scripts/setup.sh; an
 * npm-installed package ships none (its client falls back to pure JS; `spindle mount` needs one).
 */
export const BUILD_ADDONS_HINT = existsSync(join(PACKAGE_ROOT, 'scripts', 'setup.sh'))
  ? `run scripts/setup.sh in ${PACKAGE_ROOT}`
  : 'native addons are built in a Spindle checkout by scripts/setup.sh (an npm-installed package has none)';

/** Absolute path of a built native addon: `native/<dir>/build/Release/spindle_<dir>.node`. */
export function nativeAddonPath(dir: 'crc32c' | 'fuse' | 'uring'): string {
  return join(PACKAGE_ROOT, 'native', dir, 'build', 'Release', `spindle_${dir}.node`);
}
