// A full disk (issue 15): a storage node whose data dir is a small tmpfs the test mounts. Writes
// past the target's full line are refused with a clear ENOSPC while the node stays up, a `spindle
// put` that fails leaves no file (nor its temporary) behind, files written before still read back
// byte for byte, and once files are deleted their space is written again. Needs root (mount).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidAlive, type TestCluster } from '../harness/cluster.js';
import {
  localFile as localFileIn,
  runSpindle,
  type SmallDiskCluster,
  sha256,
  skipUnlessRoot,
  startSmallDiskCluster,
  stopSmallDiskCluster,
} from './full-disk-support.js';

const MiB = 1024 * 1024;
const notRoot = skipUnlessRoot();

let work: string;
let cluster: TestCluster | undefined;
let setup: SmallDiskCluster | undefined;

const spindle = (args: string[]) => runSpindle(work, cluster!.metaAddress, args);
const localFile = (name: string, bytes: number) => localFileIn(work, name, bytes);

async function names(): Promise<string[]> {
  const client = await cluster!.client();
  return (await client.readdir('/')).sort();
}

describe.skipIf(notRoot)('a full disk on a storage node', () => {
  beforeAll(async () => {
    setup = await startSmallDiskCluster('spindle-full-', 1, 1);
    ({ work, cluster } = setup);
  }, 180_000);

  afterAll(() => stopSmallDiskCluster(setup), 60_000);

  it('refuses writes with ENOSPC; reads and deletes go on, nothing partial is published, space is reused', async () => {
    const storagePid = cluster!.local.nodes()[0]!.pid;
    const first = localFile('first.bin', 12 * MiB);
    const second = localFile('second.bin', 12 * MiB);
    expect((await spindle(['put', first.path, '/first.bin'])).code).toBe(0);
    expect((await spindle(['put', second.path, '/second.bin'])).code).toBe(0);

    // 20 MiB more does not fit in what is left above the reserve.
    const big = localFile('big.bin', 20 * MiB);
    const refused = await spindle(['put', big.path, '/big.bin']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/ENOSPC/);
    expect(refused.stderr).toMatch(/full/);
    // Nothing that looks like the file, and no temporary left over.
    expect(await names()).toEqual(['first.bin', 'second.bin']);
    expect(pidAlive(storagePid)).toBe(true);

    // Reads go on, byte for byte.
    for (const [name, file] of [
      ['first.bin', first],
      ['second.bin', second],
    ] as const) {
      const back = join(work, `back-${name}`);
      expect((await spindle(['get', `/${name}`, back])).code).toBe(0);
      expect(sha256(readFileSync(back))).toBe(file.sha);
    }

    // Deletes go on, and the space they free takes the file that did not fit (after meta's GC
    // removed the chunks from the node: retried until then).
    expect((await spindle(['rm', '/first.bin', '/second.bin'])).code).toBe(0);
    const deadline = Date.now() + 20_000;
    let put = await spindle(['put', big.path, '/big.bin']);
    while (put.code !== 0 && /ENOSPC/.test(put.stderr) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      put = await spindle(['put', big.path, '/big.bin']);
    }
    expect(put.stderr).not.toMatch(/spindle:/);
    expect(put.code).toBe(0);
    const back = join(work, 'back-big.bin');
    expect((await spindle(['get', '/big.bin', back])).code).toBe(0);
    expect(sha256(readFileSync(back))).toBe(big.sha);
    expect(await names()).toEqual(['big.bin']);
    expect(pidAlive(storagePid)).toBe(true);
    const log = readFileSync(join(work, 'cluster', 'logs', 'storage-1.log'), 'utf8');
    expect(log).not.toMatch(/uncaught|unhandled/i);
  }, 240_000);
});
