#!/usr/bin/env -S node --initial-old-space-size=256
// The `spindle` command: runs the compiled CLI (dist/cli/main.js, built by `npm run build`, which
// `npm install` runs in a checkout). Exit codes: see `spindle --help`.
// The V8 flag (as cluster/server-env.ts NODE_FLAGS gives servers) keeps put/get's multi-MiB
// Buffers from triggering a full GC every few chunks; it needs `env -S` (coreutils ≥ 8.30).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  const root = new URL('..', import.meta.url).pathname;
  process.stderr.write(
    `spindle: the CLI is not built (${main.pathname} is missing): run \`npm run build\` in ${root}\n`,
  );
  process.exit(1);
}
const { run } = await import(main.href);
const code = await run(process.argv.slice(2));
process.exitCode = code;
// A leaked handle (a socket the client forgot) must not keep a finished command alive.
setTimeout(() => process.exit(code), 2_000).unref();
