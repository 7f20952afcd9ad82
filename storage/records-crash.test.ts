// An exactly-once record is durable with the chunk commit that carries its write out (docs/simulation.md
// K2, seeds 955, 1270, 3263): a node that crashes right after acknowledging a write still answers the
// client's retry from the record when it comes back, instead of running the write a second time.
//
// The crash is an image of the target directory taken the moment the commit resolves (before the
// node answers): what a kill -9 then leaves on disk, since a process crash keeps every write the
// process made (lmdb writes its pages with write()). The node is restarted on that image.
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.js';
import { callUnary } from '../common/rpc.js';
import { ChannelRecords } from './channel-records.js';
import { ChunkEngine } from './chunk-engine/chunk-engine.js';
import { pattern, settleRouting, startTestCluster, write, writeRequest, type TestCluster } from './testing/cluster.js';

describe('exactly-once records across a crash right after the acknowledgement', () => {
  let cluster: TestCluster;
  const image = mkdtempSync(join(tmpdir(), 'spindle-crash-image-'));

  beforeAll(async () => {
    cluster = await startTestCluster({ nodes: 1 });
  });

  afterAll(async () => {
    await cluster?.close();
    rmSync(image, { recursive: true, force: true });
  });

  it("the restarted head answers the retry from the record: the chunk's version moved once", async () => {
    const node = cluster.nodes[0]!;
    const target = node.targets[0]!;
    const chainVersion = cluster.mgmt.setChain(1, [target.targetId]).chainVersion;
    await settleRouting(cluster);

    // The crash image: the target's files as they are when the write's commit resolves.
    const engine = target.engine;
    const commit = engine.commit.bind(engine);
    engine.commit = async (...args) => {
      const info = await commit(...args);
      cpSync(target.path, image, { recursive: true, filter: (path) => !path.endsWith('-lock') });
      return info;
    };
    const request = writeRequest({ chainId: 1, chainVersion, chunk: { ino: 31, index: 0 }, data: pattern(30_000, 1) });
    const answered = await write(cluster.client(node), request);
    expect(answered.commitVersion).toBe(1);

    // kill -9 at that moment: the node restarts on the image.
    const targetDir = target.path;
    await node.close();
    rmSync(targetDir, { recursive: true, force: true });
    cpSync(image, targetDir, { recursive: true });
    const restarted = await cluster.startNode(0);
    const v2 = cluster.mgmt.setChain(1, [restarted.targets[0]!.targetId]).chainVersion;
    await settleRouting(cluster);

    // The client's retry (same channel and seqnum) gets the first answer; nothing ran again.
    const client = cluster.client(restarted);
    expect(await write(client, { ...request, chainVersion: v2 })).toEqual(answered);
    const { chunks } = await callUnary(
      client,
      client.dumpChunkMeta,
      { chainId: 1, chainVersion: 0, limit: 0, ino: 31 },
      'storage.DumpChunkMeta',
    );
    expect(chunks.map((c) => c.commitVersion)).toEqual([1]);
  });
});

describe('records of a target written before they shared the chunk env', () => {
  it('are moved from channels.mdb into the chunk env, and channels.mdb is deleted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-records-move-'));
    try {
      const response = { length: 5, commitVersion: 3, chunkCrc32c: 77 };
      const old = openLmdb({ path: join(dir, 'channels.mdb'), compression: false });
      await old.put('c/1/1', { seqnum: 4, fingerprint: '9:0:1:0:5:1', response, atMs: 1_000 });
      await old.close();

      const clock = new ManualClock(2_000);
      const engine = await ChunkEngine.open({ dir, fsync: true, clock });
      try {
        const records = await ChannelRecords.open(dir, engine.records, { clock });
        expect(records.lookup('c/1/1', 4, '9:0:1:0:5:1')).toEqual(response);
        expect(existsSync(join(dir, 'channels.mdb'))).toBe(false);
        // The moved record is in the chunk env: a table opened on it again has it.
        await records.close();
        expect(ChannelRecords.openOn(engine.records, { clock }).lookup('c/1/1', 4, '9:0:1:0:5:1')).toEqual(response);
        // The records table's entry in the root db is not taken for a chunk.
        expect(engine.dump({ limit: 10 }).chunks).toEqual([]);
      } finally {
        await engine.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
