// gRPC plumbing shared by every service and client: channel options that matter for throughput,
// the handler wrapper that maps errors at the service edge, and a promise-based unary call that
// rebuilds typed errors from trailers.
import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ChannelOptions,
  type Client,
  type handleUnaryCall,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { ErrorCode, SpindleError, fromGrpcError, toGrpcError } from './errors.js';
import { RPC_MESSAGE_MAX_BYTES, RPC_FLOW_CONTROL_WINDOW_BYTES } from './constants.js';

/** Options for every Spindle gRPC channel (see DESIGN §5: the window is the one that matters). */
export const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': RPC_MESSAGE_MAX_BYTES,
  'grpc.max_send_message_length': RPC_MESSAGE_MAX_BYTES,
  'grpc-node.flow_control_window': RPC_FLOW_CONTROL_WINDOW_BYTES,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.enable_retries': 0,
};

/** Options for every Spindle gRPC server. */
export const SERVER_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': RPC_MESSAGE_MAX_BYTES,
  'grpc.max_send_message_length': RPC_MESSAGE_MAX_BYTES,
};

export const insecureChannel = () => credentials.createInsecure();

/** Context a handler gets besides its request. */
export interface CallContext {
  /** Peer address, for logs. */
  readonly peer: string;
  /** Aborted when the caller cancels or its deadline passes. */
  readonly signal: AbortSignal;
}

type AsyncHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;

/**
 * Turns `async (req, ctx) => res` into a grpc-js unary handler. Thrown SpindleErrors travel as
 * typed trailers; anything else becomes INTERNAL (and is logged by the caller's `onError`).
 */
export function unaryHandler<Req, Res>(
  handler: AsyncHandler<Req, Res>,
  onError?: (err: unknown, request: Req) => void,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    let request: Req;
    try {
      request = call.request;
    } catch (err) {
      callback(toGrpcError(new SpindleError(ErrorCode.RPC_MALFORMED, 'request could not be decoded', { cause: err })) as never);
      return;
    }
    handler(request, { peer: call.getPeer(), signal: controller.signal }).then(
      (response) => callback(null, response),
      (err: unknown) => {
        onError?.(err, request);
        callback(toGrpcError(err) as never);
      },
    );
  };
}

/** Builds the implementation object of a service from async handlers, all wrapped. */
export function serviceImplementation<T extends Record<string, AsyncHandler<any, any>>>(
  handlers: T,
  onError?: (method: string, err: unknown) => void,
): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(handlers)) {
    implementation[name] = unaryHandler(handler, onError ? (err) => onError(name, err) : undefined);
  }
  return implementation;
}

/** Starts a gRPC server on host:port (port 0 picks one) and resolves to the bound address. */
export async function startGrpcServer(
  services: Array<{ definition: ServiceDefinition; implementation: UntypedServiceImplementation }>,
  host: string,
  port: number,
): Promise<{ server: Server; address: string; port: number }> {
  const server = new Server(SERVER_OPTIONS);
  for (const { definition, implementation } of services) server.addService(definition, implementation);
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(new SpindleError(ErrorCode.RPC_UNAVAILABLE, `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
      else resolve(bound);
    });
  });
  return { server, address: `${host}:${boundPort}`, port: boundPort };
}

/** Stops a server: lets in-flight calls finish for `graceMs`, then cuts the rest. */
export async function stopGrpcServer(server: Server, graceMs = 2_000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface CallOptions {
  /** Give up after this long; the server sees the deadline too. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: import('@grpc/grpc-js').Metadata,
  options: Partial<import('@grpc/grpc-js').CallOptions>,
  callback: (err: import('@grpc/grpc-js').ServiceError | null, response: Res) => void,
) => import('@grpc/grpc-js').ClientUnaryCall;

/**
 * Calls a unary method of a generated client and resolves with its response, or rejects with a
 * typed SpindleError (`what` names the call in messages, e.g. 'meta.Open').
 */
export function callUnary<C extends Client, Req, Res>(
  client: C,
  method: (this: C, ...args: Parameters<UnaryMethod<Req, Res>>) => ReturnType<UnaryMethod<Req, Res>>,
  request: Req,
  what: string,
  options: CallOptions = {},
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new SpindleError(ErrorCode.CANCELLED, `${what}: cancelled`));
      return;
    }
    const callOptions: Partial<import('@grpc/grpc-js').CallOptions> = {};
    if (options.timeoutMs !== undefined) callOptions.deadline = new Date(Date.now() + options.timeoutMs);
    const call = method.call(client, request, new Metadata(), callOptions, (err, response) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(fromGrpcError(err, what));
      else resolve(response);
    });
    const onAbort = () => call.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
