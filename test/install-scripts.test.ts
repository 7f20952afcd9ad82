// Every dependency with an install script is approved in package.json `allowScripts`. npm 11 warns
// on each install about scripts not covered there (and a future strict-allow-scripts default would
// skip them: lmdb and esbuild would then have no native binary). The lock file records which
// packages have install scripts, so a new dependency with one fails here until it is reviewed
// and approved (`npm install-scripts approve <pkg>`).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const readJson = (name: string) => JSON.parse(readFileSync(new URL(name, root), 'utf8')) as Record<string, any>;

describe('install scripts', () => {
  it('every locked package with an install script is approved in allowScripts', () => {
    const lock = readJson('package-lock.json');
    const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([path, entry]) => path !== '' && entry.hasInstallScript === true)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts.length).toBeGreaterThan(0);
    const allowed = (readJson('package.json').allowScripts ?? {}) as Record<string, unknown>;
    const unapproved = [...new Set(withScripts)].filter((name) => allowed[name] !== true);
    expect(unapproved).toEqual([]);
  });
});
