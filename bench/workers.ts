// Coordinator side of bench worker processes (bench/worker.ts): spawns them with the tuned
// malloc environment, waits for their ready lines, starts them together and collects results.
// Every worker this process starts is tracked and SIGKILLed if the bench exits early.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import { withMallocEnv, entryArgv } from '../cluster/index.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import type { WorkerJob, WorkerResult, WorkerTask } from './worker-tasks.js';

const live = new Set<ChildProcess>();
let hooked = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
}

export interface WorkerOptions {
  /** Directory for V8 CPU profiles (node --cpu-prof); none when undefined. */
  cpuProf?: string;
  /** Called with the worker's progress counter (bytes or ops done so far). */
  onProgress?: (done: number) => void;
  /** How long setup may take before the worker counts as failed. */
  readyTimeoutMs?: number;
}

export class BenchWorker {
  readonly ready: Promise<Record<string, unknown>>;
  readonly result: Promise<WorkerResult>;
  private stderrTail = '';

  constructor(
    readonly task: WorkerTask,
    readonly child: ChildProcess,
    options: WorkerOptions,
  ) {
    child.stderr!.on('data', (c: Buffer) => {
      this.stderrTail = (this.stderrTail + c.toString('utf8')).slice(-4000);
    });
    let resolveReady!: (v: Record<string, unknown>) => void;
    let rejectReady!: (e: Error) => void;
    this.ready = new Promise((r, j) => {
      resolveReady = r;
      rejectReady = j;
    });
    const timer = setTimeout(
      () => rejectReady(new Error(`bench worker ${task.kind} not ready in time`)),
      options.readyTimeoutMs ?? 60_000,
    );
    timer.unref();
    this.result = new Promise<WorkerResult>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        let message: Record<string, unknown>;
        try {
          message = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolveReady(message);
        } else if (message.type === 'progress') options.onProgress?.(Number(message.done));
        else if (message.type === 'result') resolve(message as unknown as WorkerResult);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const err = new Error(
          `bench worker ${task.kind} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}` +
            `${this.stderrTail ? `:\n${this.stderrTail.trimEnd()}` : ''}`,
        );
        // After a result this rejection is never observed (the promise already settled).
        setImmediate(() => {
          rejectReady(err);
          reject(err);
        });
      });
    });
    this.ready.catch(() => undefined);
    this.result.catch(() => undefined);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Tells the worker to start measuring. */
  go(): void {
    this.child.stdin!.write('go\n');
  }

  /**
   * Stops the worker (servers run until told) after `graceMs`, so one that is exiting (writing its CPU profile) can
   * finish.
   */
  stop(graceMs = 0): void {
    const kill = () => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    };
    if (graceMs <= 0) kill();
    else setTimeout(kill, graceMs).unref();
  }
}

let profiles = 0;
/** The node flags that write a CPU profile into `dir` (empty when not profiling). */
function cpuProfFlags(dir: string | undefined, name: string): string[] {
  // One directory per worker, named after its task, so a profile says which worker it is; inside it
  // Node's default file name (with pid and thread id) never overwrites another profile.
  return dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(resolve(dir), `${name}-${++profiles}`)}`];
}

export function spawnWorker(task: WorkerJob, options: WorkerOptions = {}): BenchWorker {
  const child = spawn(
    process.execPath,
    [...cpuProfFlags(options.cpuProf, `bench-${task.kind}`), ...entryArgv('bench/worker.ts', [JSON.stringify(task)])],
    {
      cwd: PACKAGE_ROOT,
      env: withMallocEnv(process.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  track(child);
  return new BenchWorker(task, child, options);
}

/**
 * Runs workers together: waits until all are ready, starts them at once, and resolves with
 * their results and the wall time from start to the last result.
 */
export async function runTogether(workers: BenchWorker[]): Promise<{ results: WorkerResult[]; seconds: number }> {
  try {
    await Promise.all(workers.map((w) => w.ready));
    const t0 = performance.now();
    for (const w of workers) w.go();
    const results = await Promise.all(workers.map((w) => w.result));
    return { results, seconds: (performance.now() - t0) / 1000 };
  } finally {
    for (const w of workers) w.stop(10_000);
  }
}
