// A full disk on the HEAD of a chain (issue 15; docs/failures.md "Full disks", docs/simulation.md K3):
// three storage nodes, one chain of three replicas whose head is on storage-1, and storage-1's data
// dir a small tmpfs. Another program fills that disk past the reserve; then a client overwrites a
// region of an existing file. The head applies the update while it forwards it: its own apply is
// refused (NO_SPACE) while its successors commit, so the head takes itself out of the chain, the
// client's retry reaches the new head (which recorded the write) and the write is acknowledged.
// Without that (the head answering ENOSPC and staying), the successors keep the new bytes and the
// head the old ones for good. Then: a `spindle put` fails with ENOSPC (the full target, now the
// chain's syncing tail, cannot take its chunks) and leaves no file; no process dies; every file
// reads back byte for byte; after the filler and two files are deleted the refused file fits, the
// full target returns through a resync and every replica holds the same chunks. Needs root (mount).
import { statfsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidAlive, type TestCluster } from '../harness/cluster.js';
import { dumpFileChunks, routingOf, StorageClients, tableChains } from '../harness/replicas.js';
import { allServing, expectReplicasIdentical, expectSame, sleep, waitFor, waitForRouting } from './support.js';
import {
  localFile,
  runSpindle,
  type SmallDiskCluster,
  sha256,
  skipUnlessRoot,
  startSmallDiskCluster,
  stopSmallDiskCluster,
} from './full-disk-support.js';

const MiB = 1024 * 1024;
const notRoot = skipUnlessRoot();
/** Free bytes the filler leaves on the full node's disk: below the test preset's 2 MiB reserve. */
const LEFT_FREE_BYTES = 1 * MiB;
/** How old the space guard's statfs figure may be (space-guard.ts). */
const STATFS_MAX_AGE_MS = 1_000;

let work: string;
let mounted: string | undefined;
let cluster: TestCluster | undefined;
let setup: SmallDiskCluster | undefined;

const spindle = (args: string[]) => runSpindle(work, cluster!.metaAddress, args);

async function names(): Promise<string[]> {
  const client = await cluster!.client();
  return (await client.readdir('/')).sort();
}

async function getBack(name: string): Promise<Buffer> {
  const back = join(work, `back-${name}`);
  const got = await spindle(['get', `/${name}`, back]);
  expect(got.stderr).toBe('');
  expect(got.code).toBe(0);
  return readFileSync(back);
}

/** The target id heading the chain now. */
async function headTarget(): Promise<number> {
  return tableChains(await routingOf(cluster!.metaAddress))[0]!.targetIds[0]!;
}

describe.skipIf(notRoot)('a full disk on the head of a chain', () => {
  beforeAll(async () => {
    setup = await startSmallDiskCluster('spindle-full-head-', 3, 3);
    ({ work, mounted, cluster } = setup);
  }, 180_000);

  afterAll(() => stopSmallDiskCluster(setup), 60_000);

  it('the full head leaves the chain, acknowledged writes stay, puts get ENOSPC, space is reused', async () => {
    const routing = await routingOf(cluster!.metaAddress);
    const fullTarget = routing.targets.find((t) => t.nodeId === cluster!.local.nodes()[0]!.id)!.targetId;
    expect(await headTarget(), 'the full node heads the chain').toBe(fullTarget);
    const pids = cluster!.local.nodes().map((n) => n.pid);

    const keep = localFile(work, 'keep.bin', 4 * MiB);
    const first = localFile(work, 'first.bin', 12 * MiB);
    for (const file of [keep, first]) {
      const name = file.path.slice(work.length + 1);
      expect((await spindle(['put', file.path, `/${name}`])).code).toBe(0);
    }

    // Another program fills the head's disk past the reserve.
    const stats = statfsSync(mounted!);
    const filler = join(mounted!, 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, stats.bavail * stats.bsize - LEFT_FREE_BYTES)));
    // The node's space guard re-reads statfs at least every second (storage/chunk-engine/space-guard.ts):
    // until then it may still admit a block write the disk can take.
    await sleep(STATFS_MAX_AGE_MS + 500);

    // An overwrite of an existing chunk needs a new block (copy-on-write): the head cannot have one.
    const client = await cluster!.client();
    const patch = randomBytes(256 * 1024);
    const handle = await client.open('/keep.bin', 'r+');
    await handle.writeBytes(patch, MiB);
    await handle.close();
    const keepNow = Buffer.from(keep.data);
    patch.copy(keepNow, MiB);
    // The head took itself out: the chain is headed by another target from now on.
    await waitForRouting(cluster!.metaAddress, 'the full target out of the head', (r) => {
      const head = tableChains(r)[0]!.targetIds[0];
      return head !== undefined && head !== fullTarget;
    });

    // A new file's chunks do not fit on the full target (the chain's tail now): ENOSPC, no file left.
    const big = localFile(work, 'big.bin', 12 * MiB);
    const refused = await spindle(['put', big.path, '/big.bin']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/ENOSPC/);
    expect(refused.stderr).toMatch(/full/);
    expect(await names()).toEqual(['first.bin', 'keep.bin']);
    for (const pid of pids) expect(pidAlive(pid)).toBe(true);

    // Reads go on, byte for byte, the acknowledged overwrite included.
    expectSame(await getBack('keep.bin'), keepNow, 'keep.bin');
    expect(sha256(await getBack('first.bin'))).toBe(first.sha);

    // The other program's file and a file of ours go: the refused file fits once meta's GC has
    // removed first.bin's chunks (retried until then).
    rmSync(filler);
    const firstIno = (await client.stat('/first.bin')).ino;
    expect((await spindle(['rm', '/first.bin'])).code).toBe(0);
    const deadline = Date.now() + 30_000;
    let put = await spindle(['put', big.path, '/big.bin']);
    while (put.code !== 0 && /ENOSPC/.test(put.stderr) && Date.now() < deadline) {
      await sleep(250);
      put = await spindle(['put', big.path, '/big.bin']);
    }
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    expect(sha256(await getBack('big.bin'))).toBe(big.sha);
    expect(await names()).toEqual(['big.bin', 'keep.bin']);

    // The full target comes back through a resync, and every replica holds the same chunks.
    await waitForRouting(cluster!.metaAddress, 'every target serving again', allServing, 60_000);
    // GC removes a deleted file's chunks down the chain, the head last: wait until it is done.
    const storage = new StorageClients();
    try {
      await waitFor('the chunks of the deleted file removed from every replica', async () => {
        const routing = await routingOf(cluster!.metaAddress);
        return (await dumpFileChunks(storage, routing, firstIno)).length === 0;
      });
    } finally {
      storage.close();
    }
    const files = [];
    for (const [name, data] of [
      ['keep.bin', keepNow],
      ['big.bin', big.data],
    ] as const) {
      const stat = await client.stat(`/${name}`);
      files.push({ ino: stat.ino, data, chunkSize: stat.layout!.chunkSizeBytes });
    }
    await expectReplicasIdentical(cluster!.metaAddress, 3, files, 1);
    expectSame(await getBack('keep.bin'), keepNow, 'keep.bin after the resync');
    for (const pid of pids) expect(pidAlive(pid)).toBe(true);
    const log = readFileSync(join(work, 'cluster', 'logs', 'storage-1.log'), 'utf8');
    expect(log).not.toMatch(/uncaught|unhandled/i);
  }, 240_000);
});
