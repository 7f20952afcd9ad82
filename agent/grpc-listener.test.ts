// The agent's listener: the bound TCP port is reported, a dead agent's socket file is replaced, and
// a live socket or a file that is not a socket is refused and left alone.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { silentLogger } from '../common/logger.js';
import { stopGrpcServer } from '../common/rpc.js';
import { listenGrpc } from './grpc-listener.js';

const dir = mkdtempSync(join(tmpdir(), 'spindle-agent-listen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A unix socket file nobody listens on: what an agent killed with SIGKILL leaves. */
async function deadSocket(path: string): Promise<void> {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout, 'data');
  child.kill('SIGKILL');
  await once(child, 'exit');
  expect(existsSync(path)).toBe(true);
}

async function refusal(promise: Promise<unknown>): Promise<SpindleError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SpindleError);
  return error as SpindleError;
}

describe('listenGrpc', () => {
  it('reports the port picked for port 0', async () => {
    const { server, address } = await listenGrpc([], { kind: 'tcp', host: '127.0.0.1', port: 0 }, silentLogger());
    try {
      expect(address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
    } finally {
      await stopGrpcServer(server, 100);
    }
  });

  it('replaces a socket file that nobody serves, and removes its own on stop', async () => {
    const path = join(dir, 'stale.sock');
    await deadSocket(path);
    const { server, address } = await listenGrpc([], { kind: 'unix', path }, silentLogger());
    expect(address).toBe(`unix:${path}`);
    await stopGrpcServer(server, 100);
    expect(existsSync(path)).toBe(false);
  });

  it('refuses a socket another process serves, and a file that is not a socket', async () => {
    const path = join(dir, 'live.sock');
    const live: NetServer = createServer();
    await new Promise<void>((resolve) => live.listen(path, resolve));
    try {
      const error = await refusal(listenGrpc([], { kind: 'unix', path }, silentLogger()));
      expect(error.errorCode).toBe(ErrorCode.EXISTS);
      expect(error.message).toMatch(/another process serves that socket/);
    } finally {
      await new Promise((resolve) => live.close(resolve));
    }
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'keep me');
    const error = await refusal(listenGrpc([], { kind: 'unix', path: file }, silentLogger()));
    expect(error.message).toMatch(/not a socket/);
    expect(existsSync(file)).toBe(true);
  });
});
