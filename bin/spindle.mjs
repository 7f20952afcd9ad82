#!/usr/bin/env -S node --initial-old-space-size=256
// The `spindle` command. Spindle ships TypeScript sources and no build output: register tsx's
// loader, then run the CLI (client/cli/main.ts). Exit codes: see `spindle --help`.
// The V8 flag (as client/cli/launcher.ts NODE_FLAGS gives servers) keeps put/get's multi-MiB
// Buffers from triggering a full GC every few chunks; it needs `env -S` (coreutils ≥ 8.30).
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../client/cli/main.ts');
const code = await run(process.argv.slice(2));
process.exitCode = code;
// A leaked handle (a socket the client forgot) must not keep a finished command alive.
setTimeout(() => process.exit(code), 2_000).unref();
