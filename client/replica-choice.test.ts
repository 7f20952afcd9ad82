// Replica choice seen from the data path, against fake storage nodes: reads spread over every
// serving replica whatever the order of a file's chains, and skip offline ones. Each test runs
// with chunk bytes inside gRPC and over bulk sessions.
import { describe, expect, it } from 'vitest';
import { fileChains } from '../common/placement.js';
import type { Layout } from '../proto/index.js';
import {
  CHAINS,
  CHUNK,
  DATA_TRANSPORTS,
  layout,
  randomBytes,
  useFakeStorageCluster,
} from './testing/fake-storage-nodes.js';

describe.each(DATA_TRANSPORTS)(
  'ChunkStore replica choice over fake storage nodes (data over $transport)',
  ({ transport }) => {
    const nodes = useFakeStorageCluster(transport);

    it("spreads a sequential reader over every node whatever the order of the file's chains", async () => {
      // A rotation counter that advances with the chunk index can stay in step with the chains'
      // target order (chain c starts at node c): some shuffles then send every chunk to one node.
      for (const shuffleSeed of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const shuffled: Layout = { ...layout, shuffleSeed };
        const ino = 200 + shuffleSeed;
        await nodes.store.write(ino, shuffled, 0, randomBytes(9 * CHUNK, shuffleSeed));
        nodes.state.readsByNode.clear();
        for (let pass = 0; pass < 4; pass++) {
          for (let chunk = 0; chunk < 9; chunk++)
            await nodes.store.read(ino, shuffled, chunk * CHUNK, CHUNK, { fileLength: 9 * CHUNK });
        }
        for (const node of [1, 2, 3])
          expect(nodes.state.readsByNode.get(node) ?? 0, `seed ${shuffleSeed}, node ${node}`).toBeGreaterThanOrEqual(4);
      }
    });

    it('spreads reads over the serving replicas and skips offline ones', async () => {
      const data = randomBytes(CHUNK, 5);
      await nodes.store.write(12, layout, 0, data);
      for (let i = 0; i < 30; i++) await nodes.store.read(12, layout, 0, 100, { fileLength: CHUNK });
      expect([...nodes.state.readsByNode.keys()].sort()).toEqual([1, 2, 3]);
      const chainId = fileChains(layout, CHAINS)[0]!;
      nodes.publish([2000 + chainId]);
      await nodes.routing.refresh();
      nodes.state.readsByNode.clear();
      for (let i = 0; i < 30; i++) await nodes.store.read(12, layout, 0, 100, { fileLength: CHUNK });
      expect(nodes.state.readsByNode.get(2) ?? 0).toBe(0);
    });
  },
);
