// End-to-end data path on a real cluster (meta + 3 storage nodes, chains of 3 replicas):
// - a 200 MiB file of random bytes reads back byte-identical, and every chunk has the same
//   length, CRC32C, committed version and bytes on all replicas of its chain (checked straight
//   on each storage node with DumpChunkMeta + BatchRead), on the chain placement says;
// - several clients writing different files at once each read back what they wrote;
// - readers racing a writer that overwrites whole chunks never see a chunk mixing two writes.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import { chainForChunk } from '../../common/placement.js';
import { useCluster } from '../harness/cluster.js';
import {
  dumpFileChunks,
  readChunkFrom,
  routingOf,
  StorageClients,
  tableChains,
  type ReplicaChunk,
} from '../harness/replicas.js';

const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

// Production preset: 4 MiB chunks, the layout a user gets from `spindle up`.
const cluster = useCluster({ preset: 'production' });

describe('data path', () => {
  it('a 200 MiB random file reads back identical and is identical on every replica', async () => {
    const client = await cluster().client();
    const data = randomBytes(200 * MiB);
    await client.writeFile('/big.bin', data);
    const back = await client.readFile('/big.bin');
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));

    const stat = await client.stat('/big.bin');
    expect(stat.size).toBe(data.length);
    const layout = stat.layout!;
    const chunkSize = layout.chunkSizeBytes;
    const chunkCount = Math.ceil(data.length / chunkSize);

    const routing = await routingOf(cluster().metaAddress);
    const chains = tableChains(routing, layout.chainTableId);
    const chainIds = chains.map((c) => c.chainId);
    const storage = new StorageClients();
    try {
      const rows = await dumpFileChunks(storage, routing, stat.ino);
      const byIndex = new Map<number, ReplicaChunk[]>();
      for (const row of rows) {
        const list = byIndex.get(row.meta.chunk!.index) ?? [];
        list.push(row);
        byIndex.set(row.meta.chunk!.index, list);
      }
      expect([...byIndex.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: chunkCount }, (_, i) => i));
      for (const [index, replicas] of byIndex) {
        const expected = data.subarray(index * chunkSize, Math.min(data.length, (index + 1) * chunkSize));
        const chainId = chainForChunk(layout, chainIds, index);
        const chain = chains.find((c) => c.chainId === chainId)!;
        // One replica per target of the chain placement names, on distinct nodes.
        expect(replicas.map((r) => r.chainId).every((id) => id === chainId)).toBe(true);
        expect(replicas.map((r) => r.targetId).sort()).toEqual([...chain.targetIds].sort());
        expect(new Set(replicas.map((r) => r.nodeId)).size).toBe(chain.targetIds.length);
        for (const r of replicas) {
          expect(r.meta.length).toBe(expected.length);
          expect(r.meta.crc32c).toBe(crc32c(expected));
          expect(r.meta.commitVersion).toBe(replicas[0]!.meta.commitVersion);
          expect(r.meta.updateVersion).toBe(r.meta.commitVersion);
        }
        const copies = await Promise.all(
          replicas.map((r) => readChunkFrom(storage, r.address, chain, { ino: stat.ino, index }, chunkSize)),
        );
        for (const copy of copies) expect(copy.equals(expected)).toBe(true);
      }
    } finally {
      storage.close();
    }
  }, 600_000);

  it('several clients write different files at once and each reads back its bytes', async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => cluster().client()));
    await clients[0]!.mkdir('/multi', { recursive: true });
    const files = clients.flatMap((_, c) =>
      [0, 1, 2].map((f) => ({
        writer: c,
        path: `/multi/c${c}-f${f}.bin`,
        data: randomBytes((c + 1) * MiB + f * 333_333 + 17),
      })),
    );
    await Promise.all(
      clients.map(async (client, c) => {
        for (const file of files.filter((f) => f.writer === c)) {
          if (file.path.endsWith('f1.bin')) {
            // Streams and positional writes too, not only writeFile.
            const handle = await client.open(file.path, 'w');
            const half = Math.floor(file.data.length / 2);
            await Promise.all([
              handle.write(file.data, half, file.data.length - half, half),
              handle.write(file.data, 0, half, 0),
            ]);
            await handle.close();
          } else {
            await client.writeFile(file.path, file.data);
          }
        }
      }),
    );
    // Every file read by a different client than its writer.
    await Promise.all(
      files.map(async (file) => {
        const reader = clients[(file.writer + 1) % clients.length]!;
        const back = await reader.readFile(file.path);
        expect(back.length).toBe(file.data.length);
        expect(sha256(back)).toBe(sha256(file.data));
      }),
    );
    const names = (await clients[0]!.readdir('/multi')).sort();
    expect(names).toEqual(files.map((f) => f.path.slice('/multi/'.length)).sort());
  }, 300_000);

  it('reads racing whole-chunk overwrites never see a chunk mixing two writes', async () => {
    const writer = await cluster().client();
    const readers = await Promise.all([1, 2].map(() => cluster().client()));
    // Small chunks: many rounds of whole-chunk overwrites in little time.
    await writer.mkdir('/race', { recursive: true });
    await writer.setLayout('/race', { chunkSizeBytes: 64 * 1024 });
    const path = '/race/file.bin';
    await writer.writeFile(path, Buffer.alloc(1));
    const chunkSize = (await writer.stat(path)).layout!.chunkSizeBytes;
    expect(chunkSize).toBe(64 * 1024);
    const chunks = 4;
    await writer.writeFile(path, Buffer.alloc(chunks * chunkSize, 0));
    const rounds = 40;
    let writing = true;
    const seen = new Set<number>();
    const violations: string[] = [];

    const writeLoop = (async () => {
      const handle = await writer.open(path, 'r+');
      try {
        for (let round = 1; round <= rounds; round += 1) {
          await handle.write(Buffer.alloc(chunks * chunkSize, round), 0, chunks * chunkSize, 0);
        }
      } finally {
        await handle.close();
        writing = false;
      }
    })();
    const readLoops = readers.map(async (reader) => {
      const handle = await reader.open(path, 'r');
      const buffer = Buffer.alloc(chunkSize);
      let reads = 0;
      try {
        while (writing || reads < chunks) {
          const index = reads % chunks;
          reads += 1;
          const { bytesRead } = await handle.read(buffer, 0, chunkSize, index * chunkSize);
          if (bytesRead !== chunkSize) violations.push(`short read of chunk ${index}: ${bytesRead}`);
          const value = buffer[0]!;
          if (!buffer.equals(Buffer.alloc(chunkSize, value)))
            violations.push(`chunk ${index} mixes values (first byte ${value})`);
          if (value > rounds) violations.push(`chunk ${index} holds value ${value}, never written`);
          seen.add(value);
        }
      } finally {
        await handle.close();
      }
    });
    await Promise.all([writeLoop, ...readLoops]);
    expect(violations).toEqual([]);
    const final = await readers[0]!.readFile(path);
    expect(final.equals(Buffer.alloc(chunks * chunkSize, rounds))).toBe(true);
    // The readers did run during the writes (not only before or after).
    expect(seen.size).toBeGreaterThan(1);
  }, 300_000);
});
