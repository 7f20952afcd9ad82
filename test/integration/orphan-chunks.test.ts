// Chunks no file owns are collected (issue 15: chunks written for inode 0 or for inodes that do not
// exist stayed on storage for ever). Chunks written straight through the chunk store for inode 0
// and for a reserved id (below the first inode id meta hands out) disappear from every replica by
// meta's orphan sweep; a live file's chunks, and those of an id meta has not handed out yet (a
// create may still take it, so the sweep must leave it), stay (real meta and storage processes).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import { dumpFileChunks, routingOf, StorageClients } from '../harness/replicas.js';
import { waitFor } from '../faults/support.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
/** Reserved: below meta's INODE_ID_FIRST (16), never a file's. */
const RESERVED_INO = 7;
/** Far above any id handed out in this test, below the KV-cache chunk space. */
const UNALLOCATED_INO = 2 ** 40;

/** Replica rows per inode over the whole cluster. */
async function rowsByIno(metaAddress: string): Promise<Map<number, number>> {
  const storage = new StorageClients();
  try {
    const rows = await dumpFileChunks(storage, await routingOf(metaAddress), 0);
    const counts = new Map<number, number>();
    for (const row of rows) counts.set(row.meta.chunk!.ino, (counts.get(row.meta.chunk!.ino) ?? 0) + 1);
    return counts;
  } finally {
    storage.close();
  }
}

async function orphansRemoved(metricsAddress: string): Promise<number> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('spindle_meta_orphan_inodes_removed_total '));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('chunks no file owns', () => {
  it('are removed from every replica by the orphan sweep, and no live chunk is', async () => {
    const c = cluster();
    const client = await c.client();
    const data = randomBytes(5 * 64 * 1024 + 99);
    await client.writeFile('/live.bin', data);
    const live = await client.stat('/live.bin');
    const layout = live.layout!;
    for (const ino of [0, RESERVED_INO, UNALLOCATED_INO])
      await client.chunks.write(ino, layout, 0, randomBytes(100_000));
    // (Acknowledged by every replica; the sweep may take the orphans at once, so only these two are counted.)
    const before = await rowsByIno(c.metaAddress);
    for (const ino of [live.ino, UNALLOCATED_INO]) expect(before.get(ino), `chunks of ${ino}`).toBeGreaterThan(0);

    await waitFor(
      'the sweep to remove the chunks of inode 0 and of a reserved id',
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const now = await rowsByIno(c.metaAddress);
        return !now.has(0) && !now.has(RESERVED_INO);
      },
      60_000,
    );
    const metrics = c.local.meta.ready.metrics;
    expect(await orphansRemoved(metrics)).toBeGreaterThanOrEqual(2);
    // More passes over everything, then: live chunks and an id a create may still take are there.
    const passes = await orphansRemoved(metrics);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await orphansRemoved(metrics)).toBe(passes);
    const after = await rowsByIno(c.metaAddress);
    expect(after.get(live.ino)).toBe(before.get(live.ino));
    expect(after.get(UNALLOCATED_INO)).toBe(before.get(UNALLOCATED_INO));
    expect((await client.readFile('/live.bin')).equals(data)).toBe(true);
  }, 120_000);
});
