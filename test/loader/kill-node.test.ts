// kill -9 of a storage node mid-epoch: the loader's reads of the dead node's replicas go to the
// others, and the epoch completes with every sample exactly once and byte-identical.
import { describe, expect, it } from 'vitest';
import { openLoader } from '../../client/loader/index.js';
import { useCluster } from '../harness/cluster.js';
import { checkBatch, packRandom } from './support.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, preset: 'test' });

const SAMPLES = 3000;
const BATCH = 30;

describe('a storage node killed mid-epoch', () => {
  it('costs retries, never a missing, repeated or wrong sample', async () => {
    const c = cluster();
    const client = await c.client();
    await client.mkdir('/datasets');
    const dataset = await packRandom(client, '/datasets/train', SAMPLES, 16_000);
    const loader = await openLoader(client, {
      dataset: dataset.path,
      seed: 2026,
      epoch: 0,
      rank: 0,
      worldSize: 1,
      batchSize: BATCH,
      lastBatch: 'drop',
      prefetchBytes: 1024 * 1024, // reads in flight when the node dies
    });
    const read: number[] = [];
    let steps = 0;
    let victim: number | undefined;
    for await (const batch of loader) {
      read.push(...checkBatch(dataset, batch));
      steps++;
      if (steps === Math.floor(loader.batchCount / 3)) {
        victim = c.nodes[1].id;
        await c.killNode(victim, 'SIGKILL');
      }
    }
    expect(victim).toBeDefined();
    expect(steps).toBe(SAMPLES / BATCH);
    expect(read.length).toBe(SAMPLES);
    expect(new Set(read).size).toBe(SAMPLES);
  }, 120_000);
});
