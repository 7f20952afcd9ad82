// The standard gRPC services every Spindle server adds beside its own: health
// (`grpc.health.v1.Health`, so orchestrators and load balancers can probe it) and server
// reflection (v1 and v1alpha, so `grpcurl -plaintext ADDR list` / `describe` work without the
// .proto files at hand). Both servers (meta, storage) build their service list through
// `withStandardServices`, so the wiring exists once.
//
// Guarantees:
// - Health knows the overall status "" and one entry per Spindle service the server hosts, named
//   as in proto/*.proto (`spindle.Meta`, `spindle.Mgmt`, `spindle.Storage`). Every entry is
//   NOT_SERVING until `serving()` (the server finished starting) and again from `stopServing()`
//   on (the server drains or stops); that change is final.
// - Between the two, a service with a `servingWhen` condition is SERVING only while it holds:
//   a Check or List evaluates it on the spot; open Watch streams see changes within
//   `pollIntervalMs`. The overall status follows the lifecycle only (the process serves gRPC).
// - `stopServing()` sends NOT_SERVING to every open Watch stream and then ends it (status OK);
//   its promise resolves once those streams have closed (at most WATCH_END_WAIT_MS), so a server
//   cut right after still delivered the news, and a graceful shutdown does not wait its whole
//   grace period for watchers that never hang up.
// - Reflection describes exactly the services hosted (the Spindle ones and Health) from
//   proto/*.proto at the package root, loaded once per process.
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import { assert, ErrorCode, SpindleError } from './errors.js';
import { PACKAGE_ROOT } from './package-root.js';

/** The health service's own name, as clients ask for it. */
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';
/** How often open Watch streams see a `servingWhen` condition re-evaluated. */
const HEALTH_POLL_INTERVAL_MS = 1_000;
/** stopServing() waits at most this long for ended Watch streams to close. */
export const WATCH_END_WAIT_MS = 1_000;

export interface HostedService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  /** The service is SERVING only while this holds (e.g. a storage node's lease is fresh). */
  servingWhen?: () => boolean;
}

export interface StandardServices {
  /** The hosted services followed by Health and reflection: what to add to the gRPC server. */
  readonly services: Array<{ definition: ServiceDefinition; implementation: UntypedServiceImplementation }>;
  /** Fully qualified names of the hosted services (`spindle.Meta`, ...). */
  readonly serviceNames: readonly string[];
  /** The server finished starting: report SERVING (subject to each `servingWhen`). */
  serving(): void;
  /**
   * The server drains or stops: NOT_SERVING from now on, Watch streams told and ended; resolves
   * once they closed. Idempotent (every call gets the same promise).
   */
  stopServing(): Promise<void>;
}

/** `spindle.Meta` from a definition whose methods have paths like `/spindle.Meta/Open`. */
export function serviceNameOf(definition: ServiceDefinition): string {
  const path = Object.values(definition)[0]?.path;
  assert(typeof path === 'string' && path.startsWith('/'), 'a gRPC service definition has at least one method');
  return path.split('/')[1] ?? '';
}

let reflectionDefinitions: PackageDefinition | undefined;

/** Spindle's .proto files plus health's, parsed once (reflection serves their descriptors). */
function loadReflectionDefinitions(): PackageDefinition {
  if (reflectionDefinitions !== undefined) return reflectionDefinitions;
  const protoDir = join(PACKAGE_ROOT, 'proto');
  // grpc-health-check ships health/v1/health.proto; its include root is two levels up.
  const healthRoot = resolve(dirname(healthProtoPath), '..', '..');
  try {
    const spindleFiles = readdirSync(protoDir).filter((name) => name.endsWith('.proto'));
    reflectionDefinitions = loadSync([...spindleFiles, 'health/v1/health.proto'], {
      includeDirs: [protoDir, healthRoot],
    });
  } catch (err) {
    throw new SpindleError(
      ErrorCode.INTERNAL,
      `cannot load the .proto files for gRPC reflection from ${protoDir} (is the package installed whole?): ` +
        `${(err as Error).message}`,
      { cause: err },
    );
  }
  return reflectionDefinitions;
}

type Handler = (call: WatchCall, callback?: unknown) => void;
interface WatchCall {
  on(event: 'cancelled', listener: () => void): unknown;
  end(): void;
}

/** Adds Health and reflection to `hosted` (see the file comment). */
export function withStandardServices(
  hosted: readonly HostedService[],
  options: { pollIntervalMs?: number } = {},
): StandardServices {
  const serviceNames = hosted.map((service) => serviceNameOf(service.definition));
  const health = new HealthImplementation();
  let state: 'starting' | 'serving' | 'stopped' = 'starting';
  const reported = new Map<string, ServingStatus>();
  const report = (name: string, status: ServingStatus) => {
    // setStatus writes to every watcher even when nothing changed; only changes are news.
    if (reported.get(name) === status) return;
    reported.set(name, status);
    health.setStatus(name, status);
  };
  const refresh = () => {
    const up = state === 'serving';
    report('', up ? 'SERVING' : 'NOT_SERVING');
    hosted.forEach((service, i) => {
      const holds = up && (service.servingWhen === undefined || service.servingWhen());
      report(serviceNames[i] ?? '', holds ? 'SERVING' : 'NOT_SERVING');
    });
  };
  refresh();

  // Health's handlers, captured rather than added to a server, so they can be wrapped: every
  // call sees fresh conditions, and Watch streams are tracked so stopServing() can end them.
  const healthHandlers: Record<string, Handler> = {};
  let healthDefinition: ServiceDefinition | undefined;
  health.addToServer({
    addService: (definition, implementation) => {
      healthDefinition = definition as unknown as ServiceDefinition;
      Object.assign(healthHandlers, implementation);
    },
  });
  assert(healthDefinition !== undefined, 'grpc-health-check added its service');
  const watches = new Set<WatchCall>();
  const fresh =
    (handler: Handler | undefined): Handler =>
    (call, callback) => {
      assert(handler !== undefined, 'grpc-health-check implements Check, Watch and List');
      refresh();
      handler(call, callback);
    };
  const check = fresh(healthHandlers['check']);
  const list = fresh(healthHandlers['list']);
  const watchInner = fresh(healthHandlers['watch']);
  const watch: Handler = (call) => {
    watchInner(call);
    if (state === 'stopped') {
      call.end();
      return;
    }
    watches.add(call);
    call.on('cancelled', () => watches.delete(call));
  };

  const conditional = hosted.some((service) => service.servingWhen !== undefined);
  let poll: NodeJS.Timeout | undefined;
  let stopped: Promise<void> | undefined;

  const reflection = new ReflectionService(loadReflectionDefinitions() as never, {
    services: [...serviceNames, HEALTH_SERVICE_NAME],
  });
  const reflectionServices: StandardServices['services'] = [];
  reflection.addToServer({
    addService: (definition, implementation) => reflectionServices.push({ definition, implementation }),
  });

  return {
    services: [
      ...hosted.map(({ definition, implementation }) => ({ definition, implementation })),
      {
        definition: healthDefinition,
        implementation: { check, watch, list } as unknown as UntypedServiceImplementation,
      },
      ...reflectionServices,
    ],
    serviceNames,
    serving() {
      if (state !== 'starting') return;
      state = 'serving';
      refresh();
      if (conditional) {
        poll = setInterval(refresh, options.pollIntervalMs ?? HEALTH_POLL_INTERVAL_MS);
        poll.unref();
      }
    },
    stopServing() {
      if (stopped !== undefined) return stopped;
      state = 'stopped';
      clearInterval(poll);
      refresh();
      // grpc-js emits 'cancelled' once it handed the status that end() sends (after the
      // NOT_SERVING written above) to HTTP/2; node writes it to the socket from a native
      // immediate queued then, which runs before a setImmediate queued after it.
      const closed = [...watches].map(
        (call) => new Promise<void>((done) => call.on('cancelled', () => setImmediate(done))),
      );
      for (const call of watches) call.end();
      watches.clear();
      stopped = new Promise<void>((done) => {
        const timer = setTimeout(done, WATCH_END_WAIT_MS);
        timer.unref();
        void Promise.all(closed).then(() => {
          clearTimeout(timer);
          done();
        });
      });
      return stopped;
    },
  };
}
