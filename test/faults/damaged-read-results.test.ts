// Reads are checked end to end (issue 15): one of three storage nodes sends every read result with
// a byte flipped after its CRC32C was taken (SPINDLE_TEST_DAMAGE_READ_RESULTS=1 in that node's
// environment only). Through either data path — bulk (frames for large ranges, one bulk call for
// small ones) and gRPC (bytes inline in ReadResult with data_crc32c) — every read through the
// client returns the written bytes: the damaged results fail their check and the read goes to
// another replica.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { crc32c } from '../../common/crc32c.js';
import { useCluster } from '../harness/cluster.js';
import { StorageClients, readChunkFrom, routingOf } from '../harness/replicas.js';
import { chainAt, expectSame } from './support.js';

const DAMAGED_NODE = 1;
const cluster = useCluster({
  storageNodes: 3,
  replicas: 3,
  targetsPerNode: 1,
  dataTransport: 'bulk',
  storageOverrides: { [DAMAGED_NODE]: { commandPrefix: ['env', 'SPINDLE_TEST_DAMAGE_READ_RESULTS=1'] } },
});
const data = randomBytes(6 * 64 * 1024 + 1234);
let storage: StorageClients;

beforeAll(async () => {
  storage = new StorageClients();
  await (await cluster().client()).writeFile('/checked.bin', data);
});

afterAll(() => storage?.close());

/** Whole-file reads (large ranges) and 4 KiB reads at scattered offsets (small ranges). */
async function readsAreRight(client: SpindleClient): Promise<void> {
  for (let round = 0; round < 8; round++) expectSame(await client.readFile('/checked.bin'), data, `read ${round}`);
  const handle = await client.open('/checked.bin', 'r');
  try {
    for (let i = 0; i < 48; i++) {
      const offset = (i * 37_813) % (data.length - 4096);
      const got = Buffer.alloc(4096);
      const { bytesRead } = await handle.read(got, 0, 4096, offset);
      expect(bytesRead).toBe(4096);
      expectSame(got, data.subarray(offset, offset + 4096), `4 KiB at ${offset}`);
    }
  } finally {
    await handle.close();
  }
}

describe('a node whose read results are damaged after their CRC32C was taken', () => {
  it('really sends damaged bytes (the results do not match the CRC32C sent with them)', async () => {
    const c = cluster();
    const client = await c.client();
    const stat = await client.stat('/checked.bin');
    const node = c.nodes.find((n) => n.id === c.local.storage.get(DAMAGED_NODE)!.ready.id)!;
    const chain = await chainAt(client, '/checked.bin', await routingOf(c.metaAddress), 0);
    const chunkBytes = stat.layout!.chunkSizeBytes;
    const chunk = await readChunkFrom(storage, node.addr, chain, { ino: stat.ino, index: 0 }, chunkBytes);
    expect(chunk.equals(data.subarray(0, chunkBytes))).toBe(false);
    expect(crc32c(chunk)).not.toBe(crc32c(data.subarray(0, chunkBytes)));
  });

  it('is never used by a client on the bulk data path', async () => {
    await readsAreRight(await cluster().client({ config: { dataTransport: 'bulk' } }));
  }, 120_000);

  it('is never used by a client on the gRPC data path', async () => {
    await readsAreRight(await cluster().client({ config: { dataTransport: 'grpc' } }));
  }, 120_000);
});
