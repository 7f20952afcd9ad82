// The standard services on a real gRPC server on loopback, probed by plain grpc-js clients of
// grpc.health.v1.Health and grpc.reflection.v1.ServerReflection: the lifecycle of the health
// statuses, a `servingWhen` condition, Watch streams at stop, and what reflection describes.
import type { Server } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { MetaService, MgmtService } from '../proto/index.js';
import { startGrpcServer, stopGrpcServer } from './rpc.js';
import {
  HEALTH_SERVICE_NAME,
  serviceNameOf,
  WATCH_END_WAIT_MS,
  withStandardServices,
  type StandardServices,
} from './standard-services.js';
import { HealthProbe, ReflectionProbe } from './testing/standard-service-clients.js';

const servers: Server[] = [];
const probes: Array<{ close(): void }> = [];
afterEach(async () => {
  for (const probe of probes.splice(0)) probe.close();
  await Promise.all(servers.splice(0).map((server) => stopGrpcServer(server, 100)));
});

async function start(standard: StandardServices): Promise<{ server: Server; health: HealthProbe; address: string }> {
  const { server, address } = await startGrpcServer(standard.services, '127.0.0.1', 0);
  servers.push(server);
  const health = new HealthProbe(address);
  probes.push(health);
  return { server, health, address };
}

describe('withStandardServices', () => {
  it('names services as their proto package does', () => {
    expect(serviceNameOf(MetaService)).toBe('spindle.Meta');
    expect(serviceNameOf(MgmtService)).toBe('spindle.Mgmt');
  });

  it('reports NOT_SERVING while starting, SERVING once serving, NOT_SERVING for good once stopping', async () => {
    const standard = withStandardServices([
      { definition: MetaService, implementation: {} },
      { definition: MgmtService, implementation: {} },
    ]);
    expect(standard.serviceNames).toEqual(['spindle.Meta', 'spindle.Mgmt']);
    const { health } = await start(standard);
    for (const name of ['', 'spindle.Meta', 'spindle.Mgmt']) expect(await health.check(name)).toBe('NOT_SERVING');
    standard.serving();
    for (const name of ['', 'spindle.Meta', 'spindle.Mgmt']) expect(await health.check(name)).toBe('SERVING');
    await expect(health.check('spindle.Storage')).rejects.toMatchObject({ code: 5 /* NOT_FOUND */ });
    await standard.stopServing();
    standard.serving();
    for (const name of ['', 'spindle.Meta', 'spindle.Mgmt']) expect(await health.check(name)).toBe('NOT_SERVING');
  });

  it('reports a service SERVING only while its condition holds; watchers see changes', async () => {
    let leaseFresh = true;
    const standard = withStandardServices(
      [{ definition: MgmtService, implementation: {}, servingWhen: () => leaseFresh }],
      { pollIntervalMs: 20 },
    );
    const { health } = await start(standard);
    standard.serving();
    const watch = health.watch('spindle.Mgmt');
    await expect.poll(() => watch.statuses).toEqual(['SERVING']);
    leaseFresh = false;
    expect(await health.check('spindle.Mgmt')).toBe('NOT_SERVING');
    expect(await health.check('')).toBe('SERVING');
    await expect.poll(() => watch.statuses).toEqual(['SERVING', 'NOT_SERVING']);
    leaseFresh = true;
    await expect.poll(() => watch.statuses).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    watch.cancel();
    await standard.stopServing();
  });

  it('tells open Watch streams NOT_SERVING and ends them before stopServing() resolves', async () => {
    const standard = withStandardServices([{ definition: MetaService, implementation: {} }]);
    const { server, health } = await start(standard);
    standard.serving();
    const overall = health.watch('');
    const meta = health.watch('spindle.Meta');
    await expect.poll(() => [overall.statuses, meta.statuses]).toEqual([['SERVING'], ['SERVING']]);
    const startedMs = Date.now();
    await standard.stopServing();
    expect(Date.now() - startedMs).toBeLessThan(WATCH_END_WAIT_MS);
    // Once stopServing() resolved, even a server cut at once has delivered the news and the end.
    server.forceShutdown();
    expect(await overall.ended).toBeUndefined();
    expect(await meta.ended).toBeUndefined();
    expect(overall.statuses).toEqual(['SERVING', 'NOT_SERVING']);
    expect(meta.statuses).toEqual(['SERVING', 'NOT_SERVING']);
  });

  it('serves reflection: lists the hosted services and Health, and describes their methods', async () => {
    const standard = withStandardServices([
      { definition: MetaService, implementation: {} },
      { definition: MgmtService, implementation: {} },
    ]);
    const { address } = await start(standard);
    const reflection = new ReflectionProbe(address);
    probes.push(reflection);
    expect(await reflection.listServices()).toEqual([HEALTH_SERVICE_NAME, 'spindle.Meta', 'spindle.Mgmt']);
    expect(await reflection.describeMethod('spindle.Meta', 'Open')).toEqual({
      input: '.spindle.OpenRequest',
      output: '.spindle.OpenResponse',
    });
    expect(await reflection.describeMethod('spindle.Mgmt', 'RegisterNode')).toEqual({
      input: '.spindle.RegisterNodeRequest',
      output: '.spindle.RegisterNodeResponse',
    });
    expect(await reflection.describeMethod(HEALTH_SERVICE_NAME, 'Check')).toEqual({
      input: '.grpc.health.v1.HealthCheckRequest',
      output: '.grpc.health.v1.HealthCheckResponse',
    });
  });
});
