// `spindle up` restarts a process that dies (issue: one crashed meta stopped the whole cluster):
// kill -9 of meta and of a storage node, each comes back on its old data after a logged backoff,
// the data written before is read back through the restarted processes, and Ctrl-C still stops
// everything — the restarted processes included. `--no-restart` leaves a crashed process down.
import { afterAll, describe, expect, it } from 'vitest';
import { SpindleClient } from '../../client/index.js';
import { waitFor } from '../faults/support.js';
import { pidAlive } from '../harness/cluster.js';
import { type RunningUp, UpRunner } from '../harness/spindle-up.js';

const ups = new UpRunner('spindle-up-restart-');
afterAll(() => ups.cleanup());

interface UpLine {
  meta: string;
  metaPid: number;
  storage: Array<{ id: number; pid: number }>;
}

async function up(dataDir: string, extra: string[] = []): Promise<RunningUp<UpLine>> {
  const running = await ups.start<UpLine>(['--port', '0', '--data-dir', dataDir, '--preset', 'test', ...extra]);
  ups.track(running.line.metaPid);
  for (const node of running.line.storage) ups.track(node.pid);
  return running;
}

function restartedPid(stderr: string, name: string): number | undefined {
  const match = new RegExp(`${name} restarted \\(pid (\\d+)\\)`).exec(stderr);
  return match ? Number(match[1]) : undefined;
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

      expect(await ups.stop(running)).toBe(0);
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
    expect(await ups.stop(running)).toBe(0);
  }, 120_000);
});
