// Forged replication, scripted against real processes (issue 16): a Storage.Update carrying other
// bytes is sent straight to a chain's tail — with a client token, with the head's storage token
// (a chain member, but not the tail's predecessor) and with an admin token — as is a SyncDone.
// Each is refused with PERMISSION_DENIED; afterwards every replica holds the same version, CRC and
// bytes as before, and reads return what was written.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { chainForChunk } from '../../common/placement.js';
import { callUnary } from '../../common/rpc.js';
import { UpdateType } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import {
  addressOfTarget,
  dumpFileChunks,
  readChunkFrom,
  replicaDifferences,
  routingOf,
  StorageClients,
  tableChains,
} from '../harness/replicas.js';
import { storageAs, tokenMinter } from './testing/tokens.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3 });
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function refusal(promise: Promise<unknown>): Promise<SpindleError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the forged call must be refused').toBeInstanceOf(SpindleError);
  return err as SpindleError;
}

describe('forged replication', () => {
  it('Update or SyncDone sent to a tail by any but its predecessor is refused; replicas stay identical', async () => {
    const client = await cluster().client();
    const data = randomBytes(300 * 1024);
    await client.writeFile('/replicated.bin', data);
    const stat = await client.stat('/replicated.bin');
    const layout = stat.layout!;
    const routing = await routingOf(cluster().metaAddress);
    const chains = tableChains(routing, layout.chainTableId);
    const chainId = chainForChunk(
      layout,
      chains.map((c) => c.chainId),
      0,
    );
    const chain = chains.find((c) => c.chainId === chainId)!;
    expect(chain.targetIds.length).toBe(3);
    const [headTarget, middleTarget, tailTarget] = chain.targetIds as [number, number, number];
    const head = addressOfTarget(routing, headTarget);
    const tail = addressOfTarget(routing, tailTarget);

    const storage = new StorageClients();
    try {
      const before = (await dumpFileChunks(storage, routing, stat.ino)).filter(
        (row) => row.chainId === chainId && row.meta.chunk!.index === 0,
      );
      expect(before.length).toBe(3);
      const committed = before[0]!.meta;
      const length = committed.length;
      const original = data.subarray(0, length);
      const forged = Buffer.alloc(length, 0x66);
      const update = {
        chainId,
        chainVersion: chain.chainVersion,
        chunk: { ino: stat.ino, index: 0 },
        type: UpdateType.REPLACE,
        offset: 0,
        data: forged,
        dataCrc32c: crc32c(forged),
        chunkSizeBytes: layout.chunkSizeBytes,
        updateVersion: committed.commitVersion + 1,
        // Pretends to come from the tail's real predecessor.
        fromTargetId: middleTarget,
      };

      const tokens = await tokenMinter(cluster().dataDir);
      const attackers: Array<[string, string]> = [
        ['a client token', tokens.client('mallory', 4242)],
        ["the head's storage token", tokens.storage(head.nodeId)],
        ['an admin token', tokens.mint({ role: 'admin', user: 'ops', uid: 0, gid: 0 })],
      ];
      for (const [what, token] of attackers) {
        const raw = storageAs(tail.address, token);
        try {
          const updated = await refusal(callUnary(raw, raw.update, update, 'storage.Update'));
          expect(updated.errorCode, `${what}: ${updated.message}`).toBe(ErrorCode.PERMISSION_DENIED);
          const synced = await refusal(
            callUnary(
              raw,
              raw.syncDone,
              { chainId, chainVersion: chain.chainVersion, targetId: tailTarget, fromTargetId: middleTarget },
              'storage.SyncDone',
            ),
          );
          expect(synced.errorCode, `${what}: ${synced.message}`).toBe(ErrorCode.PERMISSION_DENIED);
        } finally {
          raw.close();
        }
      }

      // Every replica: same version, length and CRC as before, nothing pending, the written bytes.
      const after = await routingOf(cluster().metaAddress);
      expect((await replicaDifferences(storage, after, 3)).differences).toEqual([]);
      const now = (await dumpFileChunks(storage, after, stat.ino)).filter(
        (row) => row.chainId === chainId && row.meta.chunk!.index === 0,
      );
      for (const row of now) {
        expect(row.meta.commitVersion).toBe(committed.commitVersion);
        expect(row.meta.crc32c).toBe(committed.crc32c);
        const bytes = await readChunkFrom(storage, row.address, chain, { ino: stat.ino, index: 0 }, length);
        expect(bytes.equals(original), `replica on node ${row.nodeId}`).toBe(true);
      }
      for (let round = 0; round < 6; round++)
        expect(sha256(await client.readFile('/replicated.bin'))).toBe(sha256(data));
    } finally {
      storage.close();
    }
  });
});
