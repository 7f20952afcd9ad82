// Keeps docs/metrics.md complete: every metric name registered in server code must be listed.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((file) => !file.includes('testing') && !file.includes(`${join('proto', 'gen')}`));
}

describe('docs/metrics.md', () => {
  it('lists every metric registered by meta, storage, client and common', () => {
    const doc = readFileSync(join(root, 'docs', 'metrics.md'), 'utf8');
    const names = new Set<string>();
    for (const file of ['common', 'meta', 'storage', 'client'].flatMap(sourceFiles)) {
      for (const match of readFileSync(file, 'utf8').matchAll(/['"`](spindle_[a-z0-9_]+)['"`]/g)) names.add(match[1]);
    }
    expect(names.size).toBeGreaterThan(10);
    const missing = [...names].filter((name) => !doc.includes(`\`${name}\``));
    expect(missing, 'add these to docs/metrics.md').toEqual([]);
  });
});
