// The launcher behind `spindle up` and the test harness, against stand-in services that keep the
// process contract of docs/architecture.md (test/fixtures/cli-fake-*.ts): ready lines, tuned
// malloc env, failure reports with the child's log, restart on the same data dir, and shutdown
// (SIGTERM, then SIGKILL after a timeout) leaving no process behind.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCluster, ServiceStartError, TUNED_MALLOC_ENV } from '../../cluster/index.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { pidAlive } from '../harness/cluster.js';

const FAKES = { meta: 'test/fixtures/cli-fake-meta.ts', storage: 'test/fixtures/cli-fake-storage.ts' };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-launcher-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(options: Partial<Parameters<typeof LocalCluster.start>[0]> = {}): Promise<LocalCluster> {
  const cluster = await LocalCluster.start({ dataDir: tempDir(), port: 0, entries: FAKES, preset: 'test', ...options });
  cleanups.push(() => cluster.stop(2_000));
  return cluster;
}

function environOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

describe('LocalCluster', () => {
  it('starts meta and N storage nodes from their ready lines, with tuned malloc, and stops them all', async () => {
    const cluster = await start({ storageNodes: 3 });
    const summary = cluster.summary();
    expect(summary.meta).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(summary.storage.map((s) => s.id)).toEqual([1, 2, 3]);
    expect(summary.storage.map((s) => s.dataDir)).toEqual([1, 2, 3].map((i) => join(cluster.dataDir, `storage-${i}`)));
    const pids = cluster.pids();
    expect(pids).toHaveLength(4);
    for (const pid of pids) {
      expect(pidAlive(pid)).toBe(true);
      const env = environOf(pid);
      for (const [key, value] of Object.entries(TUNED_MALLOC_ENV)) expect(env[key]).toBe(value);
    }
    await cluster.stop();
    for (const pid of pids) expect(pidAlive(pid)).toBe(false);
  });

  it("reports a service that dies before it is ready, with its log's tail, and leaves nothing running", async () => {
    const dir = tempDir();
    const err = await LocalCluster.start({
      dataDir: dir,
      port: 0,
      entries: FAKES,
      env: { FAKE_META_MODE: 'crash' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceStartError);
    expect(err).toBeInstanceOf(SpindleError);
    const failure = err as ServiceStartError;
    expect(failure.errorCode).toBe(ErrorCode.SERVICE_START_FAILED);
    expect(failure.service).toBe('meta');
    expect(failure.message).toContain('meta exited before it was ready (exit code 3)');
    expect(failure.logTail).toContain('cannot open the data directory (simulated)');
    expect(failure.logFile).toBe(join(dir, 'logs', 'meta.log'));
  });

  it('gives up on a service that never gets ready and kills it', async () => {
    const err = await LocalCluster.start({
      dataDir: tempDir(),
      port: 0,
      entries: FAKES,
      env: { FAKE_META_MODE: 'hang' },
      readyTimeoutMs: 3_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceStartError);
    expect((err as ServiceStartError).errorCode).toBe(ErrorCode.TIMEOUT);
    expect((err as ServiceStartError).message).toContain('did not get ready within 3000 ms');
  });

  it('SIGKILLs a service that ignores SIGTERM after the stop timeout', async () => {
    const cluster = await start({ storageNodes: 1, replicas: 1, env: { FAKE_STORAGE_IGNORE_TERM: '1' } });
    const storagePid = cluster.nodes()[0]!.pid;
    const started = Date.now();
    await cluster.stop(1_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(pidAlive(storagePid)).toBe(false);
    expect(cluster.pids().every((pid) => !pidAlive(pid))).toBe(true);
  });

  it('restarts a killed storage node on its old data dir with the same id', async () => {
    const cluster = await start({ storageNodes: 2, replicas: 2 });
    const crashes: string[] = [];
    cluster.onUnexpectedExit = (name) => crashes.push(name);
    const before = cluster.nodes()[1]!;
    const service = cluster.storage.get(2)!;
    service.kill('SIGKILL');
    await service.exited();
    expect(pidAlive(before.pid)).toBe(false);
    const restarted = await cluster.startStorageNode(2);
    expect(restarted.ready.id).toBe(before.id);
    expect(restarted.ready.dataDir).toBe(before.dataDir);
    expect(restarted.pid).not.toBe(before.pid);
    expect(crashes).toEqual([]);
  });

  it('refuses bad options before starting anything, as INVALID_ARGUMENT naming the option', async () => {
    const refused = async (options: Partial<Parameters<typeof LocalCluster.start>[0]>) => {
      const dataDir = join(tempDir(), 'never-created');
      const err = await LocalCluster.start({ dataDir, entries: FAKES, ...options }).catch((e: unknown) => e);
      // Should the check ever let a start through, stop what it started.
      if (err instanceof LocalCluster) cleanups.push(() => err.stop(2_000));
      expect(err).toBeInstanceOf(SpindleError);
      expect((err as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(existsSync(dataDir)).toBe(false);
      return (err as SpindleError).message;
    };
    expect(await refused({ storageNodes: 2, replicas: 3 })).toMatch(/needs at least as many storage nodes/);
    expect(await refused({ storageNodes: 0 })).toBe('--storage-nodes must be an integer from 1 to 64, got 0');
    expect(await refused({ targetsPerNode: 1.5 })).toBe('--targets-per-node must be an integer from 1 to 64, got 1.5');
    expect(await refused({ port: 70_000 })).toMatch(/^--port must be a port/);
  });
});
