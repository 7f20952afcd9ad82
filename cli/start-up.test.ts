// `spindle --help` (and the parsing every command does first) must answer like `ls`: the CLI's main
// module loads no gRPC, protobuf or launcher code; each command loads what it needs when it runs.
// Measured with bin/spindle.mjs against `node -e 0` in docs/performance.md ("CLI start-up").
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../common/package-root.js';

it('importing the compiled CLI loads no gRPC, protobuf or cluster launcher module', () => {
  const main = pathToFileURL(join(PACKAGE_ROOT, 'dist', 'cli', 'main.js')).href;
  // CommonJS packages imported from ESM (grpc-js, @bufbuild/protobuf's CJS build) land in require.cache.
  const script = `import { createRequire } from 'node:module';
    await import('${main}');
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const loaded = JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
  );
  expect(loaded.filter((path: string) => /@grpc|protobuf|lmdb/.test(path))).toEqual([]);
});
