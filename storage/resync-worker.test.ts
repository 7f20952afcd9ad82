// Resync of a returning replica between two storage nodes in one process (loopback gRPC, fake
// manager that lets the test set public target states).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../common/crc32c.js';
import { callUnary } from '../common/rpc.js';
import { LocalTargetState, PublicTargetState, UpdateType, type ChunkMeta, type StorageClient } from '../proto/index.js';
import type { ChunkInfo } from './chunk-engine/chunk-engine.js';
import { resyncAction } from './resync-worker.js';
import { pattern, settleRouting, startTestCluster, write, writeRequest, type TestCluster } from './testing/cluster.js';
import { reportedState, waitFor } from './testing/chain-faults.js';

let cluster: TestCluster;
let chainVersion: number;
let head: StorageClient;
let a: number;
let b: number;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 2 });
  [a, b] = cluster.nodes.map((n) => n.targetIds[0]!) as [number, number];
  chainVersion = cluster.mgmt.setChain(1, [a, b]).chainVersion;
  await settleRouting(cluster);
  head = cluster.client(cluster.nodes[0]!);
});

afterAll(async () => {
  await cluster?.close();
});

async function dumpAll(client: StorageClient): Promise<ChunkMeta[]> {
  const rows: ChunkMeta[] = [];
  let after: { ino: number; index: number } | undefined;
  for (;;) {
    const page = await callUnary(
      client,
      client.dumpChunkMeta,
      { chainId: 1, chainVersion: 0, limit: 7, ino: 0, after },
      'storage.DumpChunkMeta',
    );
    rows.push(...page.chunks);
    if (!page.hasMore) return rows;
    after = page.chunks.at(-1)!.chunk;
  }
}

const summary = (rows: ChunkMeta[]) =>
  rows.map((r) => `${r.chunk!.ino}/${r.chunk!.index}@${r.commitVersion}:${r.length}:${r.crc32c}`);

const reported = (index: number) => reportedState(cluster, index);

describe('resyncAction', () => {
  const local = (fields: Partial<ChunkInfo> = {}): ChunkInfo => ({
    ino: 1,
    index: 0,
    commitVersion: 3,
    updateVersion: 3,
    chainVersion: 1,
    length: 10,
    crc32c: 5,
    ...fields,
  });
  const remote = (fields: Partial<ChunkMeta> = {}): ChunkMeta => ({
    chunk: { ino: 1, index: 0 },
    commitVersion: 3,
    updateVersion: 3,
    chainVersion: 1,
    length: 10,
    crc32c: 5,
    ...fields,
  });

  it('copies what is missing or differs, removes what only the successor has, skips what matches', () => {
    expect(resyncAction(local(), undefined)).toBe('copy');
    expect(resyncAction(undefined, remote())).toBe('remove');
    expect(resyncAction(local(), remote())).toBe('unchanged');
    expect(resyncAction(local(), remote({ chainVersion: 9 }))).toBe('unchanged');
    expect(resyncAction(local(), remote({ commitVersion: 2, updateVersion: 2 }))).toBe('copy');
    expect(resyncAction(local(), remote({ commitVersion: 4, updateVersion: 4 }))).toBe('copy');
    expect(resyncAction(local(), remote({ updateVersion: 4 }))).toBe('copy');
    expect(resyncAction(local(), remote({ crc32c: 6 }))).toBe('copy');
    expect(resyncAction(local(), remote({ length: 11 }))).toBe('copy');
    expect(resyncAction(undefined, undefined)).toBe('unchanged');
  });
});

describe('resync of a syncing successor', () => {
  it('copies what differs, removes what should not be there, then the successor reports up to date', async () => {
    const ino = 40;
    for (let index = 0; index < 12; index++) {
      await write(
        head,
        writeRequest({ chainId: 1, chainVersion, chunk: { ino, index }, data: pattern(20_000 + index, index) }),
      );
    }
    await waitFor(
      'both targets reported up to date',
      () => reported(0) === LocalTargetState.UPTODATE && reported(1) === LocalTargetState.UPTODATE,
    );
    // The successor goes away; the chain goes on without it.
    cluster.mgmt.setTargetState(b, PublicTargetState.OFFLINE);
    chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    await waitFor('the offline target reported online', () => reported(1) === LocalTargetState.ONLINE);
    for (let index = 0; index < 4; index++) {
      await write(
        head,
        writeRequest({
          chainId: 1,
          chainVersion,
          chunk: { ino, index },
          offset: 100,
          data: pattern(5_000, 100 + index),
        }),
      );
    }
    for (let index = 12; index < 16; index++) {
      await write(head, writeRequest({ chainId: 1, chainVersion, chunk: { ino, index }, data: pattern(3_000, index) }));
    }
    await write(head, writeRequest({ chainId: 1, chainVersion, chunk: { ino, index: 11 }, type: UpdateType.REMOVE }));
    // Garbage only the returning replica holds (a write it committed that the chain never did).
    const engineB = cluster.nodes[1]!.targets[0]!.engine;
    const junk = pattern(777, 99);
    await engineB.applyUpdate(41, 0, 5, { type: UpdateType.REPLACE, offset: 0, data: junk, dataCrc32c: crc32c(junk) });
    await engineB.commit(41, 0, 5, 1);
    expect(summary(await dumpAll(cluster.client(cluster.nodes[1]!)))).not.toEqual(summary(await dumpAll(head)));

    // It returns as the syncing tail: the predecessor copies, and writes go on meanwhile.
    cluster.mgmt.setTargetState(b, PublicTargetState.SYNCING);
    chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    const writes = (async () => {
      for (let i = 0; i < 10; i++) {
        await write(
          head,
          writeRequest({
            chainId: 1,
            chainVersion,
            chunk: { ino, index: i % 6 },
            offset: 7 * i,
            data: pattern(900, 200 + i),
          }),
        );
      }
    })();
    await writes;
    await waitFor('the syncing target reported up to date', () => reported(1) === LocalTargetState.UPTODATE);
    const [onA, onB] = [await dumpAll(head), await dumpAll(cluster.client(cluster.nodes[1]!))];
    expect(summary(onB)).toEqual(summary(onA));
    expect(onA.some((r) => r.chunk!.ino === 41)).toBe(false);
    expect(onA.some((r) => r.chunk!.ino === ino && r.chunk!.index === 11)).toBe(false);
    // The predecessor reports its progress and metrics.
    const nodeA = cluster.nodes[0]!.nodeId;
    const lastReport = () => cluster.mgmt.heartbeats.filter((h) => h.nodeId === nodeA && h.resyncs.length > 0).at(-1);
    await waitFor('the predecessor reported the resync done', () => lastReport()?.resyncs[0]?.done === true);
    const beat = lastReport();
    expect(beat?.resyncs[0]).toMatchObject({ chainId: 1, targetId: b, fromTargetId: a, done: true });
    // chunks 12–15 at least (writes during the sync may replace 0–5 first)
    expect(beat!.resyncs[0]!.chunksCopied).toBeGreaterThanOrEqual(4);
    expect(beat!.resyncs[0]!.chunksRemoved).toBeGreaterThanOrEqual(2);
    const metrics = await cluster.nodes[0]!.registry.metrics();
    expect(metrics).toMatch(/spindle_storage_resync_runs_total\{result="done"\} 1/);
    expect(metrics).toMatch(/spindle_storage_resync_chunks_total\{action="copied"\} \d+/);

    // Once serving again it keeps receiving normal writes.
    cluster.mgmt.setTargetState(b, PublicTargetState.SERVING);
    chainVersion = cluster.mgmt.chain(1).chainVersion;
    await settleRouting(cluster);
    await write(
      head,
      writeRequest({ chainId: 1, chainVersion, chunk: { ino, index: 0 }, offset: 0, data: Buffer.from('after') }),
    );
    expect(summary(await dumpAll(cluster.client(cluster.nodes[1]!)))).toEqual(summary(await dumpAll(head)));
  });

  it('refuses resync copies and SyncDone for a target that is not syncing', async () => {
    const tail = cluster.client(cluster.nodes[1]!);
    const err = await callUnary(
      tail,
      tail.syncDone,
      { chainId: 1, chainVersion, targetId: b, fromTargetId: a },
      'storage.SyncDone',
    ).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/not SYNCING/);
    const data = Buffer.from('x');
    const copy = await callUnary(
      tail,
      tail.update,
      {
        chainId: 1,
        chainVersion,
        chunk: { ino: 42, index: 0 },
        type: UpdateType.REPLACE,
        offset: 0,
        data,
        dataCrc32c: crc32c(data),
        chunkSizeBytes: 65536,
        updateVersion: 1,
        fromTargetId: a,
        sync: true,
      },
      'storage.Update',
    ).catch((e: unknown) => e);
    expect((copy as Error).message).toMatch(/not SYNCING/);
  });
});
