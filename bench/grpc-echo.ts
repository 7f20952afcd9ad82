// A bare grpc-js unary round trip, the floor under every metadata call at depth 1: an echo server
// and a client in two worker processes (as meta and its client are), 64-byte messages passed
// through as Buffers (no protobuf, no handler work), the client calling one at a time.
import {
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  type ServiceDefinition,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { summarize } from './stats.js';
import type { OpResult } from './worker-tasks.js';

const passThrough = (bytes: Buffer) => bytes;
const ECHO_SERVICE: ServiceDefinition = {
  echo: {
    path: '/spindle.bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  },
};
const MESSAGE_BYTES = 64;
/** Untimed calls before the clock starts (connection set up, code optimised). */
const WARMUP_CALLS = 500;

/** Serves Echo on a loopback port; resolves to the port and a way to stop the server. */
export async function startEchoServer(): Promise<{ port: number; close(): void }> {
  const server = new Server();
  server.addService(ECHO_SERVICE, {
    echo: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return { port, close: () => server.forceShutdown() };
}

/** Connects to the echo server and returns a function timing `count` sequential calls. */
export async function connectEchoClient(port: number): Promise<(count: number) => Promise<OpResult>> {
  const Client = makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const request = Buffer.alloc(MESSAGE_BYTES);
  const call = () =>
    new Promise<void>((resolve, reject) =>
      (client as unknown as Record<string, (r: Buffer, cb: (e: Error | null) => void) => void>).echo!(request, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  for (let i = 0; i < WARMUP_CALLS; i++) await call();
  return async (count) => {
    const latencies: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await call();
      latencies.push(performance.now() - started);
    }
    const seconds = (performance.now() - t0) / 1000;
    client.close();
    const s = summarize(latencies);
    return { name: 'grpc.unary', ops: count, bytes: 0, seconds, p50Ms: s.p50, p99Ms: s.p99 };
  };
}
