// The cluster harness itself, on real processes: a killed storage node restarts on its old data
// dir with the same node id, the file written before is still readable, and stop() leaves no
// process and no temp dir behind.
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pidAlive, startCluster } from '../harness/cluster.js';

describe('cluster harness', () => {
  it('kills and restarts a storage node, then stops everything and removes its temp dir', async () => {
    const cluster = await startCluster();
    try {
      expect(cluster.nodes.map((n) => n.id)).toEqual([1, 2, 3]);
      const client = await cluster.client();
      const data = randomBytes(500_000);
      await client.writeFile('/survives.bin', data);

      const before = cluster.nodes.find((n) => n.id === 2)!;
      await cluster.killNode(2, 'SIGKILL');
      expect(pidAlive(before.pid)).toBe(false);
      expect(cluster.nodes.map((n) => n.id)).toEqual([1, 3]);
      // Reads are served by the remaining replicas.
      expect((await client.readFile('/survives.bin')).equals(data)).toBe(true);

      const after = await cluster.restartNode(2);
      expect(after.id).toBe(2);
      expect(after.dataDir).toBe(before.dataDir);
      expect(after.pid).not.toBe(before.pid);
      expect(cluster.nodes.map((n) => n.id)).toEqual([1, 2, 3]);
      expect((await client.readFile('/survives.bin')).equals(data)).toBe(true);
    } finally {
      const pids = cluster.pids();
      await cluster.stop();
      for (const pid of pids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
      expect(existsSync(cluster.dataDir)).toBe(false);
    }
  }, 120_000);
});
