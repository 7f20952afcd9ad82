// Where Spindle's own files are, whether this module runs from the TypeScript sources (tests,
// `tsc --noEmit`), from the compiled `dist/` of a checkout, or from an installed package under
// node_modules: the nearest folder above this file that holds Spindle's package.json. Native
// addons (`native/*/build`) and compiled entry points (`dist/<module>.js`) are found from it.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
      if (name === 'spindle') return dir;
    }
    if (dirname(dir) === dir) throw new Error(`no Spindle package.json above ${start}`);
  }
}

/** Absolute path of the Spindle package (the repository root in a checkout). */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** Absolute path of a built native addon: `native/<dir>/build/Release/spindle_<dir>.node`. */
export function nativeAddonPath(dir: 'crc32c' | 'fuse' | 'uring'): string {
  return join(PACKAGE_ROOT, 'native', dir, 'build', 'Release', `spindle_${dir}.node`);
}
