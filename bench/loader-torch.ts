// The PyTorch baseline of suite `loader`: one file per sample written through the client library,
// `spindle mount` on the suite's cluster, and bench/python/torch-mount-loader.py (a map-style
// Dataset opening one file per __getitem__, DataLoader with shuffle=True) run by the venv's python
// (.venv, made by scripts/setup.sh with Debian's python3-torch visible) for each num_workers value.
//
// Guarantees: the mount is unmounted (SIGTERM, SIGKILL, lazy detach) even when a step fails; when
// the baseline cannot run here (no venv, no torch, no script, no /dev/fuse) probeTorch says why
// instead of failing the suite.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { withMallocEnv } from '../cluster/index.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import type { BenchContext } from './context.js';
import { type CpuSpent, startCpuMeter } from './loader-cpu.js';
import { mounted, startMount, stopMount } from './mount.js';

const TORCH_PYTHON = join(PACKAGE_ROOT, '.venv', 'bin', 'python');
const TORCH_SCRIPT = join(PACKAGE_ROOT, 'bench', 'python', 'torch-mount-loader.py');
/** Files written through the client library at once while building the tree (meta batches creates). */
const FILE_WRITES_IN_FLIGHT = 64;
/** Longest the whole Python run may take (every num_workers epoch). */
const TORCH_RUN_TIMEOUT_MS = 30 * 60_000;

/** One epoch of the PyTorch DataLoader, as the script prints it. */
export interface TorchEpoch {
  workers: number;
  samples: number;
  bytes: number;
  seconds: number;
  batches: number;
  p50Ms: number;
  p99Ms: number;
}

/** The JSON lines of the script's stdout (other lines ignored). Pure; throws on a malformed epoch line. */
export function parseTorchEpochs(stdout: string): TorchEpoch[] {
  const epochs: TorchEpoch[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const v = JSON.parse(line) as Partial<TorchEpoch>;
    const fields = ['workers', 'samples', 'bytes', 'seconds', 'batches', 'p50Ms', 'p99Ms'] as const;
    for (const f of fields)
      if (typeof v[f] !== 'number') throw new Error(`torch-mount-loader printed an epoch without ${f}: ${line}`);
    epochs.push(v as TorchEpoch);
  }
  return epochs;
}

/** The epoch with the most samples per second. Pure; throws on an empty list. */
export function bestEpoch(epochs: readonly TorchEpoch[]): TorchEpoch {
  if (epochs.length === 0) throw new Error('torch-mount-loader printed no epoch');
  return epochs.reduce((best, e) => (e.samples / e.seconds > best.samples / best.seconds ? e : best));
}

function execText(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: withMallocEnv(process.env), timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
        else resolve(stdout);
      },
    );
  });
}

/** The torch version the baseline will run with, or why it cannot run on this machine. */
export async function probeTorch(): Promise<{ torch: string } | { skip: string }> {
  if (!existsSync('/dev/fuse')) return { skip: 'no /dev/fuse on this machine (the baseline reads through the mount)' };
  if (!existsSync(TORCH_SCRIPT))
    return { skip: `${TORCH_SCRIPT} is missing (an installed package has no bench/python)` };
  if (!existsSync(TORCH_PYTHON)) return { skip: `no ${TORCH_PYTHON}: run scripts/setup.sh to make the venv` };
  try {
    const out = await execText(TORCH_PYTHON, ['-c', 'import torch; print(torch.__version__)'], 120_000);
    return { torch: out.trim() };
  } catch (err) {
    return { skip: `import torch fails in ${TORCH_PYTHON}: ${(err as Error).message.split('\n').slice(-1)[0]}` };
  }
}

export interface TorchBaselineOptions {
  meta: string;
  files: number;
  sampleBytes: number;
  batchSize: number;
  workers: readonly number[];
  seed: number;
}

/**
 * Writes the one-file-per-sample tree, mounts the cluster and runs one epoch per num_workers value.
 * Resolves with the epochs, how long writing the tree took and the CPU the mount (`other`), meta and
 * storage spent during the epochs.
 */
export async function runTorchBaseline(
  ctx: BenchContext,
  o: TorchBaselineOptions,
): Promise<{ epochs: TorchEpoch[]; treeSeconds: number; cpu: CpuSpent }> {
  const tree = ctx.created(`/bench-loader-files-${Date.now()}`);
  const writer = ctx.worker(
    {
      kind: 'loader-files',
      meta: o.meta,
      dir: tree,
      files: o.files,
      fileBytes: o.sampleBytes,
      depth: FILE_WRITES_IN_FLIGHT,
    },
    `writing ${o.files} files`,
    o.files,
    'files',
  );
  const written = (await ctx.together(`loader: writing ${o.files} files of ${o.sampleBytes} bytes`, [writer]))
    .results[0]!.ops[0]!;
  const dir = join(ctx.scratch, 'mnt');
  mkdirSync(dir, { recursive: true });
  ctx.progress.update(`[${ctx.suite}] spindle mount ${dir}`, true);
  const mount = await startMount(dir, o.meta);
  try {
    ctx.progress.update(
      `[${ctx.suite}] PyTorch DataLoader over ${o.files} files through the mount, num_workers ${o.workers.join(', ')}`,
      true,
    );
    const meter = startCpuMeter(ctx.scratch, mount.child.pid === undefined ? [] : [mount.child.pid]);
    const stdout = await execText(
      TORCH_PYTHON,
      [
        TORCH_SCRIPT,
        '--root',
        join(dir, tree.slice(1)),
        '--count',
        String(o.files),
        '--sample-bytes',
        String(o.sampleBytes),
        '--batch-size',
        String(o.batchSize),
        '--workers',
        o.workers.join(','),
        '--seed',
        String(o.seed),
      ],
      TORCH_RUN_TIMEOUT_MS,
    );
    return { epochs: parseTorchEpochs(stdout), treeSeconds: written.seconds, cpu: meter() };
  } finally {
    ctx.progress.update(`[${ctx.suite}] unmounting`, true);
    await stopMount(mount, dir);
    if (mounted(dir)) ctx.progress.log(`[${ctx.suite}] ${dir} is still mounted: ${mount.stderr().slice(-500)}`);
  }
}
