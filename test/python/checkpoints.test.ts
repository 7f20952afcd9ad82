// spindle.ckpt end to end: a real cluster, a packed dataset, a real `spindle agent`, and a small
// torch trainer (test/python/checkpoints_trainer.py: nn.Linear on SpindleDataset batches). It
// trains 3 steps, saves the model, optimizer and loader cursor through the agent's Checkpoints
// service, trains 2 more steps and is killed with SIGKILL. A new process resumes from `latest`:
// its weights are exactly the saved ones, and it reads exactly the samples after the checkpoint —
// the two steps read after the save are read again, the same batches, and over both processes
// (up to the checkpoint, then after it) every sample of the epoch is read once. Also: a step that
// is not committed is a clear NOT_FOUND, two ranks (RANK / WORLD_SIZE) save one step that the last
// to finish commits, and a save written through a real `spindle mount` (via_mount) loads back
// equal. Fails (never skips) without the venv: run setup.sh.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetWriter } from '../../client/loader/index.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { type AgentProcess, startAgentProcess } from '../agent/agent-process.js';
import { type MountProcess, startMountProcess } from '../agent/checkpoints-testing.js';
import { useCluster } from '../harness/cluster.js';
import { requireVenvPython } from './venv.js';

const DATASET = '/ckpt-python/train';
/** 48 samples, 4 per step: 12 steps; the trainer saves after step 3 and is killed after step 5. */
const SAMPLES = 48;
const STEPS = 12;
const SAVE_AT = 3;
const KILLED_AT = 5;
const PYTHON_RUN_TIMEOUT_MS = 60_000;
const HAS_FUSE = existsSync('/dev/fuse');
if (!HAS_FUSE) console.warn('test/python/checkpoints: the via_mount test is skipped: /dev/fuse does not exist here');

type Line = Record<string, unknown>;
const getCluster = useCluster({ storageNodes: 3, replicas: 2, targetsPerNode: 2 });
const children = new Set<ChildProcess>();
let venvProblem: unknown;
let python = '';
try {
  python = requireVenvPython();
} catch (err) {
  venvProblem = err;
}
let agent: AgentProcess | undefined;

beforeAll(async () => {
  if (venvProblem !== undefined) return;
  const client = await getCluster().client();
  await client.mkdir('/ckpt-python', { recursive: true });
  const writer = await DatasetWriter.create(client, DATASET);
  for (let i = 0; i < SAMPLES; i++) await writer.add(randomBytes(16 + (i % 7) * 100), `k${i}`);
  await writer.publish();
  agent = await startAgentProcess(['--meta', getCluster().metaAddress, '--preset', 'test']);
}, 120_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (agent !== undefined) expect(await agent.stop()).toBe(0);
});

interface Trainer {
  readonly child: ChildProcess;
  /** Every JSON line printed so far. */
  readonly lines: Line[];
  /** Resolves with the first line matching, or rejects when the process exits before printing it. */
  waitFor(match: (line: Line) => boolean): Promise<Line>;
  /** Resolves with the exit code (or signal name) and stderr once it exited. */
  readonly exited: Promise<{ code: number | string; stderr: string }>;
}

function runTrainer(mode: string, dir: string, extra: string[] = [], env: Record<string, string> = {}): Trainer {
  const { RANK: _rank, WORLD_SIZE: _world, ...inherited } = process.env;
  const script = join(PACKAGE_ROOT, 'test', 'python', 'checkpoints_trainer.py');
  const args = [script, '--agent', agent!.ready.agent, '--dataset', DATASET, '--dir', dir, '--mode', mode, ...extra];
  const child = spawn(python, args, {
    cwd: PACKAGE_ROOT,
    env: { ...inherited, PYTHONPATH: join(PACKAGE_ROOT, 'python'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: Line[] = [];
  const waiters: { match: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.match(line))) waiter.resolve(line);
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), PYTHON_RUN_TIMEOUT_MS);
  const exited = new Promise<{ code: number | string; stderr: string }>((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? signal ?? 'unknown', stderr });
    });
  });
  return {
    child,
    lines,
    exited,
    waitFor(match) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(({ code }) =>
          reject(new Error(`the trainer exited (${code}) before the line expected:\n${stderr}`)),
        );
      });
    },
  };
}

async function runToEnd(mode: string, dir: string, extra: string[] = [], env: Record<string, string> = {}) {
  const trainer = runTrainer(mode, dir, extra, env);
  const { code, stderr } = await trainer.exited;
  expect(code, `checkpoints_trainer.py --mode ${mode} failed:\n${stderr}`).toBe(0);
  return trainer.lines;
}

const keysOf = (lines: Line[]) => lines.filter((line) => 'keys' in line).map((line) => line.keys as string[]);

describe('spindle.ckpt (Python) on spindle agent', () => {
  it('a trainer killed after its checkpoint resumes from latest: saved weights, then the unread samples', async () => {
    if (venvProblem !== undefined) throw venvProblem;
    const dir = '/ckpt-python/run1';
    const first = runTrainer('train', dir, ['--save-at', String(SAVE_AT), '--wait-at', String(KILLED_AT)]);
    const saved = await first.waitFor((line) => 'saved' in line);
    expect(saved).toMatchObject({ saved: SAVE_AT, committed: true });
    await first.waitFor((line) => 'waiting' in line);
    first.child.kill('SIGKILL');
    expect((await first.exited).code).toBe('SIGKILL');
    const before = keysOf(first.lines);
    expect(before).toHaveLength(KILLED_AT);

    const resumed = await runToEnd('resume', dir);
    const loaded = resumed.find((line) => 'loaded' in line)!;
    expect(loaded).toMatchObject({ loaded: SAVE_AT, metadata: { step: SAVE_AT } });
    expect(loaded.loader_state).toMatchObject({ dataset: DATASET, next_batch: SAVE_AT, batch_size: 4 });
    expect(loaded.weights).toEqual(saved.weights);
    expect(resumed.at(-1)).toEqual({ done: true });
    const after = keysOf(resumed);
    expect(after).toHaveLength(STEPS - SAVE_AT);
    // The steps read after the save and lost with the process are read again, the same batches.
    expect(after.slice(0, KILLED_AT - SAVE_AT)).toEqual(before.slice(SAVE_AT));
    // Up to the checkpoint, then after it: every sample of the epoch once.
    const read = [...before.slice(0, SAVE_AT).flat(), ...after.flat()];
    expect(new Set(read).size).toBe(read.length);
    expect(read.sort()).toEqual(Array.from({ length: SAMPLES }, (_, i) => `k${i}`).sort());
  }, 180_000);

  it('loading a step that is not committed is a NOT_FOUND that says so; a bad step a ValueError', async () => {
    if (venvProblem !== undefined) throw venvProblem;
    const lines = await runToEnd('bad-step', '/ckpt-python/run1');
    expect(lines[0]).toMatchObject({ error_code: 'NOT_FOUND' });
    expect(lines[0]!.error).toMatch(/step 999 is not committed in \/ckpt-python\/run1/);
    expect(lines[1]!.value_error).toMatch(/step must be an integer from 0/);
  }, 120_000);

  it('two ranks (RANK / WORLD_SIZE) save one step: the last to finish commits; each loads its own state', async () => {
    if (venvProblem !== undefined) throw venvProblem;
    const dir = '/ckpt-python/ranks';
    const ranks = await Promise.all(
      [0, 1].map((rank) => runToEnd('rank-save', dir, [], { RANK: String(rank), WORLD_SIZE: '2' })),
    );
    const results = ranks.map((lines) => lines[0]!);
    expect(results.filter((result) => result.committer)).toHaveLength(1);
    const waiting = results.filter((result) => !result.committed);
    for (const result of waiting) expect(result.missing_ranks).toHaveLength(1);
    for (const rank of [0, 1]) {
      expect(await runToEnd('rank-load', dir, [], { RANK: String(rank), WORLD_SIZE: '2' })).toEqual([{ rank }]);
    }
  }, 120_000);

  it.skipIf(!HAS_FUSE)(
    'saves through a real spindle mount (via_mount) and loads it back equal',
    async () => {
      if (venvProblem !== undefined) throw venvProblem;
      const work = mkdtempSync(join(tmpdir(), 'spindle-ckpt-py-'));
      const mnt = join(work, 'mnt');
      mkdirSync(mnt);
      let mount: MountProcess | undefined;
      try {
        mount = await startMountProcess(mnt, getCluster().metaAddress);
        const lines = await runToEnd('mount-roundtrip', '/ckpt-python/mounted', ['--mount', mnt]);
        expect(lines).toEqual([{ equal: true, committed: true, metadata: { via: 'mount' }, shards: 1 }]);
      } finally {
        await mount?.stop();
        rmSync(work, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
