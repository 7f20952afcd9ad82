// Checkpoints under storage faults, with real processes (3 storage nodes, 3 replicas):
// - a byte of a shard damaged on disk on ONE replica: the node refuses it (CHUNK_CORRUPT), the
//   client fails over to another replica, and readShard / verify succeed; damaged on EVERY replica:
//   readShard and verify fail with DATA_CORRUPTED naming the shard, without waiting for a deadline;
// - a storage node killed with SIGKILL while 4 rank processes save 16 MiB each: the save commits,
//   or fails with a clear error leaving no step visible; after the node restarts the previous step
//   (and the new one if committed) loads and verifies.
// Timings are printed as one JSON line (`checkpoint-fault-timings`) for docs/checkpoints.md.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpindleClient, openCheckpoints } from '../../client/index.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { MiB, allServing, chainAt, waitForRouting } from '../faults/support.js';
import { useCluster } from '../harness/cluster.js';
import { StorageClients, readChunkFrom, routingOf } from '../harness/replicas.js';
import {
  type RankProcess,
  bigShardBytes,
  findInDataFiles,
  flipByteOnDisk,
  rankOutcome,
  shardBytes,
  startRank,
} from './support.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 3 });
const live = new Set<ChildProcess>();
let client: SpindleClient;

beforeAll(async () => {
  client = await cluster().client();
});

afterAll(() => {
  for (const child of live) child.kill('SIGKILL');
});

async function expectCode(promise: Promise<unknown>, code: ErrorCode, text: string): Promise<Error> {
  const err = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(isSpindleError(err, code), `expected ${ErrorCode[code]}, got ${String(err)}`).toBe(true);
  expect((err as Error).message).toContain(text);
  return err as Error;
}

describe('checkpoints with a damaged replica', () => {
  it('a byte damaged on one replica is read from another; damaged on every replica, the shard is named', async () => {
    const c = cluster();
    const checkpoints = await openCheckpoints(client, '/ck-damaged');
    for (const rank of [0, 1]) {
      const save = await checkpoints.begin(10, { worldSize: 2, rank });
      await save.writeShard('w.bin', shardBytes(10, rank, 'w.bin'));
      await save.finish();
    }
    const expected = shardBytes(10, 1, 'w.bin');
    const path = '/ck-damaged/step-000000000010/rank-1/w.bin';
    const stat = await client.stat(path);
    const chunkBytes = stat.layout!.chunkSizeBytes;
    // 64 bytes from inside the second chunk: unique (hash-derived), so found once per replica.
    const offset = chunkBytes + 4096;
    const needle = expected.subarray(offset, offset + 64);
    const nodes = c.nodes;
    const hits = await Promise.all(nodes.map((node) => findInDataFiles(node.dataDir, needle)));
    expect(hits.map((found) => found.length)).toEqual([1, 1, 1]);

    // One replica damaged: its node refuses the chunk; the client reads it from another replica.
    await flipByteOnDisk(hits[0]![0]!.file, hits[0]![0]!.at + 10);
    const routing = await routingOf(c.metaAddress);
    const chain = await chainAt(client, path, routing, offset);
    const storage = new StorageClients();
    try {
      const chunk = { ino: stat.ino, index: 1 };
      const refused = readChunkFrom(storage, nodes[0]!.addr, chain, chunk, chunkBytes);
      await expect(refused).rejects.toThrow(`code ${ErrorCode.CHUNK_CORRUPT}`);
      const intact = await readChunkFrom(storage, nodes[1]!.addr, chain, chunk, chunkBytes);
      expect(intact.equals(expected.subarray(chunkBytes, 2 * chunkBytes))).toBe(true);
    } finally {
      storage.close();
    }
    // Each read starts at a random replica: 20 whole reads miss the damaged one with p = (2/3)^20.
    for (let i = 0; i < 20; i++) expect((await checkpoints.readShard(10, 1, 'w.bin')).equals(expected)).toBe(true);
    await checkpoints.verify(10);

    // Every replica damaged: DATA_CORRUPTED naming the shard (not a retry until the deadline). The
    // first node repaired its copy from a good one once a read found it damaged (a fresh block):
    // wait for that, then damage the chunk on all three nodes.
    let again: { file: string; at: number }[][] = [];
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      again = await Promise.all(nodes.map((node) => findInDataFiles(node.dataDir, needle)));
      if (again.every((found) => found.length === 1)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(again.map((found) => found.length)).toEqual([1, 1, 1]);
    for (const found of again) await flipByteOnDisk(found[0]!.file, found[0]!.at + 10);
    await expectCode(checkpoints.readShard(10, 1, 'w.bin'), ErrorCode.DATA_CORRUPTED, 'rank-1/w.bin of step 10');
    const err = await expectCode(checkpoints.verify(10), ErrorCode.DATA_CORRUPTED, 'rank-1/w.bin');
    expect(err.message).toContain('every replica');
    expect(err.message).not.toContain('rank-0/w.bin');
    // Bytes outside the damaged checksum segment still read; the other rank's shard is intact.
    const head = await checkpoints.readShard(10, 1, 'w.bin', { offset: 0, length: 1000 });
    expect(head.equals(expected.subarray(0, 1000))).toBe(true);
    expect((await checkpoints.readShard(10, 0, 'w.bin')).equals(shardBytes(10, 0, 'w.bin'))).toBe(true);
  });
});

const RANKS = [0, 1, 2, 3];
const SHARD_BYTES = 16 * MiB;

interface SaveRun {
  ranks: RankProcess[];
  startedMs: number;
}

function startSave(dir: string, step: number, saveId: string): SaveRun {
  const c = cluster();
  const startedMs = performance.now();
  const ranks = RANKS.map((rank) =>
    startRank(
      c.metaAddress,
      { dir, step, worldSize: RANKS.length, rank, saveId, mode: 'big', bytes: SHARD_BYTES },
      live,
    ),
  );
  return { ranks, startedMs };
}

async function outcomes(run: SaveRun) {
  const exits = await Promise.all(run.ranks.map((rank) => rank.exited));
  const seconds = (performance.now() - run.startedMs) / 1000;
  return { seconds, exits, outcomes: exits.map((exit) => rankOutcome(exit.stdout)) };
}

async function expectStepIntact(dir: string, step: number): Promise<void> {
  const checkpoints = await openCheckpoints(client, dir);
  const manifest = await checkpoints.verify(step);
  expect(manifest.shards).toHaveLength(2 * RANKS.length);
  const model = await checkpoints.readShard(step, 3, 'model.bin');
  expect(model.equals(bigShardBytes(step, 3, 'model.bin', SHARD_BYTES / 2))).toBe(true);
}

describe('checkpoints while a storage node is killed', () => {
  it('a save during a kill -9 of a storage node commits, or fails clearly leaving no step', async () => {
    const c = cluster();
    const dir = '/ck-kill';
    await client.mkdir(dir);
    await client.setLayout(dir, { chunkSizeBytes: MiB });
    await waitForRouting(c.metaAddress, 'every target serving', allServing);

    const quiet = await outcomes(startSave(dir, 1, 'quiet'));
    for (const outcome of quiet.outcomes) expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    const checkpoints = await openCheckpoints(client, dir);
    expect(await checkpoints.list()).toEqual([1]);

    const run = startSave(dir, 2, 'killed');
    await Promise.race(run.ranks.map((rank) => rank.printed('half')));
    const victim = c.nodes[1]!.id;
    const killedAtS = (performance.now() - run.startedMs) / 1000;
    await c.killNode(victim);
    const killed = await outcomes(run);
    const failed = killed.outcomes.filter((outcome) => !outcome.ok);
    const committed = failed.length === 0;
    if (committed) {
      const results = killed.outcomes.map((outcome) => (outcome.ok ? outcome.result : undefined));
      expect(results.filter((result) => result?.committed === true && result.committer === true)).toHaveLength(1);
      expect(await checkpoints.list()).toEqual([1, 2]);
    } else {
      // A clear error: a Spindle error code and a message, never a crash or a hang.
      for (const outcome of failed) {
        expect(outcome.ok === false && outcome.code !== 'NOT_A_SPINDLE_ERROR', JSON.stringify(outcome)).toBe(true);
      }
      expect(await checkpoints.list()).toEqual([1]);
      expect(await client.readdir(dir)).not.toContain('step-000000000002');
    }

    const restartedMs = performance.now();
    await c.restartNode(victim);
    await waitForRouting(c.metaAddress, 'the restarted node serving again', allServing, 120_000);
    const resyncS = (performance.now() - restartedMs) / 1000;
    await expectStepIntact(dir, 1);
    if (committed) await expectStepIntact(dir, 2);
    // The next save works, and collects what a failed save left.
    const next = await outcomes(startSave(dir, 3, 'after'));
    for (const outcome of next.outcomes) expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    await expectStepIntact(dir, 3);
    expect((await client.readdir(dir)).filter((entry) => entry.startsWith('.'))).toEqual([]);

    const writeMs = (outcome: (typeof quiet.outcomes)[number]) =>
      outcome.ok ? Math.round(Number(outcome.result.writeMs)) : undefined;
    console.log(
      JSON.stringify({
        'checkpoint-fault-timings': 'storage-kill',
        shardBytesPerRank: SHARD_BYTES,
        ranks: RANKS.length,
        quietSaveS: quiet.seconds,
        quietRankWriteMs: quiet.outcomes.map(writeMs),
        killedSaveS: killed.seconds,
        killAfterS: killedAtS,
        killedOutcome: committed ? 'committed' : failed.map((outcome) => !outcome.ok && outcome.code),
        killedRankWriteMs: killed.outcomes.map(writeMs),
        restartToServingS: resyncS,
        afterSaveS: next.seconds,
      }),
    );
  }, 600_000);
});
