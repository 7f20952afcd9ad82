// SpindleClient.connect() in a process of its own: it must settle (keep the process alive while it
// waits) and say what is missing when it gives up.
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../common/package-root.js';

// The compiled client (the global setup builds dist/), as a user's process would load it.
const clientIndex = pathToFileURL(join(PACKAGE_ROOT, 'dist', 'client', 'index.js')).href;

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs `await SpindleClient.connect(...)` as the only work of a fresh node process. */
function runConnect(
  meta: string,
  readyTimeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `
    import { SpindleClient } from ${JSON.stringify(clientIndex)};
    try {
      await SpindleClient.connect({ meta: ${JSON.stringify(meta)}, readyTimeoutMs: ${readyTimeoutMs} });
      console.log(JSON.stringify({ connected: true }));
    } catch (err) {
      console.log(JSON.stringify({ code: err.code, name: err.codeName, message: err.message }));
    }`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { cwd: PACKAGE_ROOT, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

describe('SpindleClient.connect', () => {
  it('to an unreachable meta keeps the process alive until it rejects with an actionable error', async () => {
    const meta = `127.0.0.1:${await closedPort()}`;
    const result = await runConnect(meta, 1_500);
    expect(result.stderr).not.toMatch(/unsettled top-level await/i);
    expect(result.code).toBe(0);
    const outcome = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
      code: string;
      name: string;
      message: string;
    };
    expect(outcome.name).toBe('RPC_UNAVAILABLE');
    expect(outcome.code).toBe('EHOSTUNREACH');
    expect(outcome.message).toContain(`cannot reach meta at ${meta}`);
    expect(outcome.message).toContain('spindle up');
  });
});
