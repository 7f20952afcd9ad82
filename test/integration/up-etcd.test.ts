// `spindle up --kv etcd` through the real CLI: it starts a local etcd-server and two meta
// processes (the default with etcd) beside the storage nodes; its ready line lists every meta
// (`metas`, keeping `meta`/`metaPid` for the first) and the etcd member; a client given the meta
// list reads and writes; Ctrl-C stops every process, etcd included. The lmdb default keeps one meta,
// and `--meta-count 2` with lmdb is refused as a usage error before anything starts.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SpindleClient } from '../../client/index.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { pidAlive } from '../harness/cluster.js';
import { waitFor } from '../faults/support.js';

const work = mkdtempSync(join(tmpdir(), 'spindle-up-etcd-'));
const children: ChildProcess[] = [];
const pids = new Set<number>();

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

interface UpLine {
  meta: string;
  metaPid: number;
  metas: Array<{ addr: string; metrics: string; pid: number }>;
  kv: string;
  etcd: Array<{ endpoint: string; pid: number }>;
  storage: Array<{ pid: number }>;
}

function spindle(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin/spindle.mjs'), ...args], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

describe('spindle up --kv etcd', () => {
  it('starts etcd and two metas, lists them in the ready line, serves, and stops everything', async () => {
    const up = spindle(['up', '--kv', 'etcd', '--port', '0', '--data-dir', 'data', '--preset', 'test']);
    let stderr = '';
    up.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const line = await new Promise<UpLine>((resolve, reject) => {
      let out = '';
      up.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))) as UpLine);
      });
      up.once('exit', (code) => reject(new Error(`spindle up exited ${code}: ${stderr}`)));
    });
    const all = [...line.metas.map((m) => m.pid), ...line.etcd.map((e) => e.pid), ...line.storage.map((s) => s.pid)];
    for (const pid of all) pids.add(pid);
    expect(line.kv).toBe('etcd');
    expect(line.metas).toHaveLength(2);
    expect(line.meta).toBe(line.metas[0]!.addr);
    expect(line.metaPid).toBe(line.metas[0]!.pid);
    expect(line.etcd).toHaveLength(1);
    expect(line.etcd[0]!.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const pid of all) expect(pidAlive(pid)).toBe(true);

    const client = await SpindleClient.connect({ meta: line.metas.map((m) => m.addr).join(','), preset: 'test' });
    try {
      await client.writeFile('/up-etcd', Buffer.from('through two metas'));
      expect((await client.readFile('/up-etcd')).toString()).toBe('through two metas');
    } finally {
      await client.close();
    }

    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    up.kill('SIGINT');
    expect(await exited).toBe(0);
    await waitFor('every process of the cluster to exit', () => all.every((pid) => !pidAlive(pid)), 20_000);
  }, 120_000);

  it('refuses --meta-count 2 with lmdb before starting anything', () => {
    const result = spawnSync(
      process.execPath,
      [join(PACKAGE_ROOT, 'bin/spindle.mjs'), 'up', '--meta-count', '2', '--port', '0', '--data-dir', 'lmdb-data'],
      { cwd: work, encoding: 'utf8' },
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/--meta-count/);
    expect(result.stderr).toMatch(/--kv etcd/);
  });
});
