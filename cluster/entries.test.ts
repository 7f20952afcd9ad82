// How entries run: production entries as compiled dist/ JS (never tsx), test fixtures (under test/
// or by absolute path) through tsx, anything else refused, and an entry that cannot run (no build,
// no file, no tsx) as a clear start failure before anything is spawned.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ExitCode, exitCodeFor } from '../cli/exit-codes.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { entryArgv, entryScript } from './entries.js';
import { NODE_FLAGS } from './server-env.js';

// A checkout without dev dependencies, on demand: tsx cannot be resolved.
const tsx = vi.hoisted(() => ({ missing: false }));
vi.mock('node:module', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:module')>();
  const createRequire = (from: string | URL) => {
    const require = original.createRequire(from);
    const resolveMissing = (id: string, options?: { paths?: string[] }) => {
      if (tsx.missing && id === 'tsx')
        throw Object.assign(new Error("Cannot find module 'tsx'"), { code: 'MODULE_NOT_FOUND' });
      return require.resolve(id, options);
    };
    return Object.assign(resolveMissing, require, { resolve: Object.assign(resolveMissing, require.resolve) });
  };
  return { ...original, default: { ...original, createRequire }, createRequire };
});

const dir = mkdtempSync(join(tmpdir(), 'spindle-entries-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  tsx.missing = false;
});

function thrown(run: () => unknown): SpindleError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    return err as SpindleError;
  }
  throw new Error('expected an error');
}

describe('entries', () => {
  it('runs a production entry as its compiled dist/ file, with the V8 flags first', () => {
    expect(entryScript('meta/main.ts')).toEqual([join(PACKAGE_ROOT, 'dist', 'meta', 'main.js')]);
    expect(entryScript('./bench/worker.ts')).toEqual([join(PACKAGE_ROOT, 'dist', 'bench', 'worker.js')]);
    expect(entryArgv('storage/main.ts', ['--port', '0'])).toEqual([
      ...NODE_FLAGS,
      join(PACKAGE_ROOT, 'dist', 'storage', 'main.js'),
      '--port',
      '0',
    ]);
  });

  it('runs a test fixture from source through tsx, found from any cwd', () => {
    const [flag, loader, script] = entryScript('test/fixtures/cli-fake-meta.ts');
    expect(flag).toBe('--import');
    expect(loader).toMatch(/^file:\/\/.*tsx/);
    expect(script).toBe(join(PACKAGE_ROOT, 'test', 'fixtures', 'cli-fake-meta.ts'));
    expect(entryScript('./test/fixtures/cli-fake-meta.ts')[2]).toBe(script);
  });

  it('runs a .ts file given by absolute path from source through tsx, wherever it is', () => {
    const fixture = join(dir, 'fixture.ts');
    writeFileSync(fixture, 'console.log(JSON.stringify({ pid: process.pid }));\n');
    const argv = entryArgv(fixture, ['--x']);
    expect(argv).toEqual([...NODE_FLAGS, '--import', expect.stringMatching(/^file:\/\/.*tsx/), fixture, '--x']);
    const inPackage = join(PACKAGE_ROOT, 'test', 'fixtures', 'cli-fake-storage.ts');
    expect(entryScript(inPackage)).toEqual(['--import', expect.stringMatching(/tsx/), inPackage]);
  });

  it('refuses what is not an entry, saying what one is', () => {
    for (const entry of [
      'meta/main.js',
      join(PACKAGE_ROOT, 'dist', 'meta', 'main.js'),
      '../elsewhere/main.ts',
      'meta/../../elsewhere/main.ts',
      'dist/meta/main.ts',
      '',
    ]) {
      const err = thrown(() => entryScript(entry));
      expect(err.errorCode, entry).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(err.message).toContain(`cannot run entry ${JSON.stringify(entry)}`);
      expect(err.message).toContain('a source path ending in .ts');
    }
  });

  it('a missing build is a start failure (`spindle up` exits 1) that says to run npm run build', () => {
    // bench/tools/ is left out of the build: its sources have no dist/ file.
    const err = thrown(() => entryScript('bench/tools/cli-start-up.ts'));
    expect(err.errorCode).toBe(ErrorCode.SERVICE_START_FAILED);
    expect(err.message).toBe(
      `${join(PACKAGE_ROOT, 'dist', 'bench', 'tools', 'cli-start-up.js')} is missing: ` +
        `run \`npm run build\` in ${PACKAGE_ROOT} first, then start again`,
    );
    expect(exitCodeFor(err)).toBe(ExitCode.FAILURE);
  });

  it('an entry that does not exist is a start failure naming the paths it looked for', () => {
    const relative = thrown(() => entryScript('meta/no-such-entry.ts'));
    expect(relative.errorCode).toBe(ErrorCode.SERVICE_START_FAILED);
    expect(relative.message).toContain(`no entry meta/no-such-entry.ts in ${PACKAGE_ROOT}`);
    expect(relative.message).toContain(join('dist', 'meta', 'no-such-entry.js'));
    const fixture = thrown(() => entryScript('test/fixtures/no-such-fixture.ts'));
    expect(fixture.errorCode).toBe(ErrorCode.SERVICE_START_FAILED);
    expect(fixture.message).toContain(`${join(PACKAGE_ROOT, 'test', 'fixtures', 'no-such-fixture.ts')} does not exist`);
  });

  it('without tsx, a fixture is a start failure that asks for a checkout with dev dependencies', () => {
    tsx.missing = true;
    const err = thrown(() => entryScript('test/fixtures/cli-fake-meta.ts'));
    expect(err.errorCode).toBe(ErrorCode.SERVICE_START_FAILED);
    expect(err.message).toMatch(/tsx, a dev dependency .* checkout with its dev dependencies installed/);
    // Production entries do not need it.
    expect(entryScript('meta/main.ts')).toEqual([join(PACKAGE_ROOT, 'dist', 'meta', 'main.js')]);
  });
});
