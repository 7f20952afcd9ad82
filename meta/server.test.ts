// The meta process: in-process composition (Mgmt + Meta on one port, the manager as the
// namespace's ClusterView, state kept across a restart, /metrics) and the real entry file
// (flags, the single JSON ready line, SIGTERM → exit 0, bad flags → exit 1).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../common/clock.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { CHANNEL_OPTIONS, callUnary, insecureChannel } from '../common/rpc.js';
import { MetaClient, MgmtClient } from '../proto/index.js';
import { startMetaServer, type MetaServer } from './server.js';
import { entryArgv } from '../cluster/index.js';
import { PACKAGE_ROOT } from '../common/package-root.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-meta-test-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function registerNodes(mgmt: MgmtClient, count: number) {
  for (let n = 1; n <= count; n++) {
    await callUnary(
      mgmt,
      mgmt.registerNode,
      {
        nodeId: 0,
        address: `127.0.0.1:${9100 + n}`,
        hostname: 'localhost',
        targetPaths: [`/s${n}/0`, `/s${n}/1`, `/s${n}/2`],
      },
      'mgmt.RegisterNode',
    );
  }
}

describe('startMetaServer', () => {
  const open: MetaServer[] = [];
  const clients: Array<{ close(): void }> = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of open.splice(0)) await s.close();
  });

  it('serves Mgmt and Meta on one port, builds the table, creates files on it, keeps all over a restart', async () => {
    const dataDir = tempDir();
    const start = async () => {
      const server = await startMetaServer({
        dataDir,
        preset: 'test',
        storageNodesExpected: 3,
        replicas: 3,
        gcDelayMs: 60_000,
      });
      open.push(server);
      const mgmt = new MgmtClient(server.address, insecureChannel(), CHANNEL_OPTIONS);
      const meta = new MetaClient(server.address, insecureChannel(), CHANNEL_OPTIONS);
      clients.push(mgmt, meta);
      return { server, mgmt, meta };
    };

    let { server, mgmt, meta } = await start();
    expect(server.dataDir).toBe(dataDir);
    // No chain table yet: creating a file is refused as retryable.
    const early = await callUnary(
      meta,
      meta.open,
      {
        at: { parentIno: 1, path: '/early' },
        create: true,
        exclusive: false,
        truncate: false,
        mode: 0o644,
        uid: 0,
        gid: 0,
      },
      'meta.Open',
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(early).toBeInstanceOf(SpindleError);
    expect((early as SpindleError).errorCode).toBe(ErrorCode.ROUTING_NOT_READY);

    await registerNodes(mgmt, 3);
    const routing = await callUnary(mgmt, mgmt.getRoutingInfo, { knownVersion: 0 }, 'mgmt.GetRoutingInfo');
    expect(routing.routing?.chainTables).toEqual([{ tableId: 1, version: 1, chainIds: [1, 2, 3] }]);

    const created = await callUnary(
      meta,
      meta.open,
      {
        at: { parentIno: 1, path: '/a.bin' },
        create: true,
        exclusive: true,
        truncate: false,
        mode: 0o644,
        uid: 0,
        gid: 0,
      },
      'meta.Open',
    );
    expect(created.created).toBe(true);
    expect(created.inode?.layout).toMatchObject({ chainTableId: 1, chainTableVersion: 1 });

    const metrics = await (await fetch(`http://${server.metricsAddress}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`spindle_mgmt_routing_version ${routing.version}`));
    expect(metrics).toMatch(/spindle_mgmt_nodes 3/);
    expect(metrics).toMatch(/spindle_meta_gc_rounds_total/);

    for (const c of clients.splice(0)) c.close();
    await server.close();
    await server.close();
    open.length = 0;

    ({ server, mgmt, meta } = await start());
    const again = await callUnary(mgmt, mgmt.getRoutingInfo, { knownVersion: 0 }, 'mgmt.GetRoutingInfo');
    expect(again.version).toBe(routing.version);
    expect(again.routing?.chains).toEqual(routing.routing?.chains);
    const stat = await callUnary(
      meta,
      meta.stat,
      { at: { parentIno: 1, path: '/a.bin' }, followSymlink: true },
      'meta.Stat',
    );
    expect(stat.inode?.ino).toBe(created.inode?.ino);
  });

  it('sweeps expired idempotency records in the background, every half TTL of its clock', async () => {
    const clock = new ManualClock(Date.now());
    const server = await startMetaServer({
      dataDir: tempDir(),
      preset: 'test',
      storageNodesExpected: 3,
      replicas: 3,
      clock,
      config: { idempotencyTtlMs: 1_000 },
    });
    open.push(server);
    const mgmt = new MgmtClient(server.address, insecureChannel(), CHANNEL_OPTIONS);
    const meta = new MetaClient(server.address, insecureChannel(), CHANNEL_OPTIONS);
    clients.push(mgmt, meta);
    await registerNodes(mgmt, 3);
    const tag = { clientId: 'sweep-test', requestId: 1 };
    const request = { tag, at: { parentIno: 1, path: '/once' }, create: true, exclusive: true, truncate: false };
    const create = () =>
      callUnary(meta, meta.open, { ...request, mode: 0o644, uid: 0, gid: 0 }, 'meta.Open').then(
        (response) => (response.created ? 'created' : 'opened'),
        (err: SpindleError) => err.codeName,
      );
    const createdMs = clock.nowMs();
    expect(await create()).toBe('created');
    // Within the TTL the same tag replays the first answer; nothing sweeps before half a TTL.
    await clock.advanceAsync(400, 100);
    expect(await create()).toBe('created');
    // Once the record expired and a sweep ran, the tag runs again: the file exists now.
    await vi.waitFor(
      async () => {
        await clock.advanceAsync(100);
        expect(await create()).toBe('EXISTS');
      },
      { timeout: 20_000, interval: 20 },
    );
    expect(clock.nowMs() - createdMs).toBeGreaterThanOrEqual(1_000);
  });

  it('refuses a second server on the same data directory and invalid options, with clear messages', async () => {
    const dataDir = tempDir();
    const first = await startMetaServer({ dataDir, preset: 'test' });
    open.push(first);
    await expect(startMetaServer({ dataDir, preset: 'test' })).rejects.toThrow(/lock|in use|another/i);
    await expect(
      startMetaServer({ dataDir: tempDir(), preset: 'test', config: { gcBatchSize: 0, nope: 1 } }),
    ).rejects.toThrow(/gcBatchSize[\s\S]*nope: unknown key/);
    // Every bad port is listed, each with the one port message of common/flags.ts.
    await expect(startMetaServer({ dataDir: tempDir(), port: 70_000, metricsPort: 1.5 })).rejects.toThrow(
      'meta server options are invalid:\n' +
        '  port must be a port (integer 0-65535, 0 = pick a free one), got 70000\n' +
        '  metricsPort must be a port (integer 0-65535, 0 = pick a free one), got 1.5',
    );
  });
});

interface Spawned {
  child: ChildProcess;
  lines: AsyncIterator<string>;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnMeta(args: string[]): Spawned {
  const child = spawn(process.execPath, entryArgv('meta/main.ts', [...args]), {
    cwd: PACKAGE_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SPINDLE_LOG_LEVEL: 'info' },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator](),
    stderr: () => stderr,
    exit,
  };
}

describe('meta/main.ts', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('prints one JSON ready line, serves Mgmt.GetRoutingInfo, and exits 0 on SIGTERM', async () => {
    const dataDir = tempDir();
    // Authentication off: this test registers nodes itself, without node tokens (test/auth has them on).
    const meta = spawnMeta(['--data-dir', dataDir, '--preset', 'test', '--storage-nodes', '3', '--auth', 'off']);
    children.push(meta.child);
    const first = await meta.lines.next();
    expect(first.done, meta.stderr()).toBe(false);
    const ready = JSON.parse(first.value as string);
    expect(ready).toEqual({
      service: 'meta',
      addr: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      metrics: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      pid: meta.child.pid,
      dataDir,
      kv: 'lmdb',
      auth: 'off',
    });

    const mgmt = new MgmtClient(ready.addr, insecureChannel(), CHANNEL_OPTIONS);
    try {
      const routing = await callUnary(mgmt, mgmt.getRoutingInfo, { knownVersion: 0 }, 'mgmt.GetRoutingInfo');
      expect(routing.version).toBe(1);
      expect(routing.routing).toMatchObject({ version: 1, nodes: [], chains: [], chainTables: [] });
      await registerNodes(mgmt, 3);
      const built = await callUnary(mgmt, mgmt.getRoutingInfo, { knownVersion: 1 }, 'mgmt.GetRoutingInfo');
      expect(built.routing?.chainTables).toHaveLength(1);
    } finally {
      mgmt.close();
    }
    const metricsText = await (await fetch(`http://${ready.metrics}/metrics`)).text();
    expect(metricsText).toMatch(/spindle_mgmt_nodes 3/);

    meta.child.kill('SIGTERM');
    const { code } = await meta.exit;
    expect(code, meta.stderr()).toBe(0);
    // Nothing else on stdout.
    expect((await meta.lines.next()).done).toBe(true);
    expect(meta.stderr()).toMatch(/meta server stopped/);
  });

  it('exits 1 with a clear message on bad flags or a bad config file', async () => {
    // Started together, in parallel.
    const missing = spawnMeta(['--preset', 'test']);
    const badPort = spawnMeta(['--data-dir', tempDir(), '--port', 'abc']);
    const badConfig = spawnMeta(['--data-dir', tempDir(), '--config', '/nonexistent/spindle.json']);
    children.push(missing.child, badPort.child, badConfig.child);
    const [a, b, c] = await Promise.all([missing.exit, badPort.exit, badConfig.exit]);
    expect(a.code).toBe(1);
    expect(missing.stderr()).toMatch(/--data-dir/);
    expect(b.code).toBe(1);
    expect(badPort.stderr()).toMatch(/--port.*integer/);
    expect(c.code).toBe(1);
    expect(badConfig.stderr()).toMatch(/meta: cannot read config file \/nonexistent\/spindle.json/);
  });

  it('exits 1 naming every problem of the --kv and etcd flags', async () => {
    const noEtcd = spawnMeta(['--kv', 'etcd', '--etcd-max-txn-ops', 'many']);
    const badKv = spawnMeta(['--kv', 'rocks', '--etcd', 'http://127.0.0.1:1']);
    children.push(noEtcd.child, badKv.child);
    const [a, b] = await Promise.all([noEtcd.exit, badKv.exit]);
    expect(a.code).toBe(1);
    expect(noEtcd.stderr()).toMatch(/--etcd URLS is required with --kv etcd/);
    expect(noEtcd.stderr()).toMatch(/--etcd-max-txn-ops/);
    expect(b.code).toBe(1);
    expect(badKv.stderr()).toMatch(/--kv must be lmdb or etcd, got "rocks"/);
  });
});
