// fsync(2) through the mount is durable (issue 15: a FUSE FSYNC answered without flushing the
// write-back buffers passed every mount test, since each closed its files, and close flushes). A
// process writes less than one write-back buffer, fsyncs, and keeps the file open; the mount
// process is then killed with kill -9, so nothing after fsync can flush; a fresh client of the
// cluster reads every byte and the length (real FUSE mount, real cluster).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFuseMount } from '../../mount/index.js';
import { pidAlive, startCluster, type TestCluster } from '../harness/cluster.js';
import { skipUnlessAvailable } from '../setup/suite-requirements.js';
import { type MountProcess, startMount, stopMount } from './testing/mount-process.js';

const NO_FUSE = skipUnlessAvailable('fuse', existsSync('/dev/fuse') ? undefined : '/dev/fuse does not exist here');
/** Well under one write-back buffer (4 MiB), so only a flush by fsync sends it. */
const LENGTH = 300_001;

/** The bytes the holder writes: (i * 7 + 3) mod 251. */
function pattern(length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + 3) % 251;
  return out;
}

/** Python: open, write the pattern, fsync, say so, and hold the file open until killed. */
const HOLDER = `
import os, sys, time
data = bytes((i * 7 + 3) % 251 for i in range(${LENGTH}))
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
assert os.write(fd, data) == len(data)
os.fsync(fd)
print('synced', flush=True)
time.sleep(600)
`;

describe.skipIf(NO_FUSE)('fsync through the mount', () => {
  let cluster: TestCluster | undefined;
  let work: string;
  let mnt: string;
  let mount: MountProcess | undefined;
  let holder: ChildProcess | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'spindle-fsync-kill-'));
    mnt = join(work, 'mnt');
    mkdirSync(mnt);
    cluster = await startCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
    mount = await startMount(mnt, cluster.metaAddress);
  }, 180_000);

  afterAll(async () => {
    if (holder?.pid !== undefined && pidAlive(holder.pid)) holder.kill('SIGKILL');
    await stopMount(mount, mnt);
    await cluster?.stop();
    if (work !== undefined && findFuseMount(mnt) === undefined) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('keeps every byte and the length once fsync returned, though the mount is killed with the file open', async () => {
    holder = spawn('/usr/bin/python3', ['-c', HOLDER, join(mnt, 'synced.bin')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    holder.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const said = await new Promise<string | undefined>((resolve) => {
      createInterface({ input: holder!.stdout! }).once('line', resolve);
      holder!.once('exit', () => resolve(undefined));
    });
    expect(said, `the holder did not fsync: ${stderr}`).toBe('synced');
    // The file is still open in the holder; the mount dies without any chance to flush.
    mount!.child.kill('SIGKILL');
    await mount!.exited;
    holder.kill('SIGKILL');
    await stopMount(undefined, mnt);
    const client = await cluster!.client();
    expect((await client.stat('/synced.bin')).size).toBe(LENGTH);
    expect((await client.readFile('/synced.bin')).equals(pattern(LENGTH))).toBe(true);
  }, 120_000);
});
