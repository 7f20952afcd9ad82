// Fails when the committed Python stubs (python/spindle/_proto/) no longer match proto/*.proto: a
// fresh generation with the checkout's venv (scripts/proto-gen.mjs --python-out) must be identical.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireVenvPython } from './venv.js';

const root = join(import.meta.dirname, '..', '..');

describe('python/spindle/_proto', () => {
  const fresh = mkdtempSync(join(tmpdir(), 'spindle-pyproto-'));
  afterAll(() => rmSync(fresh, { recursive: true, force: true }));

  it('matches a fresh generation from proto/*.proto (run `npm run proto:gen` if not)', () => {
    requireVenvPython();
    execFileSync(process.execPath, [join(root, 'scripts', 'proto-gen.mjs'), '--python-out', fresh], { stdio: 'pipe' });
    const committedDir = join(root, 'python', 'spindle', '_proto');
    const sources = (dir: string) => readdirSync(dir).filter((name) => name !== '__pycache__');
    const freshFiles = sources(fresh).sort();
    expect(sources(committedDir).sort()).toEqual(freshFiles);
    for (const file of freshFiles) {
      expect(
        readFileSync(join(committedDir, file), 'utf8'),
        `python/spindle/_proto/${file} is stale: run npm run proto:gen`,
      ).toBe(readFileSync(join(fresh, file), 'utf8'));
    }
  });
});
