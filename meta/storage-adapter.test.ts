// The meta process's StoragePort over a fake Storage gRPC service: requests go to each chain's
// head with the chain version the manager committed, and a chain change reaches the adapter's
// routing by push (no refresh, no gRPC to meta itself).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { serviceImplementation, startGrpcServer, stopGrpcServer } from '../common/rpc.js';
import { StorageService, type Layout, type QueryLastChunkRequest, type RemoveChunksRequest } from '../proto/index.js';
import { ClusterManager } from './mgmt/cluster-manager.js';
import { TestKv } from './mgmt/testing/test-kv.js';
import { MetaStorageAdapter } from './storage-adapter.js';

const removes: RemoveChunksRequest[] = [];
const queries: QueryLastChunkRequest[] = [];
let server: Awaited<ReturnType<typeof startGrpcServer>>['server'];
let address: string;
let manager: ClusterManager;
let adapter: MetaStorageAdapter;

beforeAll(async () => {
  const started = await startGrpcServer(
    [
      {
        definition: StorageService,
        implementation: serviceImplementation({
          removeChunks: async (request: RemoveChunksRequest) => {
            const chain = manager.routingInfo().chains.find((c) => c.chainId === request.chainId);
            if (chain?.chainVersion !== request.chainVersion) {
              throw new SpindleError(
                ErrorCode.CHAIN_VERSION_MISMATCH,
                `chain ${request.chainId} is at ${chain?.chainVersion}`,
              );
            }
            removes.push(request);
            return { removed: 1 };
          },
          queryLastChunk: async (request: QueryLastChunkRequest) => {
            queries.push(request);
            // Chain 2 holds chunk 5 with 1000 bytes; the others hold chunk 1 in full.
            return request.chainId === 2
              ? { found: true, index: 5, length: 1_000 }
              : { found: true, index: 1, length: 65_536 };
          },
        }),
      },
    ],
    '127.0.0.1',
    0,
  );
  server = started.server;
  address = started.address;
  manager = await ClusterManager.open({ kv: new TestKv(), replicas: 3, storageNodesExpected: 3, nodeLeaseMs: 10_000 });
  // Three "nodes" served by the one fake (same address, different target directories).
  for (let n = 1; n <= 3; n++)
    await manager.registerNode({ address, targetPaths: [`/n${n}/0`, `/n${n}/1`, `/n${n}/2`] });
  adapter = new MetaStorageAdapter({ manager, config: clientConfig('test'), clientId: 'meta-test' });
});

afterAll(async () => {
  adapter?.close();
  await manager?.close();
  if (server) await stopGrpcServer(server, 1_000);
});

const layout: Layout = {
  chunkSizeBytes: 65_536,
  stripeWidth: 3,
  chainTableId: 1,
  chainTableVersion: 1,
  chainBase: 0,
  shuffleSeed: 1,
};

describe('MetaStorageAdapter', () => {
  it("starts with the manager routing and removes a file's chunks on every chain of its layout", async () => {
    expect(adapter.routing.version).toBe(manager.routingVersion);
    await adapter.removeChunks(42, layout, 0);
    expect(removes.map((r) => [r.chainId, r.chainVersion, r.ino, r.fromIndex]).sort()).toEqual([
      [1, 1, 42, 0],
      [2, 1, 42, 0],
      [3, 1, 42, 0],
    ]);
    expect(removes.every((r) => r.tag?.clientId === 'meta-test')).toBe(true);
  });

  it('sees a chain update pushed by the manager without fetching', async () => {
    removes.length = 0;
    const chain = manager.routingInfo().chains[1]!;
    await manager.updateChain({ chainId: chain.chainId, targetIds: [...chain.targetIds].reverse() });
    expect(adapter.routing.version).toBe(manager.routingVersion);
    expect(adapter.routing.chain(chain.chainId)?.chainVersion).toBe(2);
    const fetchesBefore = adapter.routing.fetchCount;
    await adapter.removeChunks(43, layout, 2);
    expect(removes.find((r) => r.chainId === chain.chainId)).toMatchObject({ chainVersion: 2, ino: 43, fromIndex: 2 });
    expect(adapter.routing.fetchCount).toBe(fetchesBefore);
  });

  it('recovers a file length from the highest chunk over its chains', async () => {
    expect(await adapter.queryLength(44, layout)).toBe(5 * 65_536 + 1_000);
    expect(new Set(queries.map((q) => q.chainId))).toEqual(new Set([1, 2, 3]));
  });
});
