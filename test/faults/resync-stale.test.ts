// Resync of genuinely stale chunks (issue 15): in the other resync tests the stale chunks are
// rewritten during the sync (new writes reach the syncing target anyway) or were written only once,
// so a resync that skipped chunks whose versions differ passed them. Here a stopped replica misses
// overwrites of every chunk of a file (same lengths: versions and CRCs differ, nothing else), is
// restarted, and syncs with no write at all while it does; afterwards every replica's chunk dump
// must match (version, length, CRC) and the restarted replica must serve the new bytes.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PublicTargetState } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import { allServing, expectReplicasIdentical, targetsOfNode, waitForRouting } from './support.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });

describe('a replica that missed overwrites', () => {
  it('is brought to the new versions by resync alone, with no writes while it syncs', async () => {
    const c = cluster();
    const client = await c.client();
    const size = 10 * 64 * 1024 + 777;
    const files = ['/stale-a.bin', '/stale-b.bin'];
    for (const path of files) await client.writeFile(path, randomBytes(size));
    // Overwrite twice more while the node is down, so its chunks are two versions behind.
    const stopped = c.nodes[2]!;
    await c.killNode(stopped.id);
    await waitForRouting(c.metaAddress, 'the stopped node offline', (routing) =>
      targetsOfNode(routing, stopped.id).every((t) => t.publicState !== PublicTargetState.SERVING),
    );
    const latest = new Map<string, Buffer>();
    for (let round = 0; round < 2; round++) {
      for (const path of files) {
        // In place (no O_TRUNC, which would remove the chunks and start them again at version 1).
        const data = randomBytes(size);
        const handle = await client.open(path, 'r+');
        await handle.write(data, 0, data.length, 0);
        await handle.close();
        latest.set(path, data);
      }
    }
    await c.restartNode(stopped.id);
    await waitForRouting(c.metaAddress, 'every target serving after the resync', allServing, 120_000);
    const expected = await Promise.all(
      files.map(async (path) => {
        const stat = await client.stat(path);
        return { ino: stat.ino, data: latest.get(path)!, chunkSize: stat.layout!.chunkSizeBytes };
      }),
    );
    // Every chunk's bytes on every replica (sample every chunk), and identical dumps.
    const chunks = await expectReplicasIdentical(c.metaAddress, 3, expected, 1);
    expect(chunks).toBeGreaterThanOrEqual(2 * 11 * 3);
  }, 240_000);
});
