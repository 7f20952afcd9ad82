// How entries run: production entries as compiled dist/ JS (never tsx), test fixtures through tsx,
// and a missing build as a clear error before anything is spawned.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { entryArgv, entryScript, REPO_ROOT } from './entries.js';
import { NODE_FLAGS } from './server-env.js';

describe('entries', () => {
  it('runs a production entry as its compiled dist/ file, with the V8 flags first', () => {
    expect(entryScript('meta/main.ts')).toEqual([join(REPO_ROOT, 'dist', 'meta', 'main.js')]);
    expect(entryArgv('storage/main.ts', ['--port', '0'])).toEqual([
      ...NODE_FLAGS,
      join(REPO_ROOT, 'dist', 'storage', 'main.js'),
      '--port',
      '0',
    ]);
  });

  it('runs a test fixture from source through tsx, found from any cwd', () => {
    const [flag, loader, script] = entryScript('test/fixtures/cli-fake-meta.ts');
    expect(flag).toBe('--import');
    expect(loader).toMatch(/^file:\/\/.*tsx/);
    expect(script).toBe(join(REPO_ROOT, 'test', 'fixtures', 'cli-fake-meta.ts'));
  });

  it('refuses an entry that was not built, saying how to build it', () => {
    let err: unknown;
    try {
      entryScript('meta/no-such-entry.ts');
    } catch (caught) {
      err = caught;
    }
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((err as SpindleError).message).toContain('dist/meta/no-such-entry.js is missing: run `npm run build`');
  });
});
