// gRPC plumbing shared by every service and client: channel and server options that matter for
// throughput (large HTTP/2 windows on both ends), the handler wrapper that maps errors at the
// service edge, and a promise-based unary call that rebuilds typed errors from trailers.
import {
  credentials,
  Metadata,
  Server,
  type ChannelOptions,
  type Client,
  type handleUnaryCall,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { ErrorCode, SpindleError } from './errors.js';
import './strict-utf8.js';
import { UndecodableRequest, withUndecodableRequests } from './undecodable-request.js';
import { fromGrpcError, toGrpcError } from './grpc-errors.js';
import type { Logger } from './logger.js';
import { RPC_MESSAGE_MAX_BYTES, RPC_FLOW_CONTROL_WINDOW_BYTES } from './constants.js';
import { ANONYMOUS_ADMIN, type Principal } from './auth/principal.js';
import { CALL_PRINCIPAL, type ServerAuth, withAuthentication } from './auth/server-auth.js';
import { serverCredentials } from './tls.js';

/** Options for every Spindle gRPC channel (see docs/design.md §5: the window is the one that matters). */
export const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': RPC_MESSAGE_MAX_BYTES,
  'grpc.max_send_message_length': RPC_MESSAGE_MAX_BYTES,
  'grpc-node.flow_control_window': RPC_FLOW_CONTROL_WINDOW_BYTES,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.enable_retries': 0,
};

/** Options for every Spindle gRPC server. */
const SERVER_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': RPC_MESSAGE_MAX_BYTES,
  'grpc.max_send_message_length': RPC_MESSAGE_MAX_BYTES,
};

/** Plain-text channel credentials (tests and tools that talk to a server without TLS). */
export const insecureChannel = () => credentials.createInsecure();

/** Credentials of every channel: TLS when this process is configured for it (common/tls.ts), else plain. */
export { channelCredentials } from './tls.js';

/** Context a handler gets besides its request. */
export interface CallContext {
  /** Peer address, for logs. */
  readonly peer: string;
  /**
   * Aborted when the caller cancels or its deadline passes. Created on first use: a handler that
   * never reads it costs no AbortController, listener or DOMException.
   */
  readonly signal: AbortSignal;
  /** Who is calling, from the call's verified credential (ANONYMOUS_ADMIN when auth is off). */
  readonly principal: Principal;
}

type AsyncHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;

/**
 * The CallContext of one server call. grpc-js reports 'cancelled' when a stream closes for any
 * reason — after every answered call too — so the abort signal is made only when a handler asks
 * for it, and a call that has already been answered is not aborted (aborting builds a
 * DOMException: ≈ 7 % of meta's CPU when every call paid for it).
 */
class ServerCallContext implements CallContext {
  private controller: AbortController | undefined;
  /** The handler settled: a later 'cancelled' is the stream closing, not the caller leaving. */
  settled = false;
  readonly principal: Principal;

  constructor(private readonly call: ServerUnaryCall<unknown, unknown>) {
    this.principal = (call as unknown as Record<symbol, Principal | undefined>)[CALL_PRINCIPAL] ?? ANONYMOUS_ADMIN;
  }

  get peer(): string {
    return this.call.getPeer();
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.call.cancelled) controller.abort();
      else this.call.once('cancelled', () => this.cancel());
    }
    return this.controller.signal;
  }

  private cancel(): void {
    if (!this.settled) this.controller?.abort();
  }
}

/**
 * Turns `async (req, ctx) => res` into a grpc-js unary handler. Thrown SpindleErrors travel as
 * typed trailers; anything else becomes INTERNAL (and is logged by the caller's `onError`).
 */
function unaryHandler<Req, Res>(
  handler: AsyncHandler<Req, Res>,
  onError?: (err: unknown, request: Req) => void,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    let request: Req;
    try {
      request = call.request;
    } catch (err) {
      callback(
        toGrpcError(new SpindleError(ErrorCode.RPC_MALFORMED, 'request could not be decoded', { cause: err })) as never,
      );
      return;
    }
    if (request instanceof UndecodableRequest) {
      callback(toGrpcError(request.toError(call.getPath())) as never);
      return;
    }
    const context = new ServerCallContext(call as ServerUnaryCall<unknown, unknown>);
    handler(request, context).then(
      (response) => {
        context.settled = true;
        callback(null, response);
      },
      (err: unknown) => {
        context.settled = true;
        onError?.(err, request);
        callback(toGrpcError(err) as never);
      },
    );
  };
}

/** Builds the implementation object of a service from async handlers, all wrapped. */
// biome-ignore lint/suspicious/noExplicitAny: each handler keeps its own request and response types
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

export interface GrpcServerOptions {
  /** HTTP/2 receive window the server advertises, per stream and per connection. */
  flowControlWindowBytes?: number;
  /** Told once per process if the window cannot be applied (grpc-js internals changed). */
  logger?: Pick<Logger, 'warn'>;
  /**
   * Check every call's bearer token and role (common/auth/server-auth.ts) before its handler runs;
   * absent: authentication is off and every handler sees ANONYMOUS_ADMIN.
   */
  auth?: ServerAuth;
}

/**
 * The grpc-js internals the receive-window tuning relies on (grpc-js 1.14). grpc-js applies
 * 'grpc-node.flow_control_window' to client channels only; a server keeps the 64 KiB HTTP/2
 * default for what it receives, so a 4 MiB Write or Update needs ~64 window round trips through a
 * busy event loop. `commonServerOptions` is what bindAsync passes to http2.createServer (we add
 * SETTINGS_INITIAL_WINDOW_SIZE, the per-stream window), and `http2Servers` holds the servers it
 * created (we raise each new session's connection window, as node's http2 docs show). Both are
 * private: they are checked at run time, and when either is missing the server keeps grpc-js's
 * defaults (slower, still correct) and the logger is told once.
 */
interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> } & Record<string, unknown>;
  http2Servers?: Map<Http2Server, unknown>;
}

let windowTuningWarned = false;

function warnWindowTuningOnce(logger: Pick<Logger, 'warn'> | undefined, missing: string): void {
  if (windowTuningWarned) return;
  windowTuningWarned = true;
  logger?.warn(
    { missing },
    'grpc-js internals changed: gRPC servers keep the 64 KiB HTTP/2 receive window (large writes are slower); ' +
      'update common/rpc.ts',
  );
}

/**
 * Sets the per-stream receive window a server advertises; call before bindAsync. Returns a
 * function to call after binding (raises each session's connection window), or undefined when the
 * internals are not there (nothing was changed).
 */
export function tuneServerReceiveWindow(
  server: Server,
  windowBytes: number,
  logger?: Pick<Logger, 'warn'>,
): ((server: Server) => void) | undefined {
  const internals = server as unknown as ServerInternals;
  const common = internals.commonServerOptions;
  if (common === null || typeof common !== 'object' || !(internals.http2Servers instanceof Map)) {
    warnWindowTuningOnce(
      logger,
      common === null || typeof common !== 'object' ? 'Server.commonServerOptions' : 'Server.http2Servers',
    );
    return undefined;
  }
  common.settings = { ...common.settings, initialWindowSize: windowBytes };
  return (bound) => {
    const servers = (bound as unknown as ServerInternals).http2Servers;
    if (!(servers instanceof Map) || servers.size === 0) {
      warnWindowTuningOnce(logger, 'Server.http2Servers after bind');
      return;
    }
    for (const http2Server of servers.keys()) {
      if (typeof http2Server?.on !== 'function') continue;
      http2Server.on('session', (session: ServerHttp2Session) => {
        try {
          session.setLocalWindowSize(windowBytes);
        } catch {
          // The session closed before it could be tuned; nothing to do.
        }
      });
    }
  };
}

/**
 * Starts a gRPC server on host:port (port 0 picks one) and resolves to the bound address. Every
 * Spindle server receives with RPC_FLOW_CONTROL_WINDOW_BYTES windows (see tuneServerReceiveWindow).
 */
export async function startGrpcServer(
  services: Array<{ definition: ServiceDefinition; implementation: UntypedServiceImplementation }>,
  host: string,
  port: number,
  options: GrpcServerOptions = {},
): Promise<{ server: Server; address: string; port: number }> {
  const server = new Server(SERVER_OPTIONS);
  const afterBind = tuneServerReceiveWindow(
    server,
    options.flowControlWindowBytes ?? RPC_FLOW_CONTROL_WINDOW_BYTES,
    options.logger,
  );
  const auth = options.auth;
  for (const { definition, implementation } of services) {
    const checked = auth === undefined ? implementation : withAuthentication(definition, implementation, auth);
    server.addService(withUndecodableRequests(definition), checked);
  }
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, serverCredentials(), (err, bound) => {
      if (err)
        reject(
          new SpindleError(ErrorCode.RPC_UNAVAILABLE, `cannot listen on ${host}:${port}: ${err.message}`, {
            cause: err,
          }),
        );
      else resolve(bound);
    });
  });
  afterBind?.(server);
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
  const signal = options.signal;
  return new Promise<Res>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new SpindleError(ErrorCode.CANCELLED, `${what}: cancelled`));
      return;
    }
    // grpc-js makes a Metadata itself when none is passed, so passing a fresh one costs nothing
    // extra; the abort listener exists only when the caller gave a signal.
    const callOptions: Partial<import('@grpc/grpc-js').CallOptions> =
      options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
    if (signal === undefined) {
      method.call(client, request, new Metadata(), callOptions, (err, response) => {
        if (err) reject(fromGrpcError(err, what));
        else resolve(response);
      });
      return;
    }
    const call = method.call(client, request, new Metadata(), callOptions, (err, response) => {
      signal.removeEventListener('abort', onAbort);
      if (err) reject(fromGrpcError(err, what));
      else resolve(response);
    });
    const onAbort = () => call.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
