// The storage node's gRPC server: common/rpc.ts startGrpcServer plus HTTP/2 receive windows.
//
// grpc-js applies 'grpc-node.flow_control_window' to client channels only; a server keeps the
// 64 KiB HTTP/2 default for what it receives. Storage servers receive the big messages (Write
// from clients, Update from predecessors), and with a 64 KiB window a 4 MiB upload needs ~64
// window round trips through a busy event loop. So the server advertises the same window as the
// clients, per stream (SETTINGS_INITIAL_WINDOW_SIZE) and per connection.
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { RPC_FLOW_CONTROL_WINDOW_BYTES } from '../../common/constants.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { SERVER_OPTIONS } from '../../common/rpc.js';

/** grpc-js internals this relies on (checked at run time; absent fields leave the defaults). */
interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<Http2Server, unknown>;
}

export async function startStorageGrpcServer(
  services: Array<{ definition: ServiceDefinition; implementation: UntypedServiceImplementation }>,
  host: string,
  port: number,
  windowBytes = RPC_FLOW_CONTROL_WINDOW_BYTES,
): Promise<{ server: Server; address: string; port: number }> {
  const server = new Server(SERVER_OPTIONS);
  const internals = server as unknown as ServerInternals;
  if (internals.commonServerOptions !== undefined) {
    internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: windowBytes };
  }
  for (const { definition, implementation } of services) server.addService(definition, implementation);
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(new SpindleError(ErrorCode.RPC_UNAVAILABLE, `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
      else resolve(bound);
    });
  });
  for (const http2Server of internals.http2Servers?.keys() ?? []) {
    http2Server.on('session', (session: ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(windowBytes);
      } catch {
        // The session closed before it could be tuned; nothing to do.
      }
    });
  }
  return { server, address: `${host}:${boundPort}`, port: boundPort };
}
