// The import rules of docs/architecture.md hold for the whole tree, and the checker that enforces
// them (dependency-cruiser with .dependency-cruiser.cjs) does catch a forbidden import, a cycle and
// production code that imports a test helper, planted in a scratch tree with the same rules.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';

const run = promisify(execFile);
const DEPCRUISE = join(PACKAGE_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = join(PACKAGE_ROOT, '.dependency-cruiser.cjs');
const MODULES = ['proto', 'common', 'meta', 'storage', 'client', 'mount', 'cluster', 'bench', 'cli', 'test'];

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

/** Runs dependency-cruiser with the project's rules in `cwd` over `paths`; returns its violations. */
async function violations(cwd: string, paths: string[]): Promise<Violation[]> {
  const { stdout } = await run(
    process.execPath,
    [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', '--no-progress', ...paths],
    { cwd, maxBuffer: 256 << 20 },
  ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function plant(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'spindle-layers-'));
  scratch.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const describeLine = (v: Violation) => `${v.rule.name}: ${v.from} → ${v.to}`;

describe('module layers (docs/architecture.md)', () => {
  it('no import in the tree breaks them', async () => {
    const found = await violations(PACKAGE_ROOT, MODULES);
    expect(found.map(describeLine)).toEqual([]);
  });

  it('a planted forbidden import, cycle and test-helper import are each reported', async () => {
    const root = plant({
      'client/planted.ts': "import { engine } from '../storage/engine.js';\nexport const x = engine;\n",
      'storage/engine.ts': 'export const engine = 1;\n',
      'common/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'common/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
      'meta/uses-fake.ts': "import { fake } from './testing/fake.js';\nexport const y = fake;\n",
      'meta/testing/fake.ts': 'export const fake = 2;\n',
      'meta/allowed.ts': "import { x } from '../client/planted.js';\nexport const z = x;\n",
      'storage/uses-dev-dependency.ts': "import { register } from 'tsx/esm/api';\nexport const r = register;\n",
      'package.json': JSON.stringify({ name: 'planted', devDependencies: { tsx: '*' } }),
      'node_modules/tsx/package.json': JSON.stringify({ name: 'tsx', exports: { './esm/api': './api.js' } }),
      'node_modules/tsx/api.js': 'export const register = () => {};\n',
    });
    const found = (await violations(root, ['client', 'storage', 'common', 'meta'])).map(describeLine);
    expect(found).toContain('layer-client: client/planted.ts → storage/engine.ts');
    expect(found.some((line) => line.startsWith('no-circular: common/'))).toBe(true);
    expect(found).toContain('no-test-code-in-production: meta/uses-fake.ts → meta/testing/fake.ts');
    expect(
      found.some((line) => line.startsWith('no-dev-dependencies-in-production: storage/uses-dev-dependency.ts')),
    ).toBe(true);
    // meta may import client: the table's allowed edges are not reported.
    expect(found.filter((line) => line.includes('meta/allowed.ts'))).toEqual([]);
  });
});
