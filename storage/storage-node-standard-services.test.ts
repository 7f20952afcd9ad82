// A storage node's standard gRPC services: health for "" and spindle.Storage once registered,
// spindle.Storage NOT_SERVING while the node cannot renew its lease with the manager (and back),
// NOT_SERVING to a watcher at close; reflection listing and describing Storage.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { storageConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { HealthProbe, ReflectionProbe } from '../common/testing/standard-service-clients.js';
import { startStorageNode } from './storage-node.js';
import { FakeMgmt } from './testing/fake-mgmt.js';

let root: string | undefined;
let mgmt: FakeMgmt | undefined;
afterEach(async () => {
  await mgmt?.close();
  mgmt = undefined;
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('storage node standard services', () => {
  it('reports Storage NOT_SERVING while its lease is lost, serves reflection, tells watchers at close', async () => {
    root = await mkdtemp(join(tmpdir(), 'spindle-storage-standard-'));
    mgmt = await new FakeMgmt().start();
    const node = await startStorageNode({
      dataDir: join(root, 'n'),
      metaAddress: mgmt.address,
      targets: 1,
      config: storageConfig('test', { nodeLeaseMs: '2s', heartbeatIntervalMs: '50ms' }),
      metricsPort: null,
    });
    const health = new HealthProbe(node.address);
    const reflection = new ReflectionProbe(node.address);
    try {
      expect(await health.check('')).toBe('SERVING');
      expect(await health.check('spindle.Storage')).toBe('SERVING');
      expect(await reflection.listServices()).toEqual(['grpc.health.v1.Health', 'spindle.KvStore', 'spindle.Storage']);
      expect(await reflection.describeMethod('spindle.Storage', 'Write')).toEqual({
        input: '.spindle.WriteRequest',
        output: '.spindle.WriteResponse',
      });

      mgmt.failWith = new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'manager down');
      await expect.poll(() => health.check('spindle.Storage'), { timeout: 5_000 }).toBe('NOT_SERVING');
      // The process still serves gRPC (it answers, and refuses data calls itself).
      expect(await health.check('')).toBe('SERVING');
      mgmt.failWith = undefined;
      await expect.poll(() => health.check('spindle.Storage'), { timeout: 5_000 }).toBe('SERVING');

      const watch = health.watch('');
      await expect.poll(() => watch.statuses).toEqual(['SERVING']);
      await node.close();
      expect(await watch.ended).toBeUndefined();
      expect(watch.statuses).toEqual(['SERVING', 'NOT_SERVING']);
      // The port is gone: a fresh probe (as an orchestrator sends) cannot connect.
      const fresh = new HealthProbe(node.address);
      await expect(fresh.check('', 1_000)).rejects.toMatchObject({ code: 14 /* UNAVAILABLE */ });
      fresh.close();
    } finally {
      health.close();
      reflection.close();
      await node.close();
    }
  });
});
