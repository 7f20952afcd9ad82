// Bad replica repair and the scrubber (issue 15), with real processes (3 storage nodes, 3 replicas,
// test preset: scrubbing at 1 MiB/s):
// - a byte flipped in one replica's block file: that node refuses the chunk (CHUNK_CORRUPT), every
//   read through the client returns the right bytes, and the failed read makes the holding node
//   repair its copy from another replica (its own read verifies again; counted with found_by=read);
// - a byte flipped in a chunk nobody reads: the scrubber finds it and repairs it (found_by=scrub);
// - `spindle admin scrub` shows, per node, what was checked and both repairs.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { ErrorCode } from '../../common/errors.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { findInDataFiles, flipByteOnDisk } from '../checkpoints/support.js';
import { chainAt } from './support.js';
import { useCluster } from '../harness/cluster.js';
import { StorageClients, readChunkFrom, routingOf } from '../harness/replicas.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
let client: SpindleClient;
let storage: StorageClients;

beforeAll(async () => {
  client = await cluster().client();
  storage = new StorageClients();
});

afterAll(() => storage?.close());

/** The value of spindle_storage_corrupt_chunk_repairs_total{outcome, found_by} on a node. */
async function repairs(metricsAddress: string, outcome: string, foundBy: string): Promise<number> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) =>
      l.startsWith(`spindle_storage_corrupt_chunk_repairs_total{outcome="${outcome}",found_by="${foundBy}"}`),
    );
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Writes a file, flips a byte of chunk 1 on the first node's replica; returns what to check. */
async function damagedFile(path: string) {
  const c = cluster();
  const data = randomBytes(4 * 64 * 1024);
  await client.writeFile(path, data);
  const stat = await client.stat(path);
  const chunkBytes = stat.layout!.chunkSizeBytes;
  const offset = chunkBytes + 4096;
  const needle = data.subarray(offset, offset + 64);
  const node = c.nodes[0]!;
  const hits = await findInDataFiles(node.dataDir, needle);
  expect(hits).toHaveLength(1);
  await flipByteOnDisk(hits[0]!.file, hits[0]!.at + 10);
  const chain = await chainAt(client, path, await routingOf(c.metaAddress), offset);
  const chunk = { ino: stat.ino, index: 1 };
  const expected = data.subarray(chunkBytes, 2 * chunkBytes);
  return { data, node, chain, chunk, chunkBytes, expected };
}

describe('a corrupted replica', () => {
  it('is failed over at once, then repaired from a good copy by the node that holds it', async () => {
    const { data, node, chain, chunk, chunkBytes, expected } = await damagedFile('/read-repair.bin');
    // The damaged node refuses it (and, having found it, repairs it in the background).
    await expect(readChunkFrom(storage, node.addr, chain, chunk, chunkBytes)).rejects.toThrow(
      `code ${ErrorCode.CHUNK_CORRUPT}`,
    );
    // Through the client, every read returns the right bytes.
    for (let i = 0; i < 10; i++) expect((await client.readFile('/read-repair.bin')).equals(data)).toBe(true);
    // The node's own copy verifies again, repaired because a read failed.
    const repaired = await until('the read-triggered repair', async () =>
      (await repairs(node.metrics, 'repaired', 'read')) >= 1 ? true : undefined,
    );
    expect(repaired).toBe(true);
    expect((await readChunkFrom(storage, node.addr, chain, chunk, chunkBytes)).equals(expected)).toBe(true);
  }, 120_000);

  it('in a chunk nobody reads is found by the scrubber and repaired', async () => {
    const { node, chain, chunk, chunkBytes, expected } = await damagedFile('/scrub-repair.bin');
    await until('the scrubber to repair it', async () =>
      (await repairs(node.metrics, 'repaired', 'scrub')) >= 1 ? true : undefined,
    );
    expect((await readChunkFrom(storage, node.addr, chain, chunk, chunkBytes)).equals(expected)).toBe(true);
  }, 120_000);

  it('spindle admin scrub shows what each node checked and the repairs, read- and scrub-found', async () => {
    const c = cluster();
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, [join(PACKAGE_ROOT, 'bin', 'spindle.mjs'), 'admin', 'scrub', ...args], {
        env: { ...process.env, SPINDLE_META: c.metaAddress },
      });
    const rows = JSON.parse((await run(['--json'])).stdout) as Array<{
      nodeId: number;
      status: { chunksChecked: number; repaired: number; recent: Array<{ foundBy: string; outcome: string }> };
    }>;
    expect(rows.map((r) => r.nodeId).sort()).toEqual(c.nodes.map((n) => n.id).sort());
    const damaged = rows.find((r) => r.nodeId === c.nodes[0]!.id)!;
    expect(damaged.status.repaired).toBeGreaterThanOrEqual(2);
    const found = damaged.status.recent.filter((e) => e.outcome === 'repaired').map((e) => e.foundBy);
    expect(new Set(found)).toEqual(new Set(['read', 'scrub']));
    for (const row of rows) expect(row.status.chunksChecked).toBeGreaterThan(0);
    const text = (await run([])).stdout;
    expect(text).toMatch(/CORRUPT FOUND/);
    expect(text).toMatch(/\(found by read\): repaired from target \d+/);
    expect(text).toMatch(/\(found by scrub\): repaired from target \d+/);
  }, 60_000);
});
