import { connect, type ClientHttp2Session } from 'node:http2';
import { once } from 'node:events';
import { makeGenericClientConstructor, type Client, type Server, type ServiceDefinition } from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RPC_FLOW_CONTROL_WINDOW_BYTES } from './constants.js';
import { ErrorCode, SpindleError, isSpindleError } from './errors.js';
import {
  CHANNEL_OPTIONS,
  callUnary,
  insecureChannel,
  serviceImplementation,
  startGrpcServer,
  stopGrpcServer,
  tuneServerReceiveWindow,
  type CallContext,
} from './rpc.js';

describe('startGrpcServer receive windows', () => {
  let server: Server | undefined;
  let session: ClientHttp2Session | undefined;
  afterEach(async () => {
    session?.destroy();
    if (server) await stopGrpcServer(server, 100);
    server = session = undefined;
  });

  it('advertises RPC_FLOW_CONTROL_WINDOW_BYTES per stream and per connection (not the 64 KiB default)', async () => {
    const started = await startGrpcServer([], '127.0.0.1', 0);
    server = started.server;
    session = connect(`http://${started.address}`);
    const [settings] = (await once(session, 'remoteSettings')) as [{ initialWindowSize?: number }];
    expect(settings.initialWindowSize).toBe(RPC_FLOW_CONTROL_WINDOW_BYTES);
    // The connection window arrives as a WINDOW_UPDATE right after the settings.
    await vi.waitFor(() => expect(session!.state.remoteWindowSize).toBe(RPC_FLOW_CONTROL_WINDOW_BYTES), {
      timeout: 5_000,
    });
  });

  it('falls back to the defaults and warns once when the grpc-js internals are missing', () => {
    const warn = vi.fn();
    const fake = {} as Server;
    expect(tuneServerReceiveWindow(fake, 1 << 20, { warn })).toBeUndefined();
    expect(tuneServerReceiveWindow(fake, 1 << 20, { warn })).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(fake).toEqual({});
  });
});

describe('unaryHandler call context', () => {
  const identity = {
    requestSerialize: (v: Buffer) => v,
    requestDeserialize: (v: Buffer) => v,
    responseSerialize: (v: Buffer) => v,
    responseDeserialize: (v: Buffer) => v,
  };
  const definition = {
    wait: { path: '/spindle.test.Context/Wait', requestStream: false, responseStream: false, ...identity },
    quick: { path: '/spindle.test.Context/Quick', requestStream: false, responseStream: false, ...identity },
  } as unknown as ServiceDefinition;

  let server: Server | undefined;
  let client: (Client & Record<string, any>) | undefined;
  afterEach(async () => {
    client?.close();
    if (server) await stopGrpcServer(server, 100);
    server = client = undefined;
  });

  async function start(handlers: Record<string, (request: Buffer, context: CallContext) => Promise<Buffer>>) {
    const started = await startGrpcServer(
      [{ definition, implementation: serviceImplementation(handlers) }],
      '127.0.0.1',
      0,
    );
    server = started.server;
    const Client = makeGenericClientConstructor(definition, 'Context');
    const created = new Client(started.address, insecureChannel(), CHANNEL_OPTIONS) as Client & Record<string, any>;
    client = created;
    return created;
  }

  it('aborts the signal of a handler whose caller cancels, and the caller gets CANCELLED', async () => {
    let seen: AbortSignal | undefined;
    let handlerSawAbort!: () => void;
    const sawAbort = new Promise<void>((resolve) => (handlerSawAbort = resolve));
    const c = await start({
      wait: (_request, context) => {
        seen = context.signal;
        return new Promise<Buffer>((_resolve, reject) => {
          context.signal.addEventListener('abort', () => {
            handlerSawAbort();
            reject(new SpindleError(ErrorCode.CANCELLED, 'handler saw the cancel'));
          });
        });
      },
      quick: async (request) => request,
    });
    const caller = new AbortController();
    const result = callUnary(c, c.wait, Buffer.from('x'), 'test.Wait', { signal: caller.signal }).then(
      () => undefined,
      (err: unknown) => err,
    );
    await vi.waitFor(() => expect(seen).toBeDefined(), { timeout: 5_000 });
    expect(seen!.aborted).toBe(false);
    caller.abort();
    expect(isSpindleError(await result, ErrorCode.CANCELLED)).toBe(true);
    await sawAbort;
    expect(seen!.aborted).toBe(true);
  });

  it("aborts the signal when the caller's deadline passes", async () => {
    let seen: AbortSignal | undefined;
    const c = await start({
      wait: (_request, context) => {
        seen = context.signal;
        return new Promise<Buffer>((_resolve, reject) => {
          context.signal.addEventListener('abort', () => reject(new SpindleError(ErrorCode.CANCELLED, 'deadline')));
        });
      },
      quick: async (request) => request,
    });
    const err = await callUnary(c, c.wait, Buffer.from('x'), 'test.Wait', { timeoutMs: 50 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSpindleError(err)).toBe(true);
    await vi.waitFor(() => expect(seen?.aborted).toBe(true), { timeout: 5_000 });
  });

  it('does not abort the signal of a call that was answered (the stream closing is not a cancel)', async () => {
    const signals: AbortSignal[] = [];
    const c = await start({
      wait: async (request) => request,
      quick: async (request, context) => {
        signals.push(context.signal);
        return request;
      },
    });
    for (let i = 0; i < 5; i++)
      expect(String(await callUnary(c, c.quick, Buffer.from(`r${i}`), 'test.Quick'))).toBe(`r${i}`);
    // Let grpc-js deliver the streams' close events.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(signals).toHaveLength(5);
    expect(signals.every((signal) => !signal.aborted)).toBe(true);
  });

  it('answers handlers that never read the signal, and gives them the peer address', async () => {
    let peer = '';
    const c = await start({
      wait: async (request) => request,
      quick: async (request, context) => {
        peer = context.peer;
        return Buffer.concat([request, request]);
      },
    });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => callUnary(c, c.quick, Buffer.from(String(i)), 'test.Quick')),
    );
    expect(answers.map(String)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}${i}`));
    expect(peer).toMatch(/127\.0\.0\.1/);
  });
});
