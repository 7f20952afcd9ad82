// Growing a running cluster: storage nodes started later register and join; `spindle admin
// create-chains` builds chains over their targets as the next version of chain table 1; new files
// then land on the new nodes too, while files written before stay readable where they are.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { waitFor } from '../faults/support.js';
import { useCluster } from '../harness/cluster.js';
import { routingOf } from '../harness/replicas.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });

function spindle(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin/spindle.mjs'), ...args], { encoding: 'utf8' });
}

describe('growing the cluster', () => {
  it('adds chains over storage nodes started later; new files use them', async () => {
    const client = await cluster().client();
    const before = Buffer.alloc(64 * 1024, 7);
    await client.writeFile('/before', before);

    // Nothing to build while every target is in a chain.
    const refused = spindle(['admin', 'create-chains', '--replicas', '3', '--meta', cluster().metaAddress]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/already in a chain/);

    for (const index of [4, 5, 6]) await cluster().local.startStorageNode(index);
    const added = spindle(['admin', 'create-chains', '--replicas', '3', '--meta', cluster().metaAddress, '--json']);
    expect(added.status, added.stderr).toBe(0);
    const table = JSON.parse(added.stdout) as { tableId: number; version: number; chainIds: number[] };
    expect(table).toMatchObject({ tableId: 1, version: 2 });
    expect(table.chainIds).toHaveLength(2);

    const newNodes = cluster()
      .nodes.filter((node) => node.id >= 4)
      .map((node) => node.id);
    expect(newNodes).toHaveLength(3);
    // New files alternate over the table's chains (chain_base round-robin): some land on the new ones.
    for (let i = 0; i < 8; i++) await client.writeFile(`/after-${i}`, Buffer.alloc(64 * 1024, i));
    await waitFor(
      'the new nodes to report stored data',
      async () => {
        const routing = await routingOf(cluster().metaAddress);
        return routing.targets.filter((t) => newNodes.includes(t.nodeId)).every((t) => t.usedBytes > 0);
      },
      20_000,
    );
    for (let i = 0; i < 8; i++)
      expect((await client.readFile(`/after-${i}`)).equals(Buffer.alloc(64 * 1024, i))).toBe(true);
    expect((await client.readFile('/before')).equals(before)).toBe(true);
  }, 120_000);
});
