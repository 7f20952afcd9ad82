// The habits every file keeps, checked on the whole tree: Biome's formatter and linter agree with
// every file (`npx biome check --write .` fixes most), no line of code is over 120 columns (the
// formatter cannot break a long string or comment), and nothing points at notes outside the
// repository — the project explains itself (README.md, CONTRIBUTING.md, docs/).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';

const run = promisify(execFile);
const LINE_COLUMNS_MAX = 120;

/** Files git tracks (or would: untracked but not ignored) whose names match `patterns`. */
async function trackedFiles(patterns: string[]): Promise<string[]> {
  const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', ...patterns], {
    cwd: PACKAGE_ROOT,
    maxBuffer: 64 << 20,
  });
  return stdout.split('\n').filter((path) => path !== '' && !path.startsWith('proto/gen/'));
}

describe('repository habits', () => {
  it('biome check (format + lint) passes on every file', async () => {
    const biome = join(PACKAGE_ROOT, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');
    const result = await run(process.execPath, [biome, 'ci', '--colors=off', '--max-diagnostics=20', '.'], {
      cwd: PACKAGE_ROOT,
      maxBuffer: 64 << 20,
    }).then(
      () => ({ ok: true, output: '' }),
      (err: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    expect(result.output, 'run `npx biome check --write .` and fix what remains').toBe('');
    expect(result.ok).toBe(true);
  });

  it(`no line of code is longer than ${LINE_COLUMNS_MAX} columns`, async () => {
    const long: string[] = [];
    for (const path of await trackedFiles(['*.ts', '*.mjs', '*.cjs', '*.cc', '*.sh'])) {
      readFileSync(join(PACKAGE_ROOT, path), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (line.length > LINE_COLUMNS_MAX) long.push(`${path}:${i + 1} (${line.length})`);
        });
    }
    expect(long).toEqual([]);
  });

  it('nothing points outside the repository (../shared, research notes)', async () => {
    const outside = /\.\.\/shared|shared\/(DESIGN|CONVENTIONS|research)|research\/[a-z0-9-]+\.md/;
    const found: string[] = [];
    for (const path of await trackedFiles([
      '*.ts',
      '*.md',
      '*.mjs',
      '*.cjs',
      '*.proto',
      '*.sh',
      '*.json',
      '.ci/*',
      'bin/*',
    ])) {
      if (path === 'test/repo/format.test.ts') continue; // the pattern above
      readFileSync(join(PACKAGE_ROOT, path), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (outside.test(line)) found.push(`${path}:${i + 1}`);
        });
    }
    expect(found).toEqual([]);
  });
});
