import { request } from 'node:http';
import { Counter } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createRegistry, startMetricsServer } from './metrics.js';

function get(address: string, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}${path}`, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('metrics', () => {
  it('registries are independent', async () => {
    const a = createRegistry();
    const b = createRegistry();
    new Counter({ name: 'spindle_test_things_total', help: 'things', registers: [a] }).inc(3);
    new Counter({ name: 'spindle_test_things_total', help: 'things', registers: [b] }).inc(5);
    expect(await a.metrics()).toContain('spindle_test_things_total 3');
    expect(await b.metrics()).toContain('spindle_test_things_total 5');
  });

  it('default process metrics are opt-in', async () => {
    expect(await createRegistry().metrics()).not.toContain('spindle_process_');
    expect(await createRegistry({ defaultMetrics: true }).metrics()).toContain('spindle_process_cpu');
  });

  it('serves GET /metrics, 404 otherwise, and closes idempotently', async () => {
    const registry = createRegistry({ labels: { node: '7' } });
    const counter = new Counter({ name: 'spindle_test_requests_total', help: 'requests', registers: [registry] });
    counter.inc(2);
    const server = await startMetricsServer(registry, '127.0.0.1', 0);
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.port).toBeGreaterThan(0);

    const ok = await get(server.address, '/metrics?x=1');
    expect(ok.status).toBe(200);
    expect(ok.type).toMatch(/^text\/plain/);
    expect(ok.body).toContain('# TYPE spindle_test_requests_total counter');
    expect(ok.body).toContain('spindle_test_requests_total{node="7"} 2');

    expect((await get(server.address, '/')).status).toBe(404);
    expect((await get(server.address, '/metrics', 'POST')).status).toBe(404);

    await Promise.all([server.close(), server.close()]);
    await server.close();
    await expect(get(server.address, '/metrics')).rejects.toThrow();
  });

  it('reports a port in use as an error', async () => {
    const first = await startMetricsServer(createRegistry(), '127.0.0.1', 0);
    await expect(startMetricsServer(createRegistry(), '127.0.0.1', first.port)).rejects.toThrow(/cannot serve metrics/);
    await first.close();
  });
});
