// Prometheus metrics: a Registry per node (injected, so several nodes can live in one test
// process without clashing names) and a tiny HTTP server answering GET /metrics in the text
// exposition format. Metric names follow spindle_<component>_<thing>_<unit> (docs/metrics.md).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ErrorCode, SpindleError } from './errors.js';

export { Registry };

export interface RegistryOptions {
  /** Also collect the process metrics of prom-client (CPU, memory, event-loop lag, GC). */
  defaultMetrics?: boolean;
  /** Labels on every metric of this registry (e.g. { node: '3' }); keep them bounded. */
  labels?: Record<string, string>;
}

export function createRegistry(options: RegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'spindle_' });
  return registry;
}

export interface MetricsServer {
  /** host:port the server listens on (port 0 resolved). */
  readonly address: string;
  readonly port: number;
  /** Stops listening and cuts open connections; idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Decides whether a request may read the metrics (common/auth/metrics-access.ts); absent: everyone. */
type MetricsAccess = (remoteAddress: string | undefined, authorization: string | undefined) => boolean;

/** Serves `registry` at GET /metrics on host:port (port 0 picks one); everything else is 404. */
export async function startMetricsServer(
  registry: Registry,
  host: string,
  port: number,
  access?: MetricsAccess,
): Promise<MetricsServer> {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try GET /metrics\n');
      return;
    }
    if (access !== undefined && !access(request.socket.remoteAddress, request.headers.authorization)) {
      response
        .writeHead(401, { 'content-type': 'text/plain; charset=utf-8' })
        .end('/metrics from beyond loopback needs `Authorization: Bearer <token>` (docs/security.md)\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        response
          .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`metrics collection failed: ${String(err)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) =>
      reject(
        new SpindleError(ErrorCode.IO_ERROR, `cannot serve metrics on ${host}:${port}: ${err.message}`, { cause: err }),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.unref();
  const bound = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return { address: `${hostPart}:${bound}`, port: bound, close, [Symbol.asyncDispose]: close };
}
