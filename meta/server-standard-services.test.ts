// The meta server's standard gRPC services, probed as an orchestrator or grpcurl would: health
// for "" and each hosted service while it runs, NOT_SERVING to a watcher once it stops (then the
// port is gone), and reflection listing and describing Meta and Mgmt.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HealthProbe, ReflectionProbe } from '../common/testing/standard-service-clients.js';
import { META_DRAIN_GRACE_MS, startMetaServer } from './server.js';

const dataDir = mkdtempSync(join(tmpdir(), 'spindle-meta-standard-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('meta server standard services', () => {
  it('serves health and reflection while it runs; a watcher sees NOT_SERVING when it closes', async () => {
    const server = await startMetaServer({ dataDir, preset: 'test' });
    const health = new HealthProbe(server.address);
    const reflection = new ReflectionProbe(server.address);
    try {
      for (const name of ['', 'spindle.Meta', 'spindle.Mgmt']) expect(await health.check(name)).toBe('SERVING');
      expect(await reflection.listServices()).toEqual(['grpc.health.v1.Health', 'spindle.Meta', 'spindle.Mgmt']);
      expect(await reflection.describeMethod('spindle.Meta', 'Stat')).toEqual({
        input: '.spindle.StatRequest',
        output: '.spindle.InodeResponse',
      });
      expect(await reflection.describeMethod('spindle.Mgmt', 'Heartbeat')).toEqual({
        input: '.spindle.HeartbeatRequest',
        output: '.spindle.HeartbeatResponse',
      });

      const watch = health.watch('spindle.Meta');
      await expect.poll(() => watch.statuses).toEqual(['SERVING']);
      const startedMs = Date.now();
      await server.close();
      // The watcher is told, then its stream ends, so close() does not wait out the drain grace.
      expect(Date.now() - startedMs).toBeLessThan(META_DRAIN_GRACE_MS);
      expect(await watch.ended).toBeUndefined();
      expect(watch.statuses).toEqual(['SERVING', 'NOT_SERVING']);
      // The port is gone: a fresh probe (as an orchestrator sends) cannot connect.
      const fresh = new HealthProbe(server.address);
      await expect(fresh.check('', 1_000)).rejects.toMatchObject({ code: 14 /* UNAVAILABLE */ });
      fresh.close();
    } finally {
      health.close();
      reflection.close();
      await server.close();
    }
  });
});
