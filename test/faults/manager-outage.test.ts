// A long manager outage must not make the restarted manager declare healthy storage nodes failed:
// storage nodes reconnect within about a second (capped gRPC reconnect backoff on their manager
// link), well inside the fresh failure timeout the restarted manager grants them.
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import { routingOf } from '../harness/replicas.js';
import { allServing, sleep, waitForRouting } from './support.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });

describe('manager outage', () => {
  it('a 15 s meta outage changes no chain: every node reconnects before the failure timeout', async () => {
    const c = cluster();
    await waitForRouting(c.metaAddress, 'every target serving', allServing, 60_000);
    const chainsOf = async () =>
      (await routingOf(c.metaAddress)).chains.map((x) => ({
        chainId: x.chainId,
        chainVersion: x.chainVersion,
        targetIds: x.targetIds,
      }));
    const before = await chainsOf();
    await c.killMeta('SIGKILL');
    // Long enough for grpc-js's default reconnect backoff (1 s × 1.6ⁿ) to grow past the failure timeout.
    await sleep(15_000);
    await c.restartMeta();
    await waitForRouting(c.metaAddress, 'every target serving after the restart', allServing, 60_000);
    // Two failure timeouts (test preset 2.5 s) after the restart: a node that had not reconnected
    // would have been declared failed and its chains changed by now.
    await sleep(6_000);
    expect(await chainsOf()).toEqual(before);
  }, 120_000);
});
