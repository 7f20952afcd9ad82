// `spindle admin` against a real cluster: the listings show states and versions, and
// `offline-target` takes a live target out of its chain — it goes to the end as OFFLINE (chain
// version bumps), comes back as SYNCING, is resynced by its predecessor (progress in `admin
// targets`), and serves again with the same chunks as the other replicas.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChainRow, NodeRow, TargetRow } from '../../cli/admin-report.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { PublicTargetState } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import { dumpFileChunks, routingOf, StorageClients } from '../harness/replicas.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
const BIN = join(PACKAGE_ROOT, 'bin', 'spindle.mjs');

function spindle(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args, '--meta', cluster().metaAddress], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function json<T>(args: string[]): Promise<T> {
  const result = await spindle([...args, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe('spindle admin', () => {
  it('lists nodes, targets and chains, and offline-target forces a resync of a live target', async () => {
    const client = await cluster().client();
    const data = randomBytes(3 * 1024 * 1024);
    await client.writeFile('/admin.bin', data);
    const ino = (await client.stat('/admin.bin')).ino;

    const nodes = await json<NodeRow[]>(['admin', 'nodes']);
    expect(nodes.map((n) => n.alive)).toEqual([true, true, true]);
    const table = await spindle(['admin', 'chains']);
    expect(table.stdout).toMatch(/CHAIN +VERSION +TARGETS/);
    const [chain] = await json<ChainRow[]>(['admin', 'chains']);
    expect(chain!.targets.map((t) => t.publicState)).toEqual(['serving', 'serving', 'serving']);
    const head = chain!.targets[0]!.targetId;

    const offline = await spindle(['admin', 'offline-target', String(head)]);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout).toMatch(
      new RegExp(`target ${head} is offline; chain ${chain!.chainId} is now version ${chain!.chainVersion + 1}`),
    );

    // Its node is up: it comes back through a resync, as the tail.
    const deadline = Date.now() + 30_000;
    let targets: TargetRow[];
    for (;;) {
      targets = await json<TargetRow[]>(['admin', 'targets']);
      const row = targets.find((t) => t.targetId === head)!;
      if (row.publicState === 'serving' && row.resync?.done === true) break;
      if (Date.now() > deadline) throw new Error(`target ${head} did not come back: ${JSON.stringify(row)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const row = targets.find((t) => t.targetId === head)!;
    expect(row.position).toBe(3);
    expect(row.resync!.fromTargetId).not.toBe(head);
    const listed = await spindle(['admin', 'targets']);
    expect(listed.stdout).toMatch(new RegExp(`${head} .*serving .*done \\(from`));

    // Same chunks on every replica, and the file reads back.
    const routing = await routingOf(cluster().metaAddress);
    expect(routing.targets.every((t) => t.publicState === PublicTargetState.SERVING)).toBe(true);
    const storage = new StorageClients();
    try {
      const rows = await dumpFileChunks(storage, routing, ino);
      const byTarget = new Map<number, string[]>();
      for (const r of rows)
        byTarget.set(r.targetId, [
          ...(byTarget.get(r.targetId) ?? []),
          `${r.meta.chunk!.index}@${r.meta.commitVersion}:${r.meta.length}:${r.meta.crc32c}`,
        ]);
      const [first, ...others] = [...byTarget.values()];
      expect(first!.length).toBeGreaterThan(0);
      for (const other of others) expect(other).toEqual(first);
    } finally {
      storage.close();
    }
    expect((await client.readFile('/admin.bin')).equals(data)).toBe(true);

    // Refusals are clear and exit non-zero.
    const missing = await spindle(['admin', 'offline-target', '999999']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/target 999999 is not registered/);
    const usage = await spindle(['admin', 'offline-target', 'abc']);
    expect(usage.code).toBe(2);
  }, 120_000);
});
