// An agent: a Spindle client that serves workload services (AGENT_SERVICES: the Loader,
// Checkpoints and KvCache) to trainers in any language over gRPC, beside health and reflection
// (common/standard-services.ts).
// `spindle agent` (cli/agent-command.ts) runs one in the foreground.
//
// Guarantees: startAgent resolves once the cluster is reachable and the server is bound and
// SERVING, or rejects having closed whatever it opened. close() is idempotent: health turns
// NOT_SERVING, open streams end (UNAVAILABLE, their loaders closed), the server drains for at most
// AGENT_STOP_GRACE_MS, then the client closes.
import type { Server } from '@grpc/grpc-js';
import { SpindleClient } from '../client/spindle-client.js';
import type { Preset } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import { stopGrpcServer } from '../common/rpc.js';
import { withStandardServices } from '../common/standard-services.js';
import { AGENT_CONNECT_TIMEOUT_MS, AGENT_STOP_GRACE_MS } from './constants.js';
import { listenGrpc } from './grpc-listener.js';
import { agentTcpAuth } from './agent-auth.js';
import { resolveToken } from '../common/auth/token-source.js';
import type { ListenAddress } from './listen-address.js';
import { CheckpointsServiceImpl } from './checkpoints-service.js';
import { KvCacheServiceImpl } from './kvcache-service.js';
import { LoaderServiceImpl } from './loader-service.js';
import type { AgentService } from './service-support.js';

/** What a service of the agent is built from. */
interface ServiceContext {
  readonly client: SpindleClient;
  readonly logger: Logger;
}

/** The services every agent hosts, in this order. */
const AGENT_SERVICES: ReadonlyArray<(context: ServiceContext) => AgentService> = [
  ({ client, logger }) => new LoaderServiceImpl(client, logger),
  ({ client, logger }) => new CheckpointsServiceImpl(client, logger),
  ({ client, logger }) => new KvCacheServiceImpl(client, logger),
];

export interface AgentOptions {
  /** host:port of the cluster's meta. */
  readonly meta: string;
  readonly listen: ListenAddress;
  readonly logger: Logger;
  /** The client's config preset (default production). */
  readonly preset?: Preset;
  /** Give up waiting for the cluster after this long (default AGENT_CONNECT_TIMEOUT_MS). */
  readonly connectTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface Agent {
  /** What clients dial: `127.0.0.1:PORT`, `[::1]:PORT` or `unix:/path`. */
  readonly address: string;
  readonly metaAddress: string;
  /** The hosted services' names (`spindle.Loader`, ...). */
  readonly serviceNames: readonly string[];
  close(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<Agent> {
  const logger = options.logger;
  // The agent's own token (--token-file, SPINDLE_TOKEN, or the credentials file): it uses it with
  // the cluster and TCP callers must present it.
  const token = resolveToken({ metaAddress: options.meta });
  const client = await SpindleClient.connect({
    meta: options.meta,
    token,
    preset: options.preset,
    readyTimeoutMs: options.connectTimeoutMs ?? AGENT_CONNECT_TIMEOUT_MS,
    logger: logger.child({ component: 'agent.client' }),
    signal: options.signal,
  });
  const services: AgentService[] = [];
  try {
    for (const make of AGENT_SERVICES) services.push(make({ client, logger }));
    const standard = withStandardServices(services);
    const { server, address } = await listenGrpc(
      standard.services,
      options.listen,
      logger,
      agentTcpAuth(token, logger),
    );
    standard.serving();
    logger.info({ address, meta: options.meta, services: standard.serviceNames }, 'agent serving');
    let closing: Promise<void> | undefined;
    return {
      address,
      metaAddress: options.meta,
      serviceNames: standard.serviceNames,
      close() {
        closing ??= stop(server, standard.stopServing(), services, client);
        return closing;
      },
    };
  } catch (err) {
    await Promise.allSettled(services.map((service) => service.close()));
    await client.close();
    throw err;
  }
}

async function stop(
  server: Server,
  healthStopped: Promise<void>,
  services: readonly AgentService[],
  client: SpindleClient,
): Promise<void> {
  await healthStopped;
  await Promise.allSettled(services.map((service) => service.close()));
  await stopGrpcServer(server, AGENT_STOP_GRACE_MS);
  await client.close();
}
