// A benchmark child process: one load generator or raw-limit probe per process, so it gets its
// own core share, its own event loop and the tuned malloc environment (set by bench/workers.ts
// before Node starts; glibc reads it only at start). Started from its build as
// `node <NODE_FLAGS> dist/bench/worker.js '<task JSON>'` (cluster's entryArgv('bench/worker.ts')).
//
// Protocol (stdout, one JSON object per line): {"type":"ready",…} once set up; then it waits for
// a line on stdin ("go") so that several workers start measuring together; {"type":"progress",
// "done":n} about every 250 ms; finally {"type":"result",…} and exit 0. Errors: a message on
// stderr and exit 1. Nothing else is printed on stdout.
import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import http2 from 'node:http2';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { SpindleClient } from '../client/index.js';
import { runCheckpointTask } from './checkpoint-worker.js';
import { connectEchoClient, startEchoServer } from './grpc-echo.js';
import { runKvcacheTask } from './kvcache-worker.js';
import { runLoaderTask } from './loader-worker.js';
import { ReadCheck } from './read-check.js';
import { runScaleTask } from './scale-worker.js';
import type { WorkerJob, WorkerTask, WorkerResult, OpResult } from './worker-tasks.js';
import { summarize } from './stats.js';

function send(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

let done = 0;
function startProgress(): NodeJS.Timeout {
  return setInterval(() => send({ type: 'progress', done }), 250);
}

function waitForGo(): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', () => {
      rl.close();
      resolve();
    });
  });
}

/** Runs `op(i)` for i = 0..count-1 (or until `deadline`) with `depth` in flight; returns per-op latencies (ms). */
async function runDepth(
  depth: number,
  count: number,
  deadlineMs: number,
  op: (i: number) => Promise<number>,
): Promise<{ latencies: number[]; ops: number; amount: number }> {
  const latencies: number[] = [];
  let next = 0;
  let amount = 0;
  const lane = async () => {
    for (;;) {
      if (next >= count || performance.now() >= deadlineMs) return;
      const i = next++;
      const t0 = performance.now();
      const n = await op(i);
      latencies.push(performance.now() - t0);
      amount += n;
      done += n;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, depth) }, lane));
  return { latencies, ops: latencies.length, amount };
}

function opResult(name: string, r: { latencies: number[]; ops: number; amount: number }, seconds: number): OpResult {
  const s = summarize(r.latencies);
  return { name, ops: r.ops, bytes: r.amount, seconds, p50Ms: s.count ? s.p50 : null, p99Ms: s.count ? s.p99 : null };
}

/** A reusable buffer with non-zero, non-repeating-ish content (so nothing can compress it). */
/**
 * The read buffers of one worker: `depth` of them, each lent to one read at a time. Handing them
 * out round robin by start order let a read that finished late share its buffer with a later one
 * (reads complete out of order), which the byte check saw as wrong bytes.
 */
class ReadBuffers {
  private readonly free: Buffer[];

  constructor(depth: number, bytes: number) {
    this.free = Array.from({ length: depth }, () => Buffer.allocUnsafe(bytes));
  }

  /** A buffer no read in flight uses (runDepth keeps at most `depth` reads in flight). */
  take(): Buffer {
    const buf = this.free.pop();
    if (buf === undefined) throw new Error('more reads in flight than read buffers');
    return buf;
  }

  give(buf: Buffer): void {
    this.free.push(buf);
  }
}

function patternBuffer(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = 0x9e3779b9;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

/** Operations of each kind a meta-ops worker runs untimed before it reports ready. */
const META_WARMUP_OPS = 500;

async function run(job: WorkerJob): Promise<WorkerResult> {
  const task: WorkerTask = job;
  switch (task.kind) {
    case 'tcp-sink': {
      // Receives one connection; the clock runs from its first byte to its end.
      return await new Promise<WorkerResult>((resolve, reject) => {
        const server = createServer((socket) => {
          let bytes = 0;
          let t0 = 0;
          socket.on('data', (chunk: Buffer) => {
            if (t0 === 0) t0 = performance.now();
            bytes += chunk.length;
            done = bytes;
          });
          socket.on('end', () => {
            const seconds = (performance.now() - t0) / 1000;
            server.close();
            resolve({ ops: [{ name: 'tcp', ops: 1, bytes, seconds, p50Ms: null, p99Ms: null }] });
          });
          socket.on('error', reject);
        });
        server.listen(0, '127.0.0.1', () => {
          const address = server.address();
          send({ type: 'ready', port: typeof address === 'object' && address !== null ? address.port : 0 });
        });
      });
    }
    case 'tcp-source': {
      send({ type: 'ready' });
      await waitForGo();
      const block = patternBuffer(task.writeBytes);
      await new Promise<void>((resolve, reject) => {
        const socket = connect(task.port, '127.0.0.1', () => {
          let sent = 0;
          const pump = () => {
            while (sent < task.bytes) {
              const n = Math.min(block.length, task.bytes - sent);
              sent += n;
              done = sent;
              if (!socket.write(n === block.length ? block : block.subarray(0, n))) {
                socket.once('drain', pump);
                return;
              }
            }
            socket.end(resolve);
          };
          pump();
        });
        socket.on('error', reject);
      });
      return { ops: [] };
    }
    case 'h2-server': {
      // Answers GET /<bytes> with that many bytes in `writeBytes` writes; 16 MiB stream window.
      const block = patternBuffer(task.writeBytes);
      const server = http2.createServer({ settings: { initialWindowSize: 16 * 2 ** 20, maxFrameSize: 16_384 } });
      server.on('session', (session) => session.setLocalWindowSize(32 * 2 ** 20));
      server.on('stream', (stream, headers) => {
        const total = Number(String(headers[':path']).slice(1));
        stream.respond({ ':status': 200 });
        let sent = 0;
        const pump = () => {
          while (sent < total) {
            const n = Math.min(block.length, total - sent);
            sent += n;
            if (!stream.write(n === block.length ? block : block.subarray(0, n))) {
              stream.once('drain', pump);
              return;
            }
          }
          stream.end();
        };
        pump();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const address = server.address();
      send({ type: 'ready', port: typeof address === 'object' && address !== null ? address.port : 0 });
      await new Promise<void>(() => undefined); // runs until the coordinator stops it
      return { ops: [] };
    }
    case 'grpc-echo-server': {
      send({ type: 'ready', port: (await startEchoServer()).port });
      await new Promise<void>(() => undefined); // runs until the coordinator stops it
      return { ops: [] };
    }
    case 'grpc-echo-client': {
      const timeCalls = await connectEchoClient(task.port);
      send({ type: 'ready' });
      await waitForGo();
      return { ops: [await timeCalls(task.count)] };
    }
    case 'h2-client': {
      const session = http2.connect(`http://127.0.0.1:${task.port}`, { settings: { initialWindowSize: 16 * 2 ** 20 } });
      await new Promise<void>((r, j) => {
        session.once('connect', () => r());
        session.once('error', j);
      });
      session.setLocalWindowSize(32 * 2 ** 20);
      send({ type: 'ready' });
      await waitForGo();
      const t0 = performance.now();
      const bytes = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':path': `/${task.bytes}` });
        let n = 0;
        req.on('data', (c: Buffer) => {
          n += c.length;
          done = n;
        });
        req.on('end', () => resolve(n));
        req.on('error', reject);
        req.end();
      });
      const seconds = (performance.now() - t0) / 1000;
      session.close();
      return { ops: [{ name: 'h2', ops: 1, bytes, seconds, p50Ms: null, p99Ms: null }] };
    }
    case 'fs-read': {
      // Page-cache read: write the file, read it once to warm, then time fs.readSync into one buffer.
      mkdirSync(task.dir, { recursive: true });
      const file = join(task.dir, `pagecache-${process.pid}`);
      const block = patternBuffer(task.blockBytes);
      const fd = openSync(file, 'w+');
      try {
        for (let off = 0; off < task.fileBytes; off += block.length) writeSync(fd, block, 0, block.length, off);
        for (let off = 0; off < task.fileBytes; off += block.length) readSync(fd, block, 0, block.length, off);
        send({ type: 'ready' });
        await waitForGo();
        const results: OpResult[] = [];
        // Sequential pass(es) of 1 MiB reads.
        const t0 = performance.now();
        let bytes = 0;
        for (let pass = 0; pass < task.passes; pass++) {
          for (let off = 0; off < task.fileBytes; off += block.length) {
            bytes += readSync(fd, block, 0, block.length, off);
            done = bytes;
          }
        }
        results.push({
          name: 'seq',
          ops: bytes / block.length,
          bytes,
          seconds: (performance.now() - t0) / 1000,
          p50Ms: null,
          p99Ms: null,
        });
        // Random aligned reads of each requested size, one thread (the local limit of rand-read).
        for (const size of task.randomSizes ?? []) {
          const buf = Buffer.allocUnsafe(size);
          const slots = Math.floor(task.fileBytes / size);
          const latencies: number[] = [];
          const start = performance.now();
          const end = start + task.randomSeconds * 1000;
          let rbytes = 0;
          let seed = 12345;
          while (performance.now() < end) {
            for (let k = 0; k < 64; k++) {
              seed = (seed * 1103515245 + 12345) >>> 0;
              const t = performance.now();
              rbytes += readSync(fd, buf, 0, size, (seed % slots) * size);
              latencies.push(performance.now() - t);
            }
          }
          const s = summarize(latencies);
          results.push({
            name: `rand.${size}`,
            ops: latencies.length,
            bytes: rbytes,
            seconds: (performance.now() - start) / 1000,
            p50Ms: s.p50,
            p99Ms: s.p99,
          });
        }
        return { ops: results };
      } finally {
        closeSync(fd);
        rmSync(file, { force: true });
      }
    }
    case 'fsync': {
      // Durable 4 KiB writes: pwrite + fdatasync over a preallocated file (overwrite in place).
      mkdirSync(task.dir, { recursive: true });
      const file = join(task.dir, `fsync-${process.pid}`);
      const block = patternBuffer(task.writeBytes);
      const fd = openSync(file, 'w+');
      try {
        for (let i = 0; i < task.count; i++) writeSync(fd, block, 0, block.length, i * block.length);
        fdatasyncSync(fd);
        send({ type: 'ready' });
        await waitForGo();
        const latencies: number[] = [];
        const t0 = performance.now();
        for (let i = 0; i < task.count; i++) {
          const t = performance.now();
          writeSync(fd, block, 0, block.length, i * block.length);
          fdatasyncSync(fd);
          latencies.push(performance.now() - t);
          done = i + 1;
        }
        const seconds = (performance.now() - t0) / 1000;
        const s = summarize(latencies);
        return {
          ops: [
            { name: 'fsync', ops: task.count, bytes: task.count * block.length, seconds, p50Ms: s.p50, p99Ms: s.p99 },
          ],
        };
      } finally {
        closeSync(fd);
        rmSync(file, { force: true });
      }
    }
    case 'fs-meta': {
      // mdtest-like on the local file system with synchronous calls: the per-op limit of `meta`.
      const dir = join(task.dir, `fsmeta-${process.pid}`);
      mkdirSync(dir, { recursive: true });
      try {
        send({ type: 'ready' });
        await waitForGo();
        const results: OpResult[] = [];
        const timed = (name: string, count: number, op: (i: number) => void) => {
          const latencies: number[] = [];
          const t0 = performance.now();
          for (let i = 0; i < count; i++) {
            const t = performance.now();
            op(i);
            latencies.push(performance.now() - t);
            done += 1;
          }
          const s = summarize(latencies);
          results.push({
            name,
            ops: count,
            bytes: 0,
            seconds: (performance.now() - t0) / 1000,
            p50Ms: s.p50,
            p99Ms: s.p99,
          });
        };
        timed('create', task.count, (i) => closeSync(openSync(join(dir, `f${i}`), 'wx')));
        timed('stat', task.count, (i) => statSync(join(dir, `f${i}`)));
        timed('readdir', task.readdirs, () => readdirSync(dir));
        timed('rename', task.count, (i) => renameSync(join(dir, `f${i}`), join(dir, `g${i}`)));
        timed('delete', task.count, (i) => unlinkSync(join(dir, `g${i}`)));
        return { ops: results };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    case 'seq-write':
    case 'seq-read':
    case 'rand-read': {
      const client = await SpindleClient.connect({ meta: task.meta, readyTimeoutMs: 30_000, config: job.client ?? {} });
      try {
        const block = patternBuffer(task.blockBytes);
        const handle = await client.open(task.path, task.kind === 'seq-write' ? 'w' : 'r');
        send({ type: 'ready' });
        await waitForGo();
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        let r: { latencies: number[]; ops: number; amount: number };
        if (task.kind === 'seq-write') {
          const count = Math.ceil(task.bytes / task.blockBytes);
          r = await runDepth(task.depth, count, Number.POSITIVE_INFINITY, async (i) => {
            const len = Math.min(task.blockBytes, task.bytes - i * task.blockBytes);
            const { bytesWritten } = await handle.write(block, 0, len, task.offset + i * task.blockBytes);
            return bytesWritten;
          });
          await handle.close();
        } else if (task.kind === 'seq-read') {
          const blocks = Math.ceil(task.bytes / task.blockBytes);
          const check = ReadCheck.of(task.patternBytes, patternBuffer);
          const buffers = new ReadBuffers(task.depth, task.blockBytes);
          r = await runDepth(task.depth, blocks * (task.passes ?? 1), Number.POSITIVE_INFINITY, async (i) => {
            const buf = buffers.take();
            try {
              const block = i % blocks;
              const len = Math.min(task.blockBytes, task.bytes - block * task.blockBytes);
              const at = task.offset + block * task.blockBytes;
              const { bytesRead } = await handle.read(buf, 0, len, at);
              check.sample(buf, len, bytesRead, at);
              return bytesRead;
            } finally {
              buffers.give(buf);
            }
          });
          await handle.close();
          check.verify('seq-read');
        } else {
          const slots = Math.max(1, Math.floor(task.fileBytes / task.blockBytes));
          const buffers = new ReadBuffers(task.depth, task.blockBytes);
          let seed = (process.pid * 2654435761) >>> 0;
          const check = ReadCheck.of(task.patternBytes, patternBuffer);
          r = await runDepth(task.depth, Number.MAX_SAFE_INTEGER, t0 + task.seconds * 1000, async () => {
            seed = (seed * 1103515245 + 12345) >>> 0;
            const buf = buffers.take();
            try {
              const at = (seed % slots) * task.blockBytes;
              const { bytesRead } = await handle.read(buf, 0, task.blockBytes, at);
              check.sample(buf, task.blockBytes, bytesRead, at);
              return bytesRead;
            } finally {
              buffers.give(buf);
            }
          });
          await handle.close();
          check.verify('rand-read');
        }
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        return { ops: [{ ...opResult(task.kind, r, seconds), cpuSeconds: (cpu.user + cpu.system) / 1e6 }] };
      } finally {
        await client.close();
      }
    }
    case 'meta-ops': {
      const client = await SpindleClient.connect({ meta: task.meta, readyTimeoutMs: 30_000, config: job.client ?? {} });
      try {
        await client.mkdir(task.dir, { recursive: true });
        // Untimed warm-up in a directory of its own: every operation's code path (client batching,
        // meta's transactions, V8's optimised code) runs before the clock does, as in a long-lived
        // client; the quick run's 1,000-op phases last ~0.1 s and would mostly measure a cold start.
        const warmDir = `${task.dir}-warmup`;
        await client.mkdir(warmDir, { recursive: true });
        const warmCount = Math.min(task.count, META_WARMUP_OPS);
        for (const phase of [
          async (i: number) => (await client.open(`${warmDir}/w${i}`, 'wx')).close(),
          async (i: number) => void (await client.stat(`${warmDir}/w${i}`)),
          async (i: number) => client.rename(`${warmDir}/w${i}`, `${warmDir}/v${i}`),
          async (i: number) => client.unlink(`${warmDir}/v${i}`),
        ]) {
          await runDepth(task.depth, warmCount, Number.POSITIVE_INFINITY, async (i) => {
            await phase(i);
            return 1;
          });
        }
        await client.readdir(warmDir);
        await client.rmdir(warmDir);
        send({ type: 'ready' });
        await waitForGo();
        const results: OpResult[] = [];
        const timed = async (name: string, count: number, op: (i: number) => Promise<void>) => {
          const t0 = performance.now();
          const r = await runDepth(task.depth, count, Number.POSITIVE_INFINITY, async (i) => {
            await op(i);
            return 1;
          });
          results.push(opResult(name, { ...r, amount: 0 }, (performance.now() - t0) / 1000));
        };
        const f = (i: number) => `${task.dir}/f${i}`;
        const g = (i: number) => `${task.dir}/g${i}`;
        await timed('create', task.count, async (i) => {
          const h = await client.open(f(i), 'wx');
          await h.close();
        });
        await timed('stat', task.count, async (i) => {
          await client.stat(f(i));
        });
        await timed('readdir', task.readdirs, async () => {
          await client.readdir(task.dir);
        });
        await timed('rename', task.count, async (i) => client.rename(f(i), g(i)));
        await timed('delete', task.count, async (i) => client.unlink(g(i)));
        await client.rmdir(task.dir);
        return { ops: results };
      } finally {
        await client.close();
      }
    }
    case 'ckpt-save':
    case 'ckpt-load':
      return await runCheckpointTask(task, job.client ?? {}, {
        ready: (fields) => send({ type: 'ready', ...fields }),
        go: waitForGo,
        progress: (n) => {
          done = n;
        },
      });
    case 'kvcache':
      return await runKvcacheTask(task, job.client ?? {}, {
        ready: (fields) => send({ type: 'ready', ...fields }),
        go: waitForGo,
        progress: (n) => {
          done = n;
        },
        step: (report) => send({ type: 'kv-step', ...report }),
      });
    case 'scale-populate':
    case 'scale-meta':
      return await runScaleTask(task, job.client ?? {}, {
        ready: (fields) => send({ type: 'ready', ...fields }),
        go: waitForGo,
        progress: (n) => {
          done = n;
        },
      });
    case 'loader-pack':
    case 'loader-read':
    case 'loader-local':
    case 'loader-files':
      return await runLoaderTask(task, job.client ?? {}, {
        ready: (fields) => send({ type: 'ready', ...fields }),
        go: waitForGo,
        progress: (n) => {
          done = n;
        },
      });
  }
}

const task = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
const timer = startProgress();
run(task).then(
  (result) => {
    clearInterval(timer);
    send({ type: 'result', ...result });
    process.exit(0);
  },
  (err: unknown) => {
    clearInterval(timer);
    process.stderr.write(
      `bench worker ${task.kind} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
