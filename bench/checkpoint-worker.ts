// The checkpoint suite's work inside a bench worker process (bench/worker.ts hands the task here):
// one rank's save of one step (begin + writeShard + finish, or the async Checkpoints.save), and one
// rank's load.
//
// Guarantees: setup (connecting, opening the checkpoint directory, building the shard, allocating
// the async save's staging memory and the load's target) happens before the ready line, as a
// training job does once at startup and then reuses step after step; only the save or load runs
// after "go". An async save overwrites its buffer as soon as `captured` resolves, as training
// would, so a later load proves that the bytes written are the ones captured. A load checks every
// byte of the shard it read (readShard checks its size and CRC32C too) and fails the worker
// otherwise.
import { performance } from 'node:perf_hooks';
import { type FinishResult, SpindleClient, openCheckpoints } from '../client/index.js';
import type { DataTransport } from '../common/bulk/transport.js';
import {
  type CheckpointTask,
  type LoadMarks,
  type SaveMarks,
  firstShardMismatch,
  shardContent,
} from './checkpoint-tasks.js';
import type { WorkerIo } from './loader-worker.js';
import type { OpResult, WorkerResult } from './worker-tasks.js';

/** What a checkpoint task reports: its timed operation and the wall-clock instants of its phases. */
export type CheckpointWorkerResult = WorkerResult & { marks: SaveMarks | LoadMarks };

/** Wall-clock ms since the epoch, sub-ms precision: comparable between processes of one host. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

function finished(outcome: FinishResult): Pick<SaveMarks, 'finishedAtMs' | 'committed' | 'committer'> {
  return { finishedAtMs: wallMs(), committed: outcome.committed, committer: outcome.committed && outcome.committer };
}

function op(name: string, bytes: number, fromMs: number, toMs: number): OpResult {
  const ms = toMs - fromMs;
  return { name, ops: 1, bytes, seconds: ms / 1000, p50Ms: ms, p99Ms: ms };
}

export async function runCheckpointTask(
  task: CheckpointTask,
  clientConfig: { dataTransport?: DataTransport },
  io: WorkerIo,
): Promise<CheckpointWorkerResult> {
  const client = await SpindleClient.connect({ meta: task.meta, readyTimeoutMs: 30_000, config: clientConfig });
  try {
    if (task.kind === 'ckpt-save') {
      const options = task.stagingBytes === undefined ? {} : { stagingBytes: task.stagingBytes };
      const checkpoints = await openCheckpoints(client, task.dir, options);
      // A job saving every N steps reuses its staging memory: its first save's page faults are setup.
      if (task.mode === 'save') checkpoints.prepareStaging();
      const shard = shardContent(task.rank, task.shardBytes);
      const rank = { worldSize: task.worldSize, rank: task.rank, saveId: task.saveId };
      const userMetadata = { bench: 'checkpoint', rank: task.rank };
      io.ready();
      await io.go();
      const startedAtMs = wallMs();
      let marks: SaveMarks;
      if (task.mode === 'writeShard') {
        const save = await checkpoints.begin(task.step, rank);
        const begunAtMs = wallMs();
        await save.writeShard(task.shardName, shard);
        const writtenAtMs = wallMs();
        io.progress(task.shardBytes);
        const outcome = await save.finish(userMetadata);
        marks = { startedAtMs, begunAtMs, writtenAtMs, ...finished(outcome) };
      } else {
        const { captured, committed } = checkpoints.save(task.step, rank, { [task.shardName]: shard }, userMetadata);
        await captured;
        const capturedAtMs = wallMs();
        // Training goes on and changes its weights: the shard must hold the captured bytes anyway.
        shard.fill(0xa5);
        const outcome = await committed;
        io.progress(task.shardBytes);
        marks = { startedAtMs, capturedAtMs, ...finished(outcome) };
      }
      return { ops: [op('save', task.shardBytes, startedAtMs, marks.finishedAtMs)], marks };
    }
    const checkpoints = await openCheckpoints(client, task.dir);
    await checkpoints.load(task.step);
    // A restore fills memory that exists (a model's tensors, one buffer reused per rank), touched.
    const into = Buffer.allocUnsafe(task.shardBytes).fill(0);
    io.ready();
    await io.go();
    const startedAtMs = wallMs();
    const data = await checkpoints.readShard(task.step, task.rank, task.shardName, { into });
    const endedAtMs = wallMs();
    io.progress(data.length);
    const at = firstShardMismatch(data, task.rank, task.shardBytes);
    if (at !== undefined) {
      throw new Error(
        `rank ${task.rank}'s shard ${task.shardName} of step ${task.step} differs from what it wrote at byte ${at} ` +
          `(${data.length} bytes read, ${task.shardBytes} written)`,
      );
    }
    return { ops: [op('load', data.length, startedAtMs, endedAtMs)], marks: { startedAtMs, endedAtMs } };
  } finally {
    await client.close();
  }
}
