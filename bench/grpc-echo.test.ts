// The bare grpc-js round trip of bench meta's limit row (bench/grpc-echo.ts): the client times the
// calls it was asked for against a real echo server and reports them. No timing assertions.
import { describe, expect, it } from 'vitest';
import { connectEchoClient, startEchoServer } from './grpc-echo.js';

describe('bench grpc echo', () => {
  it('times sequential unary calls against a real echo server', async () => {
    const server = await startEchoServer();
    try {
      const timeCalls = await connectEchoClient(server.port);
      const result = await timeCalls(50);
      expect(result).toMatchObject({ name: 'grpc.unary', ops: 50, bytes: 0 });
      expect(result.seconds).toBeGreaterThan(0);
      expect(result.p50Ms).toBeGreaterThan(0);
      expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms!);
    } finally {
      server.close();
    }
  });
});
