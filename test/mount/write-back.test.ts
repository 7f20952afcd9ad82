// The mount's write-back buffer with small writes (issue 14): 4 KiB write(2) calls through a real
// kernel mount reach storage as whole-chunk Write calls (counted from the storage nodes' metrics),
// read back right away through the same descriptor, show in a second mount process once closed,
// survive kill -9 of the mount once fsync returned, and a partly filled buffer goes to storage
// without fsync or close once the writer is idle for WRITE_BUFFER_IDLE_MS.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFuseMount } from '../../mount/index.js';
import { WRITE_BUFFER_BYTES, WRITE_BUFFER_IDLE_MS } from '../../mount/constants.js';
import { pidAlive, startCluster, type TestCluster } from '../harness/cluster.js';
import { skipUnlessAvailable } from '../setup/suite-requirements.js';
import { type MountProcess, ok, startMount, stopMount } from './testing/mount-process.js';

const NO_FUSE = skipUnlessAvailable('fuse', existsSync('/dev/fuse') ? undefined : '/dev/fuse does not exist here');
const PIECE = 4096;
/** Two whole chunks and a tail of three pieces: 2,051 write(2) calls. */
const LENGTH = 2 * WRITE_BUFFER_BYTES + 3 * PIECE;

/** The bytes every writer here writes: (i * 13 + 5) mod 251. */
function pattern(length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 13 + 5) % 251;
  return out;
}

/**
 * Python: writes `length` bytes of the pattern in 4 KiB os.write calls, reads them back through the
 * same descriptor, then (argv[3]) 'close' closes, 'fsync' fsyncs and holds the file open; 'hold'
 * neither reads back (a read sends the buffer) nor closes. Says 'ready' when done.
 */
const WRITER = `
import os, sys, time
path, length, then = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = bytes((i * 13 + 5) % 251 for i in range(length))
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
for at in range(0, length, ${PIECE}):
    assert os.write(fd, data[at:at + ${PIECE}]) == len(data[at:at + ${PIECE}])
back = b'' if then != 'hold' else data
while len(back) < length:
    piece = os.pread(fd, length - len(back), len(back))
    if not piece: break
    back += piece
if back != data:
    print('read-after-write differs', len(back), flush=True)
    sys.exit(1)
if then == 'close': os.close(fd)
if then == 'fsync': os.fsync(fd)
print('ready', flush=True)
if then != 'close': time.sleep(600)
`;

describe.skipIf(NO_FUSE)('write-back of small writes through the mount', () => {
  let cluster: TestCluster | undefined;
  let work: string;
  let mntA: string;
  let mntB: string;
  let mountA: MountProcess | undefined;
  let mountB: MountProcess | undefined;
  const writers: ChildProcess[] = [];

  /** Client Write calls the chain heads answered (each client write counts once). */
  async function storageWrites(): Promise<number> {
    let total = 0;
    for (const node of cluster!.nodes) {
      const text = await (await fetch(`http://${node.metrics}/metrics`)).text();
      const line = text
        .split('\n')
        .find((l) => l.startsWith('spindle_storage_requests_total{method="Write",result="ok"}'));
      if (line !== undefined) total += Number(line.split(' ')[1]);
    }
    return total;
  }

  /** Runs WRITER; resolves once it said 'ready' (it may keep the file open). */
  async function write(path: string, length: number, then: 'close' | 'fsync' | 'hold'): Promise<ChildProcess> {
    const child = spawn('/usr/bin/python3', ['-c', WRITER, path, String(length), then], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    writers.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const said = await new Promise<string | undefined>((resolve) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', () => resolve(undefined));
    });
    expect(said, `the writer failed: ${stderr}`).toBe('ready');
    return child;
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'spindle-write-back-'));
    mntA = join(work, 'a');
    mntB = join(work, 'b');
    mkdirSync(mntA);
    mkdirSync(mntB);
    cluster = await startCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
    mountA = await startMount(mntA, cluster.metaAddress);
    mountB = await startMount(mntB, cluster.metaAddress);
  }, 180_000);

  afterAll(async () => {
    for (const child of writers) if (child.pid !== undefined && pidAlive(child.pid)) child.kill('SIGKILL');
    await stopMount(mountA, mntA);
    await stopMount(mountB, mntB);
    await cluster?.stop();
    if (work !== undefined && findFuseMount(mntA) === undefined && findFuseMount(mntB) === undefined)
      rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('sends 2,051 4 KiB writes as a few chunk writes, reads them back; another mount sees them', async () => {
    const before = await storageWrites();
    await write(join(mntA, 'small.bin'), LENGTH, 'close');
    const calls = (await storageWrites()) - before;
    // One storage write per chunk the file covers (the tail is sent by the read-back), where one per
    // write(2) would be 2,051. A pause of the writer longer than WRITE_BUFFER_IDLE_MS on a loaded
    // machine may add a few.
    const client = await cluster!.client();
    const chunks = Math.ceil(LENGTH / (await client.stat('/small.bin')).blksize);
    expect(chunks).toBeLessThan(LENGTH / PIECE / 8);
    expect(calls).toBeGreaterThanOrEqual(chunks);
    expect(calls).toBeLessThanOrEqual(chunks + 3);
    // A second mount process (another client of the cluster) sees every byte and the length.
    expect(readFileSync(join(mntB, 'small.bin')).equals(pattern(LENGTH))).toBe(true);
    expect((await ok(`stat -c %s ${JSON.stringify(join(mntB, 'small.bin'))}`)).trim()).toBe(String(LENGTH));
  }, 120_000);

  it('sends a partly filled buffer once the writer is idle, with no fsync or close', async () => {
    const before = await storageWrites();
    await write(join(mntA, 'aged.bin'), 3 * PIECE, 'hold');
    const deadline = Date.now() + 2 * WRITE_BUFFER_IDLE_MS + 20_000;
    while ((await storageWrites()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect((await storageWrites()) - before).toBe(1);
  }, 60_000);

  it('keeps 4 KiB writes fsynced before the mount is killed with the file open', async () => {
    const length = WRITE_BUFFER_BYTES + 5 * PIECE + 123;
    await write(join(mntA, 'synced.bin'), length, 'fsync');
    mountA!.child.kill('SIGKILL');
    await mountA!.exited;
    await stopMount(undefined, mntA);
    const client = await cluster!.client();
    expect((await client.stat('/synced.bin')).size).toBe(length);
    expect((await client.readFile('/synced.bin')).equals(pattern(length))).toBe(true);
  }, 120_000);
});
