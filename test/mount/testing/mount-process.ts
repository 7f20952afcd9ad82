// A `spindle mount` process and shell helpers for the mount tests (real kernel mounts, root).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { findFuseMount } from '../../../mount/index.js';
import { pidAlive } from '../../harness/cluster.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const spindleBin = join(repoRoot, 'bin', 'spindle.mjs');
const MiB = 1024 * 1024;

export interface ShellResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a bash command (async: the mount lives in another process, but vitest's timers must run). */
export function sh(command: string, options: { cwd?: string; timeoutMs?: number } = {}): Promise<ShellResult> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', command],
      { cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * MiB },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
        resolve({ stdout, stderr, code });
      },
    );
  });
}

export async function ok(command: string, options: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const result = await sh(command, options);
  if (result.code !== 0)
    throw new Error(`command failed (${result.code}): ${command}\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

export interface MountProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

/** Starts `spindle mount DIR` and waits for its ready line. */
export async function startMount(dir: string, meta: string, extraArgs: string[] = []): Promise<MountProcess> {
  const child = spawn(process.execPath, [spindleBin, 'mount', dir, '--meta', meta, ...extraArgs], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 60_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  if (ready === undefined) {
    child.kill('SIGKILL');
    throw new Error(`spindle mount did not become ready:\n${stderr}`);
  }
  expect(JSON.parse(ready)).toMatchObject({ mount: dir, pid: child.pid });
  return { child, exited, stderr: () => stderr };
}

export async function stopMount(mount: MountProcess | undefined, dir: string): Promise<void> {
  if (
    mount !== undefined &&
    mount.child.exitCode === null &&
    mount.child.pid !== undefined &&
    pidAlive(mount.child.pid)
  ) {
    mount.child.kill('SIGTERM');
    const code = await Promise.race([
      mount.exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000)),
    ]);
    if (code === 'timeout') mount.child.kill('SIGKILL');
  }
  if (findFuseMount(dir) !== undefined)
    await sh(`umount -l ${JSON.stringify(dir)} || fusermount3 -u -z ${JSON.stringify(dir)}`, { timeoutMs: 10_000 });
}
