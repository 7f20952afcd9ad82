// Lease renewal under load (docs/failures.md, "Lease under load"): a heartbeat whose answer is
// late — the manager or the network slow, the node's event loop stalled — must not keep the next
// heartbeat from renewing the lease. Before the fix the loop awaited each heartbeat (up to its
// 5 s deadline) before sleeping another interval, so one stalled answer stopped the node serving
// after half its lease.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { storageConfig } from '../common/config.js';
import { CHANNEL_OPTIONS, insecureChannel } from '../common/rpc.js';
import { StorageClient, type HeartbeatRequest, type HeartbeatResponse } from '../proto/index.js';
import { startStorageNode, type StorageNodeHandle } from './storage-node.js';
import { batchRead, readIO, write, writeRequest } from './testing/cluster.js';
import { FakeMgmt } from './testing/fake-mgmt.js';

let root: string | undefined;
let mgmt: FakeMgmt | undefined;
let node: StorageNodeHandle | undefined;
let client: StorageClient | undefined;

afterEach(async () => {
  client?.close();
  await node?.close();
  await mgmt?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
  root = mgmt = node = client = undefined;
});

describe('heartbeats under load', () => {
  it('a heartbeat answered after half the lease does not stop the node serving: the next ones renew it', async () => {
    root = await mkdtemp(join(tmpdir(), 'spindle-heartbeat-'));
    mgmt = await new FakeMgmt().start();
    const leaseMs = 1_000;
    node = await startStorageNode({
      dataDir: join(root, 'n'),
      metaAddress: mgmt.address,
      targets: 1,
      metricsPort: null,
      config: storageConfig('test', { nodeLeaseMs: `${leaseMs}ms`, heartbeatIntervalMs: '50ms' }),
    });
    const chainVersion = mgmt.setChain(1, [node.targetIds[0]!]).chainVersion;
    await node.refreshRouting();
    client = new StorageClient(node.address, insecureChannel(), CHANNEL_OPTIONS);
    await write(
      client,
      writeRequest({ chainId: 1, chainVersion, chunk: { ino: 1, index: 0 }, data: Buffer.from('a') }),
    );

    // The manager holds the answer to one heartbeat for 1.5 lease-halves (below the old 5 s
    // deadline); the heartbeats after it are answered at once.
    const fake = mgmt;
    const answer = fake.heartbeat.bind(fake);
    let stalled = 0;
    (
      fake as unknown as { heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> | HeartbeatResponse }
    ).heartbeat = (request) => {
      if (stalled++ > 0) return answer(request);
      return new Promise((resolve) => setTimeout(() => resolve(answer(request)), leaseMs * 0.75));
    };
    const codes: number[] = [];
    const until = Date.now() + leaseMs * 1.2;
    while (Date.now() < until) {
      codes.push((await batchRead(client, [readIO(1, chainVersion, { length: 10 })])).results[0]!.status!.code);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stalled).toBeGreaterThan(1);
    expect(codes.filter((code) => code !== 0)).toEqual([]);
  });
});
