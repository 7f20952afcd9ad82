// The agent's gRPC server: the common server set-up (large HTTP/2 receive windows) with the
// agent's message limit, bound to a TCP address or a unix socket. Guarantees: resolves once bound,
// with the address clients dial (`host:port` with the real port, or `unix:/path`); a socket file
// left by an agent that died is replaced, while a socket another process still serves, or any
// other file at that path, is refused with a clear error and left alone.
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { RPC_FLOW_CONTROL_WINDOW_BYTES } from '../common/constants.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { tuneServerReceiveWindow } from '../common/rpc.js';
import { type ServerAuth, withAuthentication } from '../common/auth/server-auth.js';
import { serverCredentials } from '../common/tls.js';
import { AGENT_MESSAGE_MAX_BYTES, AGENT_SOCKET_MODE } from './constants.js';
import { formatListenAddress, type ListenAddress } from './listen-address.js';

export interface BoundServer {
  readonly server: Server;
  /** What clients dial: `127.0.0.1:43117`, `[::1]:43117` or `unix:/run/spindle-agent.sock`. */
  readonly address: string;
}

/** Adds `services` to a new server and binds it to `address`. */
export async function listenGrpc(
  services: ReadonlyArray<{ definition: ServiceDefinition; implementation: UntypedServiceImplementation }>,
  address: ListenAddress,
  logger: Pick<Logger, 'warn'>,
  tcpAuth?: ServerAuth,
): Promise<BoundServer> {
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  const server = new Server({
    'grpc.max_receive_message_length': AGENT_MESSAGE_MAX_BYTES,
    'grpc.max_send_message_length': AGENT_MESSAGE_MAX_BYTES,
  });
  const afterBind = tuneServerReceiveWindow(server, RPC_FLOW_CONTROL_WINDOW_BYTES, logger);
  // On TCP every call is checked (agent-auth.ts); a Unix socket is guarded by its file mode.
  const auth = address.kind === 'unix' ? undefined : tcpAuth;
  for (const { definition, implementation } of services)
    server.addService(
      definition,
      auth === undefined ? implementation : withAuthentication(definition, implementation, auth),
    );
  const target = formatListenAddress(address);
  const port = await new Promise<number>((resolve, reject) => {
    // A Unix socket is guarded by its file permissions; TCP gets TLS when configured.
    const security = address.kind === 'unix' ? ServerCredentials.createInsecure() : serverCredentials();
    server.bindAsync(target, security, (err, bound) => {
      if (err === null) resolve(bound);
      else
        reject(
          new SpindleError(ErrorCode.RPC_UNAVAILABLE, `cannot listen on ${target}: ${err.message}`, { cause: err }),
        );
    });
  });
  afterBind?.(server);
  if (address.kind === 'unix') chmodSync(address.path, AGENT_SOCKET_MODE);
  return { server, address: formatListenAddress(address.kind === 'unix' ? address : { ...address, port }) };
}

/** Removes a socket file nobody listens on; refuses a live socket or a file that is not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new SpindleError(
      ErrorCode.EXISTS,
      `cannot listen on unix:${path}: a file that is not a socket is there; remove it or choose another path`,
    );
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) {
    throw new SpindleError(
      ErrorCode.EXISTS,
      `cannot listen on unix:${path}: another process serves that socket (a running agent?); stop it or choose ` +
        'another path',
    );
  }
  unlinkSync(path);
}
