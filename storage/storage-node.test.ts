// The storage node's life: registration (also when the manager comes up late), node id and data
// kept across restarts, heartbeats with target reports, routing follow-up, the lease rule,
// /metrics, and the process entry (ready line, signals).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { storageConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { CHANNEL_OPTIONS, insecureChannel } from '../common/rpc.js';
import { StorageClient } from '../proto/index.js';
import { parseStorageArgs } from './args.js';
import { startStorageNode, type StorageNodeHandle } from './storage-node.js';
import { batchRead, pattern, readIO, write, writeRequest } from './testing/cluster.js';
import { FakeMgmt } from './testing/fake-mgmt.js';
import { entryArgv } from '../cluster/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

let root: string;
let mgmt: FakeMgmt | undefined;
const nodes: StorageNodeHandle[] = [];
const clients: StorageClient[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'spindle-storage-node-'));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await mgmt?.close();
  mgmt = undefined;
  await rm(root, { recursive: true, force: true });
});

function clientOf(node: StorageNodeHandle): StorageClient {
  const client = new StorageClient(node.address, insecureChannel(), CHANNEL_OPTIONS);
  clients.push(client);
  return client;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const testConfig = (overrides: Record<string, unknown> = {}) =>
  storageConfig('test', { nodeLeaseMs: '10s', ...overrides });

describe('storage node', () => {
  it('registers once the manager is up, persists its id, and keeps id, targets and data across a restart', async () => {
    const port = await freePort();
    const dataDir = join(root, 'n');
    const starting = startStorageNode({
      dataDir,
      metaAddress: `127.0.0.1:${port}`,
      targets: 2,
      config: testConfig(),
      metricsPort: null,
    });
    await new Promise((r) => setTimeout(r, 300));
    mgmt = await new FakeMgmt().start(port);
    const node = await starting;
    nodes.push(node);
    expect(node.nodeId).toBe(1);
    expect(node.targetIds).toEqual([1000, 1001]);
    expect(JSON.parse(await readFile(join(dataDir, 'node.json'), 'utf8'))).toEqual({ nodeId: 1 });
    expect(node.readyLine()).toMatchObject({
      service: 'storage',
      id: 1,
      addr: node.address,
      metrics: null,
      pid: process.pid,
      dataDir,
      targets: [1000, 1001],
    });

    const chainVersion = mgmt.setChain(3, [1001]).chainVersion;
    await node.refreshRouting();
    const data = pattern(5000, 9);
    await write(clientOf(node), writeRequest({ chainId: 3, chainVersion, chunk: { ino: 7, index: 1 }, data }));
    await node.close();
    await node.close(); // idempotent
    nodes.pop();

    // Restart on the same directory: a new --targets value is ignored, the old targets are reused.
    const again = await startStorageNode({
      dataDir,
      metaAddress: mgmt.address,
      targets: 5,
      config: testConfig(),
      metricsPort: null,
    });
    nodes.push(again);
    expect(again.nodeId).toBe(1);
    expect(again.targetIds).toEqual([1000, 1001]);
    expect(mgmt.registrations).toBe(2);
    const { results } = await batchRead(clientOf(again), [readIO(3, chainVersion, { chunk: { ino: 7, index: 1 } })]);
    expect(results[0]!.status!.code).toBe(0);
    expect(Buffer.compare(results[0]!.data, data)).toBe(0);
  });

  it('heartbeats report targets and pick up new routing versions', async () => {
    mgmt = await new FakeMgmt().start();
    const node = await startStorageNode({
      dataDir: join(root, 'n'),
      metaAddress: mgmt.address,
      targets: 1,
      config: testConfig(),
      metricsPort: null,
    });
    nodes.push(node);
    const chainVersion = mgmt.setChain(1, [node.targetIds[0]!]).chainVersion;
    await eventually(() => node.routing.chain(1)?.chainVersion === chainVersion, 'routing via heartbeat');
    await write(
      clientOf(node),
      writeRequest({ chainId: 1, chainVersion, chunk: { ino: 1, index: 0 }, data: Buffer.alloc(1234, 1) }),
    );
    await eventually(
      () => mgmt!.heartbeats.some((h) => h.targets[0]?.usedBytes === 1234),
      'a heartbeat with used bytes',
    );
    const last = mgmt.heartbeats[mgmt.heartbeats.length - 1]!;
    expect(last).toMatchObject({ nodeId: node.nodeId });
    expect(last.targets[0]).toMatchObject({
      targetId: node.targetIds[0],
      nodeId: node.nodeId,
      chainId: 1,
      localState: 1,
    });
    expect(last.targets[0]!.capacityBytes).toBeGreaterThan(0);
    mgmt.bumpChain(1);
    await eventually(() => node.routing.version === mgmt!.routingVersion, 'routing version follows the manager');
  });

  it('stops serving when it cannot renew its lease, and serves again once it can', async () => {
    mgmt = await new FakeMgmt().start();
    const node = await startStorageNode({
      dataDir: join(root, 'n'),
      metaAddress: mgmt.address,
      targets: 1,
      config: testConfig({ nodeLeaseMs: '600ms', heartbeatIntervalMs: '50ms' }),
      metricsPort: null,
    });
    nodes.push(node);
    const chainVersion = mgmt.setChain(1, [node.targetIds[0]!]).chainVersion;
    await node.refreshRouting();
    const client = clientOf(node);
    await write(
      client,
      writeRequest({ chainId: 1, chainVersion, chunk: { ino: 1, index: 0 }, data: Buffer.from('a') }),
    );
    mgmt.failWith = new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'manager down');
    await eventually(
      async () =>
        (await batchRead(client, [readIO(1, chainVersion, { length: 10 })])).results[0]!.status!.code ===
        ErrorCode.TARGET_NOT_SERVING,
      'lease expiry',
    );
    mgmt.failWith = undefined;
    await eventually(
      async () => (await batchRead(client, [readIO(1, chainVersion, { length: 10 })])).results[0]!.status!.code === 0,
      'serving again',
    );
  });

  it('serves /metrics with storage metrics', async () => {
    mgmt = await new FakeMgmt().start();
    const node = await startStorageNode({
      dataDir: join(root, 'n'),
      metaAddress: mgmt.address,
      targets: 1,
      config: testConfig(),
    });
    nodes.push(node);
    const chainVersion = mgmt.setChain(1, [node.targetIds[0]!]).chainVersion;
    await node.refreshRouting();
    await write(
      clientOf(node),
      writeRequest({ chainId: 1, chainVersion, chunk: { ino: 1, index: 0 }, data: Buffer.alloc(100) }),
    );
    const text = await (await fetch(`http://${node.metricsAddress}/metrics`)).text();
    expect(text).toMatch(/spindle_storage_requests_total\{method="Write",result="ok"\} 1/);
    expect(text).toMatch(new RegExp(`spindle_storage_target_used_bytes\\{target="${node.targetIds[0]}"\\} 100`));
    expect(text).toMatch(/spindle_storage_request_duration_seconds_bucket/);
  });

  it('refuses a start on an unusable data directory with a clear error', async () => {
    mgmt = await new FakeMgmt().start();
    const dataDir = join(root, 'bad');
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, 'node.json'), '{not json');
    await expect(
      startStorageNode({ dataDir, metaAddress: mgmt.address, config: testConfig(), metricsPort: null }),
    ).rejects.toThrow(/node.json is not valid JSON/);
  });
});

describe('storage command line', () => {
  it('parses flags and lists every problem', () => {
    const args = parseStorageArgs([
      '--data-dir',
      'd',
      '--meta',
      '127.0.0.1:1',
      '--port',
      '7401',
      '--targets',
      '2',
      '--preset',
      'test',
      '--auth',
      'off',
    ]);
    expect(args).toMatchObject({
      dataDir: 'd',
      metaAddress: '127.0.0.1:1',
      host: '127.0.0.1',
      port: 7401,
      metricsPort: 0,
      targets: 2,
      preset: 'test',
    });
    expect(args.config.heartbeatIntervalMs).toBe(100);
    expect(() => parseStorageArgs(['--port', 'x', '--preset', 'fast'])).toThrow(
      /--data-dir is required[\s\S]*--meta is required[\s\S]*--preset[\s\S]*--port/,
    );
    expect(() => parseStorageArgs(['--bogus'])).toThrow(/Unknown option/);
    expect(() => parseStorageArgs(['--data-dir', 'd', '--meta', '127.0.0.1:1'])).toThrow(
      /--token-file and --auth-public-key are required/,
    );
    expect(args.config).toMatchObject({ dataTransport: 'bulk', bulkPort: 0 });
    const grpcOnly = parseStorageArgs([
      '--data-dir',
      'd',
      '--meta',
      '127.0.0.1:1',
      '--data-transport',
      'grpc',
      '--bulk-port',
      '7501',
      '--auth',
      'off',
    ]);
    expect(grpcOnly.config).toMatchObject({ dataTransport: 'grpc', bulkPort: 7501 });
    expect(() =>
      parseStorageArgs([
        '--data-dir',
        'd',
        '--meta',
        '127.0.0.1:1',
        '--data-transport',
        'rdma',
        '--bulk-port',
        '70000',
      ]),
    ).toThrow(/--data-transport must be bulk or grpc[\s\S]*--bulk-port must be a port/);
  });

  it('the process prints one JSON ready line after registering and exits 0 on SIGTERM', async () => {
    mgmt = await new FakeMgmt().start();
    const dataDir = join(root, 'proc');
    const child = spawn(
      process.execPath,
      entryArgv('storage/main.ts', [
        '--data-dir',
        dataDir,
        '--meta',
        mgmt.address,
        '--preset',
        'test',
        '--targets',
        '2',
        '--auth',
        'off',
      ]),
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SPINDLE_LOG_LEVEL: 'warn' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await eventually(() => stdout.includes('\n'), `the ready line (stderr: ${stderr})`, 30_000);
      const ready = JSON.parse(stdout.trim());
      expect(ready).toMatchObject({ service: 'storage', id: 1, pid: child.pid, dataDir, targets: [1000, 1001] });
      expect(ready.addr).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(ready.bulk).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(ready.metrics).toMatch(/^127\.0\.0\.1:\d+$/);
      const metrics = await (await fetch(`http://${ready.metrics}/metrics`)).text();
      expect(metrics).toMatch(/spindle_storage_routing_version/);
      expect(metrics).toMatch(/spindle_storage_target_block_io\{target="1000",backend="(uring|fs)"\} 1/);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stdout.trim().split('\n')).toHaveLength(1);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('the process exits 2 on bad flags', async () => {
    const child = spawn(process.execPath, entryArgv('storage/main.ts', ['--meta', '127.0.0.1:1']), {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(stderr).toMatch(/--data-dir is required/);
  });
});
