// A cluster whose storage nodes hold chunk metadata in both formats (storage/chunk-engine/chunk-meta.ts):
// one node's records are turned into format 1 (64 KiB CRC segments, as a node from before format 2
// left them) while it is stopped, and it is started again on them. Real processes on loopback.
// - Every replica, the format-1 one included, serves 4 KiB and larger reads of every chunk with the
//   right bytes and their CRC32C; the client reads the whole file right.
// - Writes go on in the mixed cluster: an append keeps the old node's 64 KiB segments, a rewrite
//   moves the chunk to 4 KiB segments; the replicas stay identical and the file reads back right.
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { crc32c } from '../../common/crc32c.js';
import { callUnary } from '../../common/rpc.js';
import { chainForChunk } from '../../common/placement.js';
import type { ChainInfo } from '../../proto/index.js';
import { CRC_SEGMENT_BYTES, CRC_SEGMENT_BYTES_FORMAT_1 } from '../../storage/constants.js';
import { recordFormats, rewriteAsFormat1 } from '../../storage/chunk-engine/testing/format-1.js';
import { allServing, expectSame, waitForRouting } from '../faults/support.js';
import { useCluster } from '../harness/cluster.js';
import { StorageClients, replicaDifferences, routingOf, tableChains } from '../harness/replicas.js';

const KiB = 1024;
const CHUNK_BYTES = 256 * KiB;
const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
let client: SpindleClient;
let storage: StorageClients;

beforeAll(async () => {
  client = await cluster().client();
  storage = new StorageClients();
});

afterAll(() => storage?.close());

/** Directories of the targets of a node (each holds chunks.mdb). */
async function targetDirs(nodeDataDir: string): Promise<string[]> {
  const entries = await readdir(nodeDataDir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.name === 'chunks.mdb').map((e) => e.parentPath);
}

/** One range of a chunk as one replica serves it, its CRC checked against the one it came with. */
async function readFrom(address: string, chain: ChainInfo, ino: number, index: number, offset: number, length: number) {
  const storageClient = storage.get(address);
  const response = await callUnary(
    storageClient,
    storageClient.batchRead,
    { ios: [{ chainId: chain.chainId, chainVersion: chain.chainVersion, chunk: { ino, index }, offset, length }] },
    'storage.BatchRead',
    { timeoutMs: 30_000 },
  );
  const result = response.results[0]!;
  expect(result.status?.code ?? 0, result.status?.message).toBe(0);
  expect(result.dataCrc32c).toBe(crc32c(result.data));
  return Buffer.from(result.data);
}

describe('a cluster with format-1 and format-2 chunk metadata', () => {
  it('serves, appends to and migrates chunks of a node left in format 1', async () => {
    const c = cluster();
    await client.mkdir('/formats');
    await client.setLayout('/formats', { chunkSizeBytes: CHUNK_BYTES });
    const path = '/formats/mixed.bin';
    const data = randomBytes(3 * CHUNK_BYTES + 100 * KiB);
    await client.writeFile(path, data);
    const { ino, layout } = await client.stat(path);
    const chunks = Math.ceil(data.length / CHUNK_BYTES);

    // The old node: stopped, its records rewritten in format 1, started again on them.
    const old = c.nodes[0]!;
    await c.killNode(old.id, 'SIGTERM');
    let rewritten = 0;
    for (const dir of await targetDirs(old.dataDir)) rewritten += await rewriteAsFormat1(dir);
    expect(rewritten).toBeGreaterThanOrEqual(chunks);
    const restarted = await c.restartNode(old.id);
    let routing = await waitForRouting(c.metaAddress, 'every target serving after the restart', allServing, 120_000);

    // Every replica serves every chunk right, in 4 KiB reads and reads across 64 KiB segments.
    const chains = tableChains(routing);
    const addresses = routing.nodes.map((n) => n.address);
    expect(addresses).toContain(restarted.addr);
    for (let index = 0; index < chunks; index++) {
      const chain = chains.find(
        (x) =>
          x.chainId ===
          chainForChunk(
            layout!,
            chains.map((x) => x.chainId),
            index,
          ),
      )!;
      const chunkStart = index * CHUNK_BYTES;
      const chunkLength = Math.min(CHUNK_BYTES, data.length - chunkStart);
      for (const address of addresses) {
        for (const [offset, length] of [
          [0, 4 * KiB],
          [60 * KiB, 4 * KiB],
          [64 * KiB + 8 * KiB, 4 * KiB],
          [60 * KiB, 72 * KiB],
          [0, chunkLength],
        ] as const) {
          if (offset >= chunkLength) continue;
          const got = await readFrom(address, chain, ino, index, offset, length);
          const want = data.subarray(chunkStart + offset, chunkStart + Math.min(chunkLength, offset + length));
          expectSame(got, want, `chunk ${index} [${offset}, +${length}) from ${address}`);
        }
      }
    }
    expectSame(await client.readFile(path), data, 'the whole file');

    // Writes in the mixed cluster: rewrite part of chunk 0 (copy-on-write) and append to the last chunk.
    const patch = randomBytes(10 * KiB);
    const tail = randomBytes(20 * KiB); // 120 KiB: still inside the last chunk's 128 KiB block
    const handle = await client.open(path, 'r+');
    await handle.write(patch, 0, patch.length, 5 * KiB);
    await handle.write(tail, 0, tail.length, data.length);
    await handle.close();
    const expected = Buffer.concat([data, tail]);
    patch.copy(expected, 5 * KiB);
    expectSame(await client.readFile(path), expected, 'the file after the writes');
    routing = await routingOf(c.metaAddress);
    const { differences } = await replicaDifferences(storage, routing, 3);
    expect(differences).toEqual([]);

    // The old node serves the written chunks right, straight from its disk.
    for (let index = 0; index < chunks; index++) {
      const chain = chains.find(
        (x) =>
          x.chainId ===
          chainForChunk(
            layout!,
            chains.map((x) => x.chainId),
            index,
          ),
      )!;
      const fresh = { ...chain, chainVersion: routing.chains.find((x) => x.chainId === chain.chainId)!.chainVersion };
      const want = expected.subarray(index * CHUNK_BYTES, Math.min(expected.length, (index + 1) * CHUNK_BYTES));
      expectSame(await readFrom(restarted.addr, fresh, ino, index, 0, CHUNK_BYTES), want, `chunk ${index} (old node)`);
    }

    // On the old node: chunk 0 was rewritten (4 KiB segments), the appended chunk kept its 64 KiB
    // ones, the untouched chunks are still format 1.
    await c.killNode(old.id, 'SIGTERM');
    const records = new Map<string, { format: number; segmentBytes: number }>();
    for (const dir of await targetDirs(old.dataDir)) for (const [k, v] of await recordFormats(dir)) records.set(k, v);
    expect(records.get(`${ino}:0`)).toEqual({ format: 2, segmentBytes: CRC_SEGMENT_BYTES });
    expect(records.get(`${ino}:1`)).toEqual({ format: 1, segmentBytes: CRC_SEGMENT_BYTES_FORMAT_1 });
    expect(records.get(`${ino}:${chunks - 1}`)).toEqual({ format: 2, segmentBytes: CRC_SEGMENT_BYTES_FORMAT_1 });
    await c.restartNode(old.id);
    await waitForRouting(c.metaAddress, 'every target serving again', allServing, 120_000);
    expectSame(await client.readFile(path), expected, 'the file after the second restart');
  });
});
