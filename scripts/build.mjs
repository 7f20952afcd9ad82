// `npm run build`: compiles the package into dist/ (tsconfig.build.json) after removing what an
// earlier build left there for sources that no longer exist, so a renamed or deleted module never
// ships or runs from a stale dist/. Exits with tsc's status; tsc still emits when it finds type
// errors (the test suite's global setup relies on that and reports them).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');

/** The source a dist/ file was compiled from: dist/a/b.js, .d.ts, .js.map, .d.ts.map → a/b.ts. */
function sourceOf(file) {
  const base = relative(dist, file).replace(/(\.d)?\.ts\.map$|\.js\.map$|\.d\.ts$|\.js$/, '');
  return join(root, `${base}.ts`);
}

function pruneStale(dir) {
  if (!existsSync(dir)) return 0;
  let removed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      removed += pruneStale(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
    } else if (!existsSync(sourceOf(path))) {
      rmSync(path);
      removed += 1;
    }
  }
  return removed;
}

const removed = pruneStale(dist);
if (removed > 0) process.stderr.write(`build: removed ${removed} stale file(s) from dist/\n`);
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
process.exitCode = result.status ?? 1;
