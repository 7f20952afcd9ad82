// Vitest global setup: compiles the package (`npm run build` → dist/) once before any test runs,
// because every server, CLI and bench worker a test starts runs the compiled JS, and a dist/ older
// than the sources would test yesterday's code. About two seconds with the native compiler.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function buildDist(): void {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
}
