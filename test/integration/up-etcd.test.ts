// `spindle up --kv etcd` through the real CLI: it starts a local etcd-server and two meta
// processes (the default with etcd) beside the storage nodes; its ready line lists every meta
// (`metas`, keeping `meta`/`metaPid` for the first) and the etcd member; a client given the meta
// list reads and writes; Ctrl-C stops every process, etcd included. The lmdb default keeps one meta,
// and `--meta-count 2` with lmdb is refused as a usage error before anything starts.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { SpindleClient } from '../../client/index.js';
import { pidAlive } from '../harness/cluster.js';
import { SPINDLE_BIN, UpRunner } from '../harness/spindle-up.js';
import { waitFor } from '../faults/support.js';

const ups = new UpRunner('spindle-up-etcd-');
afterAll(() => ups.cleanup());

interface UpLine {
  meta: string;
  metaPid: number;
  metas: Array<{ addr: string; metrics: string; pid: number }>;
  kv: string;
  etcd: Array<{ endpoint: string; pid: number }>;
  storage: Array<{ pid: number }>;
}

describe('spindle up --kv etcd', () => {
  it('starts etcd and two metas, lists them in the ready line, serves, and stops everything', async () => {
    const up = await ups.start<UpLine>(['--kv', 'etcd', '--port', '0', '--data-dir', 'data', '--preset', 'test']);
    const line = up.line;
    const all = [...line.metas.map((m) => m.pid), ...line.etcd.map((e) => e.pid), ...line.storage.map((s) => s.pid)];
    for (const pid of all) ups.track(pid);
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

    expect(await ups.stop(up)).toBe(0);
    await waitFor('every process of the cluster to exit', () => all.every((pid) => !pidAlive(pid)), 20_000);
  }, 120_000);

  it('refuses --meta-count 2 with lmdb before starting anything', () => {
    const result = spawnSync(
      process.execPath,
      [SPINDLE_BIN, 'up', '--meta-count', '2', '--port', '0', '--data-dir', 'lmdb-data'],
      { cwd: ups.work, encoding: 'utf8' },
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/--meta-count/);
    expect(result.stderr).toMatch(/--kv etcd/);
  });
});
