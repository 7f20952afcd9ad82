// `spindle up` restarts a process that dies (issue: one crashed meta stopped the whole cluster):
// kill -9 of meta and of a storage node, each comes back on its old data after a logged backoff,
// the data written before is read back through the restarted processes, and Ctrl-C still stops
// everything — the restarted processes included. `--no-restart` leaves a crashed process down.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SpindleClient } from '../../client/index.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { waitFor } from '../faults/support.js';
import { pidAlive } from '../harness/cluster.js';

const work = mkdtempSync(join(tmpdir(), 'spindle-up-restart-'));
const children: ChildProcess[] = [];
const pids = new Set<number>();

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

interface UpLine {
  meta: string;
  metaPid: number;
  storage: Array<{ id: number; pid: number }>;
}

interface RunningUp {
  child: ChildProcess;
  line: UpLine;
  stderr: () => string;
}

async function up(dataDir: string, extra: string[] = []): Promise<RunningUp> {
  const child = spawn(
    process.execPath,
    [join(PACKAGE_ROOT, 'bin/spindle.mjs'), 'up', '--port', '0', '--data-dir', dataDir, '--preset', 'test', ...extra],
    { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    // Every pid the supervisor reports is ours to clean up.
    for (const match of stderr.matchAll(/restarted \(pid (\d+)\)/g)) pids.add(Number(match[1]));
  });
  const line = await new Promise<UpLine>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))) as UpLine);
    });
    child.once('exit', (code) => reject(new Error(`spindle up exited ${code}: ${stderr}`)));
  });
  pids.add(line.metaPid);
  for (const node of line.storage) pids.add(node.pid);
  return { child, line, stderr: () => stderr };
}

function restartedPid(stderr: string, name: string): number | undefined {
  const match = new RegExp(`${name} restarted \\(pid (\\d+)\\)`).exec(stderr);
  return match ? Number(match[1]) : undefined;
}

async function stopUp(running: RunningUp): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));
  running.child.kill('SIGINT');
  return exited;
}

describe('spindle up supervises its processes', () => {
  it('restarts a killed meta and a killed storage node; the data is still there; Ctrl-C stops them all', async () => {
    const running = await up('data');
    const client = await SpindleClient.connect({ meta: running.line.meta, preset: 'test' });
    try {
      await client.writeFile('/before-crash', Buffer.from('written before meta died'));

      process.kill(running.line.metaPid, 'SIGKILL');
      await waitFor('meta restarted', () => restartedPid(running.stderr(), 'meta') !== undefined);
      expect(running.stderr()).toMatch(/meta exited unexpectedly \(signal SIGKILL\).*restarting in 1 s \(attempt 1\)/);
      const newMeta = restartedPid(running.stderr(), 'meta')!;
      expect(newMeta).not.toBe(running.line.metaPid);
      expect(pidAlive(newMeta)).toBe(true);
      // The client kept its meta address: the restarted meta is on the same port and the same data.
      await waitFor(
        'read through the restarted meta',
        async () =>
          (await client.readFile('/before-crash').catch(() => undefined))?.toString() === 'written before meta died',
      );

      const victim = running.line.storage[1]!;
      process.kill(victim.pid, 'SIGKILL');
      await waitFor('storage-2 restarted', () => restartedPid(running.stderr(), 'storage-2') !== undefined);
      const newStorage = restartedPid(running.stderr(), 'storage-2')!;
      expect(pidAlive(newStorage)).toBe(true);
      await client.writeFile('/after-crash', Buffer.from('written after both came back'));
      expect((await client.readFile('/after-crash')).toString()).toBe('written after both came back');
      expect(running.child.exitCode).toBeNull();

      expect(await stopUp(running)).toBe(0);
      for (const pid of [newMeta, newStorage, ...running.line.storage.map((s) => s.pid)]) {
        expect(pidAlive(pid)).toBe(false);
      }
    } finally {
      await client.close();
    }
  }, 180_000);

  it('with --no-restart a killed storage node stays down and up says how to restart it', async () => {
    const running = await up('data-no-restart', ['--no-restart']);
    const victim = running.line.storage[0]!;
    process.kill(victim.pid, 'SIGKILL');
    await waitFor('the exit reported', () => running.stderr().includes('restart the node with'), 30_000);
    // Longer than the first backoff: a supervisor would have restarted it by now.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(running.stderr()).not.toMatch(/restarted \(pid/);
    expect(running.child.exitCode).toBeNull();
    expect(await stopUp(running)).toBe(0);
  }, 120_000);
});
