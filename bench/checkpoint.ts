// Suite `checkpoint`: saving and loading one training step through the checkpoint library
// (client/checkpoints/, docs/checkpoints.md) by 4 rank processes, each with its own SpindleClient,
// on a 3-node cluster with 3 replicas: one shard of 512 MiB per rank (64 MiB with --quick).
// Per repetition: a save with begin + writeShard + finish, a load of it (every rank reads its shard
// whole, CRC-checked, into a buffer allocated and touched before the clock starts — as a restore
// fills tensors that exist, or reuses one buffer — and checks every byte), an async save with
// Checkpoints.save (stagingBytes = the shard, so the copy never waits for the writer; the staging
// memory prepared before the clock, as a job saving every N steps reuses it; each rank overwrites
// its buffer once `captured` resolves) and a load of that. A step just saved is read as found (storage writes with
// O_DIRECT: from disk); after the last repetition the storage nodes' page cache is warmed and the
// last step read again. Limits in the same run: dd O_DIRECT write ÷ 3 for saves, raw TCP loopback
// for loads (as seq-write and seq-read).
//
// Back of the envelope (2 cores shared by 4 ranks, 3 storage nodes and meta; docs/performance.md):
// a save moves every byte as seq-write does at R=3 (client → head → two successors, each writing it
// with O_DIRECT to the one disk), so it is bound by disk write ÷ 3 ≈ 0.35 GB/s, then by the hops and
// CRCs on two cores (seq-write R=3 reached ≈ 0.2–0.3 GB/s): ≈ 0.2–0.3 GB/s, plus the commit — a few
// metadata calls (a synced part file per rank and its rename, a listing, the manifest, one rename):
// ≈ 20–50 ms. A load is seq-read with one 512 MiB read per rank: ≈ 0.5× TCP warm, less cold. The
// stall of an async save is its begin (≈ 10 ms, overlapping the copy) plus a memcpy of the shard in
// 4 MiB pieces (≈ 0.1–0.2 s for 512 MiB) against a full save of ≈ 8 s: ≈ 0.02–0.05×.
// Targets (issue 11): save ≥ 0.6× the limit, load ≥ 0.5× raw TCP, stall ≤ 0.1× the full save.
import { SpindleClient, openCheckpoints } from '../client/index.js';
import { type SaveFigures, atMostNote, loadSeconds, msList, saveFigures, sizeText } from './checkpoint-figures.js';
import type { CheckpointTask, LoadMarks, SaveMarks, SaveMode } from './checkpoint-tasks.js';
import type { CheckpointWorkerResult } from './checkpoint-worker.js';
import { GiB, MiB, type BenchContext, type Limit } from './context.js';
import { targetNote } from './loader.js';
import { formatFigure, gbPerSecond, median } from './stats.js';
import type { Suite } from './suite.js';
import type { WorkerResult } from './worker-tasks.js';

export interface CheckpointPlan {
  ranks: number;
  shardBytes: number;
  repetitions: number;
  /** Bytes of the dd O_DIRECT write probe and of the raw TCP probe. */
  diskProbeBytes: number;
  tcpProbeBytes: number;
}

const TARGET_SAVE_RATIO = 0.6;
const TARGET_LOAD_RATIO = 0.5;
const TARGET_STALL_RATIO = 0.1;
const SHARD_NAME = 'model.bin';

/** 4 ranks × 512 MiB, three repetitions (64 MiB and one with --quick). Pure. */
export function checkpointPlan(quick: boolean): CheckpointPlan {
  return {
    ranks: 4,
    shardBytes: quick ? 64 * MiB : 512 * MiB,
    repetitions: quick ? 1 : 3,
    diskProbeBytes: quick ? 256 * MiB : 1 * GiB,
    tcpProbeBytes: quick ? 1 * GiB : 2 * GiB,
  };
}

function marksOf<T>(results: WorkerResult[]): T[] {
  return results.map((r) => (r as CheckpointWorkerResult).marks as T);
}

export async function runCheckpointSuite(ctx: BenchContext, plan: CheckpointPlan): Promise<void> {
  const disk = await ctx.ddDirect('write', plan.diskProbeBytes);
  ctx.add({
    case: 'limit.disk.odirect.write',
    config: { tool: 'dd', bs: '4MiB', oflag: 'direct', bytes: plan.diskProbeBytes },
    throughput: disk.gbps,
    unit: 'GB/s',
    bytes: 0,
    ops: 0,
    seconds: disk.seconds,
  });
  const tcp = await ctx.tcpLimit(plan.tcpProbeBytes);
  ctx.add({
    case: 'limit.tcp.loopback',
    config: { conns: 1, write: '1MiB', bytes: plan.tcpProbeBytes },
    throughput: tcp.gbps,
    unit: 'GB/s',
    bytes: 0,
    ops: 0,
    seconds: tcp.seconds,
  });
  const replicas = Math.max(...(await ctx.replicaCounts()));
  const meta = await ctx.cluster(replicas);
  const saveLimit: Limit = { name: `disk.odirect.write/${replicas}`, value: disk.gbps / replicas, unit: 'GB/s' };
  const loadLimit: Limit = { name: 'tcp.loopback', value: tcp.gbps, unit: 'GB/s' };
  const dir = ctx.created(`/bench-ckpt-${Date.now()}`);
  const stepBytes = plan.ranks * plan.shardBytes;
  const shard = sizeText(plan.shardBytes);

  const save = async (step: number, mode: SaveMode): Promise<SaveFigures> => {
    const workers = Array.from({ length: plan.ranks }, (_, rank) => {
      const task: CheckpointTask = {
        kind: 'ckpt-save',
        meta,
        dir,
        step,
        worldSize: plan.ranks,
        rank,
        saveId: `bench-${step}`,
        shardName: SHARD_NAME,
        shardBytes: plan.shardBytes,
        mode,
        ...(mode === 'save' ? { stagingBytes: plan.shardBytes } : {}),
      };
      return ctx.worker(task, `step ${step}: rank ${rank} ${mode}`, plan.shardBytes);
    });
    const { results } = await ctx.together(`step ${step}: ${plan.ranks} ranks save with ${mode}`, workers);
    return saveFigures(marksOf<SaveMarks>(results));
  };
  const load = async (step: number, label: string): Promise<{ seconds: number; perRank: number[] }> => {
    const workers = Array.from({ length: plan.ranks }, (_, rank) =>
      ctx.worker(
        { kind: 'ckpt-load', meta, dir, step, rank, shardName: SHARD_NAME, shardBytes: plan.shardBytes },
        `step ${step}: rank ${rank} load`,
        plan.shardBytes,
      ),
    );
    const { results } = await ctx.together(`step ${step}: ${plan.ranks} ranks load ${label}`, workers);
    return { seconds: loadSeconds(marksOf<LoadMarks>(results)), perRank: results.map((r) => r.ops[0]!.seconds) };
  };

  const syncSaves: SaveFigures[] = [];
  const asyncSaves: SaveFigures[] = [];
  const coldLoads: Array<{ seconds: number; perRank: number[] }> = [];
  let lastStep = 0;
  for (let rep = 0; rep < plan.repetitions; rep++) {
    const syncStep = 2 * rep + 1;
    const asyncStep = 2 * rep + 2;
    syncSaves.push(await save(syncStep, 'writeShard'));
    coldLoads.push(await load(syncStep, 'as found'));
    asyncSaves.push(await save(asyncStep, 'save'));
    coldLoads.push(await load(asyncStep, 'as found'));
    // Steps no longer needed go, so that the disk and the warmed page cache hold only the last one.
    await deleteSteps(
      meta,
      ctx.options.transport,
      dir,
      rep + 1 < plan.repetitions ? [syncStep, asyncStep] : [syncStep],
    );
    lastStep = asyncStep;
  }
  const warmed = await ctx.warmStorageCaches();
  const warmLoad = await load(lastStep, warmed ? 'warm' : 'as found');

  const common = { ranks: plan.ranks, shard, shardsPerRank: 1, step: sizeText(stepBytes), replicas };
  const reps = plan.repetitions;
  const spread = (values: number[]) => (values.length > 1 ? ` (each: ${values.map(formatFigure).join(', ')})` : '');
  const saveRate = (saves: SaveFigures[]) => {
    const rates = saves.map((s) => gbPerSecond(stepBytes, s.saveSeconds));
    return { rates, rate: median(rates) };
  };
  const sync = saveRate(syncSaves);
  const commits = syncSaves.map((s) => s.commitSeconds);
  ctx.add({
    case: 'save.writeShard',
    config: { ...common, api: 'begin+writeShard+finish', repetitions: reps },
    throughput: sync.rate,
    unit: 'GB/s',
    p50Ms: median(commits) * 1000,
    p99Ms: Math.max(...commits) * 1000,
    bytes: stepBytes * reps,
    ops: reps,
    seconds: syncSaves.reduce((sum, s) => sum + s.saveSeconds, 0),
    limit: saveLimit,
    notes:
      `GB/s: step bytes ÷ first begin() → committed, median of ${reps}${spread(sync.rates)}; ` +
      `p50/p99: commit latency (last rank's last byte synced → committed), each ${msList(commits)}; ` +
      `slowest begin() ${msList(syncSaves.map((s) => s.beginSeconds))}; ` +
      `every shard synced after ${msList(syncSaves.map((s) => s.writeSeconds))}; ` +
      targetNote('to the limit', sync.rate / saveLimit.value, TARGET_SAVE_RATIO),
  });
  const async = saveRate(asyncSaves);
  ctx.add({
    case: 'save.async',
    config: { ...common, api: 'Checkpoints.save', stagingBytes: sizeText(plan.shardBytes), repetitions: reps },
    throughput: async.rate,
    unit: 'GB/s',
    bytes: stepBytes * reps,
    ops: reps,
    seconds: asyncSaves.reduce((sum, s) => sum + s.saveSeconds, 0),
    limit: saveLimit,
    notes:
      `GB/s: step bytes ÷ first save() call → committed, median of ${reps}${spread(async.rates)}; ` +
      `each rank's buffer overwritten once captured (its load checks the captured bytes); ` +
      targetNote('to the limit', async.rate / saveLimit.value, TARGET_SAVE_RATIO),
  });

  const loadRow = (name: string, loads: Array<{ seconds: number; perRank: number[] }>, cache: string) => {
    const rates = loads.map((l) => gbPerSecond(stepBytes, l.seconds));
    const rate = median(rates);
    const perRank = loads.flatMap((l) => l.perRank);
    ctx.add({
      case: name,
      config: {
        ...common,
        read: 'readShard whole into a reused buffer, CRC-checked',
        storageCache: cache,
        loads: loads.length,
      },
      throughput: rate,
      unit: 'GB/s',
      p50Ms: median(perRank) * 1000,
      p99Ms: Math.max(...perRank) * 1000,
      bytes: stepBytes * loads.length,
      ops: loads.length,
      seconds: loads.reduce((sum, l) => sum + l.seconds, 0),
      limit: loadLimit,
      notes:
        `GB/s: step bytes ÷ first rank's start → last rank's shard read, median of ${loads.length}` +
        `${spread(rates)}; p50/p99: one rank's readShard; ` +
        targetNote('to raw TCP', rate / loadLimit.value, TARGET_LOAD_RATIO),
    });
  };
  loadRow('load.cold', coldLoads, 'as found (just written with O_DIRECT)');
  loadRow('load.warm', [warmLoad], warmed ? 'warm' : 'as found');

  // The stall: what the training loop waits for — save() until `captured` — of the slowest rank.
  const stalls = asyncSaves.map((s) => Math.max(...s.stallSeconds));
  const fractions = asyncSaves.map((s, i) => stalls[i]! / s.saveSeconds);
  const allStalls = asyncSaves.flatMap((s) => s.stallSeconds);
  const stallLimit: Limit = { name: 'save.async', value: async.rate, unit: 'GB/s' };
  ctx.add({
    case: 'save.async.stall',
    config: { ...common, api: 'Checkpoints.save', stagingBytes: sizeText(plan.shardBytes), repetitions: reps },
    throughput: gbPerSecond(stepBytes, median(stalls)),
    unit: 'GB/s',
    p50Ms: median(allStalls) * 1000,
    p99Ms: Math.max(...allStalls) * 1000,
    bytes: stepBytes * reps,
    ops: reps,
    seconds: stalls.reduce((sum, s) => sum + s, 0),
    limit: stallLimit,
    notes:
      "GB/s: step bytes ÷ the slowest rank's stall (save() until `captured`: begin and the copy), so the ratio " +
      `is full save ÷ stall; p50/p99: every rank's stall; slowest stall each ${msList(stalls)} against full saves ` +
      `of ${msList(asyncSaves.map((s) => s.saveSeconds))}; ` +
      atMostNote('stall ÷ full save', median(fractions), TARGET_STALL_RATIO),
  });
}

/** Deletes committed steps between repetitions (not measured). */
async function deleteSteps(
  meta: string,
  transport: BenchContext['options']['transport'],
  dir: string,
  steps: number[],
): Promise<void> {
  const client = await SpindleClient.connect({ meta, readyTimeoutMs: 30_000, config: { dataTransport: transport } });
  try {
    const checkpoints = await openCheckpoints(client, dir);
    for (const step of steps) await checkpoints.delete(step);
  } finally {
    await client.close();
  }
}

export const checkpointSuite: Suite = {
  name: 'checkpoint',
  estimate:
    'save ≈ 0.2–0.3 GB/s (≈ 0.6–0.8× disk write ÷ 3), commit ≈ 20–50 ms, ' +
    'load ≈ 0.5× TCP warm, async-save stall ≈ 0.02–0.05× the full save',
  run: (ctx) => runCheckpointSuite(ctx, checkpointPlan(ctx.quick)),
};
