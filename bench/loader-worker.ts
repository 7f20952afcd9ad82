// The loader suite's work inside a bench worker process (bench/worker.ts hands the task here):
// packing a dataset, one epoch through openLoader, the local-file limit and the one-file-per-sample
// tree of the PyTorch baseline.
//
// Guarantees: every sample of a bench dataset carries its index in its first 4 bytes and its key is
// sampleKey(index) or none, so the loader epoch checks what it measured — each of the epoch's samples handed
// out exactly once, with its own length, bytes and (for one sample a batch) key — and fails the
// worker otherwise. Setup (writing, connecting, opening) happens before the ready line; only the
// measured part runs after "go".
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SpindleClient } from '../client/index.js';
import { DatasetWriter, Permutation, openLoader } from '../client/loader/index.js';
import type { DataTransport } from '../common/bulk/transport.js';
import { FILES_PER_DIR, type LoaderTask, filePath, sampleKey } from './loader-tasks.js';
import { summarize } from './stats.js';
import type { OpResult, WorkerResult } from './worker-tasks.js';

/** What the worker process gives a task: its ready line, the start signal and the progress counter. */
export interface WorkerIo {
  ready(fields?: Record<string, unknown>): void;
  go(): Promise<void>;
  progress(done: number): void;
}

/** Bytes of the pattern every sample is cut from (so samples differ and nothing compresses them). */
const PATTERN_BYTES = 1 << 20;
/** Local file writes and reads of the limit's setup. */
const LOCAL_IO_BYTES = 4 << 20;

function pattern(bytes: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  let x = 0x2545f491;
  for (let i = 0; i + 4 <= bytes; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

/** Sample i's bytes, written into `into` (sampleBytes ≥ 4): the index, then a slice of the pattern. */
function fillSample(source: Buffer, i: number, into: Buffer): void {
  const from = (i * 4099) % (source.length - into.length + 1);
  source.copy(into, 0, from, from + into.length);
  into.writeUInt32LE(i >>> 0, 0);
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

function result(name: string, fields: Omit<OpResult, 'name' | 'p50Ms' | 'p99Ms'>, latencies: number[]): OpResult {
  const s = summarize(latencies);
  return { name, ...fields, p50Ms: s.count ? s.p50 : null, p99Ms: s.count ? s.p99 : null };
}

export async function runLoaderTask(
  task: LoaderTask,
  clientConfig: { dataTransport?: DataTransport },
  io: WorkerIo,
): Promise<WorkerResult> {
  if (task.kind === 'loader-local') return await localEpoch(task, io);
  const client = await SpindleClient.connect({ meta: task.meta, readyTimeoutMs: 30_000, config: clientConfig });
  try {
    if (task.kind === 'loader-pack') return await pack(client, task, io);
    if (task.kind === 'loader-read') return await loaderEpoch(client, task, io);
    return await writeFiles(client, task, io);
  } finally {
    await client.close();
  }
}

async function pack(
  client: SpindleClient,
  task: Extract<LoaderTask, { kind: 'loader-pack' }>,
  io: WorkerIo,
): Promise<WorkerResult> {
  io.ready();
  await io.go();
  const source = pattern(PATTERN_BYTES + task.sampleBytes);
  const sample = Buffer.allocUnsafe(task.sampleBytes);
  const t0 = performance.now();
  const writer = await DatasetWriter.create(client, task.path, { source: { kind: 'spindle-bench' } });
  try {
    for (let i = 0; i < task.samples; i++) {
      fillSample(source, i, sample);
      await writer.add(sample, task.keys ? sampleKey(i) : undefined);
      if ((i & 1023) === 0) io.progress(i * task.sampleBytes);
    }
    await writer.publish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const bytes = task.samples * task.sampleBytes;
  return { ops: [result('pack', { ops: task.samples, bytes, seconds: (performance.now() - t0) / 1000 }, [])] };
}

/** Checks one handed-out sample; throws on anything but the expected, unseen sample. */
function checkSample(seen: Uint8Array, index: number, data: Buffer, sampleBytes: number): void {
  if (seen[index] !== 0) throw new Error(`sample ${index} was handed out twice in one epoch`);
  seen[index] = 1;
  if (data.length !== sampleBytes) throw new Error(`sample ${index} is ${data.length} bytes, not ${sampleBytes}`);
  if (data.readUInt32LE(0) !== index >>> 0) throw new Error(`sample ${index} holds the bytes of another sample`);
}

async function loaderEpoch(
  client: SpindleClient,
  task: Extract<LoaderTask, { kind: 'loader-read' }>,
  io: WorkerIo,
): Promise<WorkerResult> {
  const loader = await openLoader(client, {
    dataset: task.path,
    seed: task.seed,
    epoch: task.epoch,
    rank: 0,
    worldSize: 1,
    batchSize: task.batchSize,
    lastBatch: 'drop',
    prefetchBytes: task.prefetchBytes,
  });
  try {
    if (loader.datasetInfo.size !== task.samples)
      throw new Error(`${task.path} has ${loader.datasetInfo.size} samples, expected ${task.samples}`);
    io.ready({ batches: loader.batchCount });
    await io.go();
    const seen = new Uint8Array(task.samples);
    const waits: number[] = [];
    let samples = 0;
    let bytes = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (;;) {
      const t = performance.now();
      const batch = await loader.next();
      if (batch === undefined) break;
      waits.push(performance.now() - t);
      if (batch.samples.length !== task.batchSize)
        throw new Error(`batch ${batch.batchIndex} has ${batch.samples.length} samples, not ${task.batchSize}`);
      for (const { index, data } of batch.samples) {
        checkSample(seen, index, data, task.sampleBytes);
        bytes += data.length;
      }
      const first = batch.samples[0]!;
      const key = task.keys ? sampleKey(first.index) : undefined;
      if (first.key !== key) throw new Error(`sample ${first.index} has key ${first.key}, expected ${key}`);
      samples += batch.samples.length;
      io.progress(bytes);
    }
    const seconds = (performance.now() - t0) / 1000;
    const expected = Math.floor(task.samples / task.batchSize) * task.batchSize;
    if (samples !== expected) throw new Error(`the epoch handed out ${samples} samples, expected ${expected}`);
    const loaderOp = result('loader', { ops: samples, bytes, seconds, cpuSeconds: cpuSeconds(cpu0) }, waits);
    // The first wait fills the pipeline: worth seeing apart from the steady state's percentiles.
    const first = result('first-next', { ops: 1, bytes: 0, seconds: (waits[0] ?? 0) / 1000 }, []);
    return { ops: [loaderOp, first] };
  } finally {
    await loader.close();
  }
}

async function localEpoch(task: Extract<LoaderTask, { kind: 'loader-local' }>, io: WorkerIo): Promise<WorkerResult> {
  mkdirSync(task.dir, { recursive: true });
  const file = join(task.dir, `loader-local-${process.pid}`);
  const fd = openSync(file, 'w+');
  try {
    // The packed file: sample i at byte i·sampleBytes, written in large writes, then read once so
    // that its pages are cached as the storage nodes' are.
    const source = pattern(PATTERN_BYTES + task.sampleBytes);
    const sample = Buffer.allocUnsafe(task.sampleBytes);
    const perWrite = Math.max(1, Math.floor(LOCAL_IO_BYTES / task.sampleBytes));
    const block = Buffer.allocUnsafe(perWrite * task.sampleBytes);
    for (let first = 0; first < task.samples; first += perWrite) {
      const count = Math.min(perWrite, task.samples - first);
      for (let k = 0; k < count; k++) {
        fillSample(source, first + k, sample);
        sample.copy(block, k * task.sampleBytes);
      }
      writeSync(fd, block, 0, count * task.sampleBytes, first * task.sampleBytes);
    }
    const fileBytes = task.samples * task.sampleBytes;
    for (let at = 0; at < fileBytes; at += block.length) readSync(fd, block, 0, block.length, at);
    const permutation = new Permutation(task.samples, task.seed, task.epoch);
    const batches = Math.floor(task.samples / task.batchSize);
    io.ready({ batches });
    await io.go();
    const waits: number[] = [];
    let bytes = 0;
    let passes = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const until = t0 + task.minSeconds * 1000;
    do {
      for (let b = 0; b < batches; b++) {
        const t = performance.now();
        // One buffer per batch (a batch's samples live together, as the loader's do).
        const batch = Buffer.allocUnsafe(task.batchSize * task.sampleBytes);
        for (let j = 0; j < task.batchSize; j++) {
          const index = permutation.at(b * task.batchSize + j);
          bytes += readSync(fd, batch, j * task.sampleBytes, task.sampleBytes, index * task.sampleBytes);
        }
        waits.push(performance.now() - t);
        io.progress(bytes);
      }
      passes++;
    } while (performance.now() < until);
    const seconds = (performance.now() - t0) / 1000;
    const samples = passes * batches * task.batchSize;
    return { ops: [result('local', { ops: samples, bytes, seconds, cpuSeconds: cpuSeconds(cpu0) }, waits)] };
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

async function writeFiles(
  client: SpindleClient,
  task: Extract<LoaderTask, { kind: 'loader-files' }>,
  io: WorkerIo,
): Promise<WorkerResult> {
  io.ready();
  await io.go();
  const t0 = performance.now();
  await client.mkdir(task.dir, { recursive: true });
  for (let d = 0; d * FILES_PER_DIR < task.files; d++) {
    await client.mkdir(join(task.dir, filePath(d * FILES_PER_DIR), '..'));
  }
  const source = pattern(PATTERN_BYTES + task.fileBytes);
  let next = 0;
  let written = 0;
  const lane = async () => {
    const data = Buffer.allocUnsafe(task.fileBytes);
    while (next < task.files) {
      const i = next++;
      fillSample(source, i, data);
      await client.writeFile(`${task.dir}/${filePath(i)}`, data, { flag: 'wx' });
      io.progress(++written);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, task.depth) }, lane));
  const seconds = (performance.now() - t0) / 1000;
  return { ops: [result('files', { ops: task.files, bytes: task.files * task.fileBytes, seconds }, [])] };
}
