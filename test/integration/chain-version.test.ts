// Chain versions fence every storage request (docs/design.md §4): after Mgmt.UpdateChain reorders a chain
// (its version bumps), a request carrying the old version is refused with CHAIN_VERSION_MISMATCH
// by the storage nodes, and a client whose cached routing is stale refreshes and succeeds.
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { chainForChunk } from '../../common/placement.js';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { MgmtClient, type ChainInfo } from '../../proto/index.js';
import { useCluster, testChannelOptions } from '../harness/cluster.js';
import { addressOfTarget, routingOf, StorageClients, tableChains } from '../harness/replicas.js';

const cluster = useCluster();

/** Sum of spindle_storage_requests_total{result="CHAIN_VERSION_MISMATCH"} over all storage nodes. */
async function mismatchCount(): Promise<number> {
  let total = 0;
  for (const node of cluster().nodes) {
    const text = await (await fetch(`http://${node.metrics}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith('spindle_storage_requests_total{') && line.includes('result="CHAIN_VERSION_MISMATCH"')) {
        total += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
    }
  }
  return total;
}

async function dumpWithVersion(
  storage: StorageClients,
  address: string,
  chainId: number,
  chainVersion: number,
): Promise<unknown> {
  const client = storage.get(address);
  try {
    return await callUnary(
      client,
      client.dumpChunkMeta,
      { chainId, chainVersion, limit: 1, ino: 0 },
      'storage.DumpChunkMeta',
      { timeoutMs: 5_000 },
    );
  } catch (err) {
    return err;
  }
}

describe('chain version fencing', () => {
  it('a stale chain version is refused, and a client with stale routing refreshes and succeeds', async () => {
    // A client that would not refresh routing on its own during the test.
    const client = await cluster().client({ config: { routingRefreshIntervalMs: 3_600_000 } });
    const first = randomBytes(100_000);
    await client.writeFile('/fenced.bin', first);
    expect((await client.readFile('/fenced.bin')).equals(first)).toBe(true);

    const stat = await client.stat('/fenced.bin');
    const before = await routingOf(cluster().metaAddress);
    const chains = tableChains(before, stat.layout!.chainTableId);
    const chainId = chainForChunk(
      stat.layout!,
      chains.map((c) => c.chainId),
      0,
    );
    const oldChain = chains.find((c) => c.chainId === chainId)!;

    // Reorder the chain: the old tail becomes head.
    const mgmt = new MgmtClient(cluster().metaAddress, insecureChannel(), testChannelOptions(cluster().metaAddress));
    let newChain: ChainInfo;
    try {
      const response = await callUnary(
        mgmt,
        mgmt.updateChain,
        { tag: { clientId: randomUUID(), requestId: 1 }, chainId, targetIds: [...oldChain.targetIds].reverse() },
        'mgmt.UpdateChain',
      );
      newChain = response.chain!;
    } finally {
      mgmt.close();
    }
    expect(newChain.chainVersion).toBe(oldChain.chainVersion + 1);
    expect(newChain.targetIds).toEqual([...oldChain.targetIds].reverse());

    // Every replica learns the new version (heartbeats) and then refuses the old one.
    const storage = new StorageClients();
    try {
      const addresses = oldChain.targetIds.map((t) => addressOfTarget(before, t).address);
      const deadline = Date.now() + 20_000;
      for (const address of addresses) {
        for (;;) {
          const result = await dumpWithVersion(storage, address, chainId, newChain.chainVersion);
          if (!(result instanceof Error)) break;
          if (Date.now() > deadline) throw result;
          await new Promise((r) => setTimeout(r, 100));
        }
        const stale = await dumpWithVersion(storage, address, chainId, oldChain.chainVersion);
        expect(stale).toBeInstanceOf(SpindleError);
        expect((stale as SpindleError).errorCode).toBe(ErrorCode.CHAIN_VERSION_MISMATCH);
      }
    } finally {
      storage.close();
    }

    // The client still holds the old version: its write is refused once, then it refreshes and succeeds.
    const mismatchesBefore = await mismatchCount();
    const second = randomBytes(100_000);
    const handle = await client.open('/fenced.bin', 'r+');
    await handle.write(second, 0, second.length, 0);
    await handle.close();
    expect(await mismatchCount()).toBeGreaterThan(mismatchesBefore);
    expect((await client.readFile('/fenced.bin')).equals(second)).toBe(true);
    const other = await cluster().client();
    expect((await other.readFile('/fenced.bin')).equals(second)).toBe(true);
  }, 120_000);
});
