import { connect, type ClientHttp2Session } from 'node:http2';
import { once } from 'node:events';
import type { Server } from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RPC_FLOW_CONTROL_WINDOW_BYTES } from './constants.js';
import { startGrpcServer, stopGrpcServer, tuneServerReceiveWindow } from './rpc.js';

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
    await vi.waitFor(() => expect(session!.state.remoteWindowSize).toBe(RPC_FLOW_CONTROL_WINDOW_BYTES), { timeout: 5_000 });
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
