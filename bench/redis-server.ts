// A redis-server the kvcache bench starts and stops itself (bench/kvcache.ts): the peer its KV-cache
// figures are divided by. Never the system service: its own process on a free loopback port, its
// own temp dir, no persistence (`--save '' --appendonly no`), ready once PING answers PONG.
//
// Guarantees: stop() ends the process by its pid (SIGTERM, SIGKILL after a grace period), waits
// for it to exit and removes its directory; a bench that exits early SIGKILLs it on the way out.
// A missing redis-server binary is an error naming the setup script that installs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RespClient } from './resp-client.js';

/** How long redis-server may take to answer PING after its start. */
const REDIS_READY_TIMEOUT_MS = 15_000;
/** SIGTERM → SIGKILL grace: an empty, non-persistent Redis exits in milliseconds. */
const REDIS_STOP_GRACE_MS = 5_000;

/** A port free on 127.0.0.1 right now (the kernel's pick; another process could take it before Redis). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject()));
    });
  });
}

export class RedisServer {
  private stopped: Promise<void> | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
    private readonly exited: Promise<void>,
  ) {}

  get pid(): number {
    return this.child.pid ?? -1;
  }

  static async start(binary = 'redis-server'): Promise<RedisServer> {
    const port = await freeLoopbackPort();
    const dir = mkdtempSync(join(tmpdir(), 'spindle-bench-redis-'));
    const args = ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1'];
    const child = spawn(binary, [...args, '--dir', dir, '--daemonize', 'no', '--logfile', ''], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const onExit = () => child.kill('SIGKILL');
    process.once('exit', onExit);
    void exited.then(() => process.off('exit', onExit));
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (err) =>
        reject(
          new Error(
            `cannot start ${binary} (${err.message}): the kvcache bench needs redis-server, ` +
              'installed by scripts/setup.sh',
          ),
        ),
      ),
    );
    const server = new RedisServer(child, port, dir, exited);
    try {
      await Promise.race([server.waitReady(() => output), spawnError]);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** A new connection to this server. */
  connect(): Promise<RespClient> {
    return RespClient.connect(this.port);
  }

  /** Stops the server by its pid and removes its directory; idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill('SIGTERM');
        const timer = setTimeout(() => this.child.kill('SIGKILL'), REDIS_STOP_GRACE_MS);
        await this.exited;
        clearTimeout(timer);
      }
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopped;
  }

  private async waitReady(output: () => string): Promise<void> {
    const deadline = Date.now() + REDIS_READY_TIMEOUT_MS;
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`redis-server exited before it was ready:\n${output().trimEnd()}`);
      try {
        const client = await RespClient.connect(this.port);
        try {
          if ((await client.call('PING')) === 'PONG') return;
        } finally {
          client.close();
        }
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline)
        throw new Error(`redis-server on port ${this.port} did not answer PING in time:\n${output().trimEnd()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
