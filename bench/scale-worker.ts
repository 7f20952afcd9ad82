// The scale suite's work inside a bench worker process (bench/worker.ts hands the task here):
// populating a large namespace fast, and timing stat and create in it at one depth.
//
// Guarantees: populate creates exactly files from..to-1 (a create that fails fails the worker, so
// the namespace holds what the suite says it holds); every timed stat must answer a file (a stat of
// a missing file throws), and every timed create makes a new file (open 'wx'). Setup (connecting,
// making directories, the warm-up) happens before the ready line; only the measured part after "go".
import { performance } from 'node:perf_hooks';
import { SpindleClient } from '../client/index.js';
import type { DataTransport } from '../common/bulk/transport.js';
import type { WorkerIo } from './loader-worker.js';
import { type ScaleTask, SCALE_FILES_PER_DIR, scaleDirName, scaleFilePath } from './scale-tasks.js';
import { summarize } from './stats.js';
import type { OpResult, WorkerResult } from './worker-tasks.js';

/** Untimed stats and creates before the clock runs (code paths and V8's optimised code warm). */
const WARMUP_OPS = 200;
/** Unlinks in flight when removing the measurement's own files (untimed; one at a time would be slow). */
const CLEANUP_DEPTH = 64;

/** Runs op(i) for i in [0, count) with `depth` in flight; returns each op's latency in ms. */
async function inFlight(depth: number, count: number, op: (i: number) => Promise<void>, io?: WorkerIo) {
  const latencies: number[] = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await op(i);
      latencies.push(performance.now() - t0);
      io?.progress(latencies.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(depth, count)) }, lane));
  return latencies;
}

function timedResult(name: string, latencies: number[], seconds: number): OpResult {
  const s = summarize(latencies);
  return {
    name,
    ops: latencies.length,
    bytes: 0,
    seconds,
    p50Ms: s.count ? s.p50 : null,
    p99Ms: s.count ? s.p99 : null,
  };
}

/** A seeded pick of a populated file (xorshift: the same seed picks the same files every run). */
function picker(seed: number, files: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % files;
  };
}

export async function runScaleTask(
  task: ScaleTask,
  clientConfig: { dataTransport?: DataTransport },
  io: WorkerIo,
): Promise<WorkerResult> {
  const client = await SpindleClient.connect({ meta: task.meta, readyTimeoutMs: 30_000, config: clientConfig });
  try {
    if (task.kind === 'scale-populate') {
      const firstDir = Math.floor(task.from / SCALE_FILES_PER_DIR);
      const lastDir = Math.floor((task.to - 1) / SCALE_FILES_PER_DIR);
      for (let d = firstDir; d <= lastDir; d++)
        await client.mkdir(`${task.root}/${scaleDirName(d * SCALE_FILES_PER_DIR)}`, { recursive: true });
      io.ready();
      await io.go();
      const t0 = performance.now();
      const latencies = await inFlight(
        task.depth,
        task.to - task.from,
        async (i) => (await client.open(`${task.root}/${scaleFilePath(task.from + i)}`, 'wx')).close(),
        io,
      );
      return { ops: [timedResult('populate', latencies, (performance.now() - t0) / 1000)] };
    }
    const dirs = Math.ceil(task.files / SCALE_FILES_PER_DIR);
    const created = (i: number, phase: string) =>
      `${task.root}/${scaleDirName((i % dirs) * SCALE_FILES_PER_DIR)}/${phase}-${task.tag}-${i}`;
    const pickWarm = picker(7, task.files);
    await inFlight(
      task.depth,
      WARMUP_OPS,
      async () => void (await client.stat(`${task.root}/${scaleFilePath(pickWarm())}`)),
    );
    await inFlight(task.depth, WARMUP_OPS, async (i) => (await client.open(created(i, 'w'), 'wx')).close());
    io.ready();
    await io.go();
    const results: OpResult[] = [];
    const pick = picker(task.depth * 7919 + task.files, task.files);
    let t0 = performance.now();
    let latencies = await inFlight(
      task.depth,
      task.statCount,
      async () => void (await client.stat(`${task.root}/${scaleFilePath(pick())}`)),
      io,
    );
    results.push(timedResult('stat', latencies, (performance.now() - t0) / 1000));
    t0 = performance.now();
    latencies = await inFlight(
      task.depth,
      task.createCount,
      async (i) => (await client.open(created(i, 'c'), 'wx')).close(),
      io,
    );
    results.push(timedResult('create', latencies, (performance.now() - t0) / 1000));
    // Untimed: the namespace goes back to exactly `files` files for the next measurement.
    await inFlight(CLEANUP_DEPTH, WARMUP_OPS, (i) => client.unlink(created(i, 'w')));
    await inFlight(CLEANUP_DEPTH, task.createCount, (i) => client.unlink(created(i, 'c')));
    return { ops: results };
  } finally {
    await client.close();
  }
}
