// Fails when the committed ts-proto output no longer matches proto/*.proto.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

describe('proto/gen', () => {
  const fresh = mkdtempSync(join(tmpdir(), 'spindle-proto-'));
  afterAll(() => rmSync(fresh, { recursive: true, force: true }));

  it('matches a fresh generation from proto/*.proto (run `npm run proto:gen` if not)', () => {
    execFileSync(process.execPath, [join(root, 'scripts', 'proto-gen.mjs'), '--out', fresh], { stdio: 'pipe' });
    const committedDir = join(root, 'proto', 'gen');
    const freshFiles = readdirSync(fresh).sort();
    expect(readdirSync(committedDir).sort()).toEqual(freshFiles);
    for (const file of freshFiles) {
      const committed = readFileSync(join(committedDir, file), 'utf8');
      expect(committed, `proto/gen/${file} is stale: run npm run proto:gen`).toBe(
        readFileSync(join(fresh, file), 'utf8'),
      );
    }
  });
});
