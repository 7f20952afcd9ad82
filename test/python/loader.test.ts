// The Python package end to end: a real cluster, a dataset packed with the client library, a real
// `spindle agent`, and real Python trainers (the venv's python, test/python/read_epoch.py) iterating
// DataLoader(SpindleDataset(...), batch_size=None). Two ranks (torch.distributed over gloo) read
// every sample exactly once with its exact bytes in the same number of steps; a state_dict taken
// mid-epoch at world size 2 continues at world size 1 with exactly the rest; DataLoader workers
// are refused with a message that says why. Fails (never skips) without the venv: run setup.sh.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetWriter } from '../../client/loader/index.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { type AgentProcess, startAgentProcess } from '../agent/agent-process.js';
import { useCluster } from '../harness/cluster.js';
import { requireVenvPython } from './venv.js';

const DATASET = '/python-test/train';
/** 32 samples of 1 MiB: far more than gRPC's windows and socket buffers hold. */
const BIG_DATASET = '/python-test/big';
const BIG_SAMPLES = 32;
const SAMPLES = 48;
/** Per rank; at world size 2 the global batch is 8: 6 steps, every sample once. */
const BATCH_PER_RANK = 4;
const PYTHON_RUN_TIMEOUT_MS = 45_000;

interface Output {
  rank: number | null;
  world_size: number | null;
  len: number;
  steps: string[][];
  state: Record<string, unknown>;
}

const getCluster = useCluster({ storageNodes: 3, replicas: 2, targetsPerNode: 2 });
const byContent = new Map<string, number>();
const children = new Set<ChildProcess>();
/** Without the venv every test fails with what to do (never a skip). */
let venvProblem: unknown;
let python = '';
try {
  python = requireVenvPython();
} catch (err) {
  venvProblem = err;
}
let agent: AgentProcess | undefined;
let work: string;

beforeAll(async () => {
  if (venvProblem !== undefined) return;
  work = mkdtempSync(join(tmpdir(), 'spindle-python-'));
  const client = await getCluster().client();
  await client.mkdir('/python-test', { recursive: true });
  const writer = await DatasetWriter.create(client, DATASET);
  for (let i = 0; i < SAMPLES; i++) {
    const data = randomBytes(100 + ((i * 4001) % 9000));
    byContent.set(data.toString('base64'), i);
    await writer.add(data, `k${i}`);
  }
  await writer.publish();
  const big = await DatasetWriter.create(client, BIG_DATASET);
  for (let i = 0; i < BIG_SAMPLES; i++) await big.add(randomBytes(1024 * 1024));
  await big.publish();
  // Debug logs say how many batches each stream sent (the stalled-trainer test reads them).
  agent = await startAgentProcess(['--meta', getCluster().metaAddress, '--preset', 'test'], {
    SPINDLE_LOG_LEVEL: 'debug',
  });
}, 120_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (agent !== undefined) expect(await agent.stop()).toBe(0);
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

/** Runs read_epoch.py on DATASET; resolves with its exit code, stdout and stderr. */
function runTrainer(args: string[], env: Record<string, string> = {}) {
  return runPython('read_epoch.py', ['--dataset', DATASET, ...args], env);
}

/** Runs a script of test/python with --agent; resolves with its exit code, stdout and stderr. */
function runPython(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const { RANK: _rank, WORLD_SIZE: _world, ...inherited } = process.env;
  const child = spawn(python, [join(PACKAGE_ROOT, 'test', 'python', script), '--agent', agent!.ready.agent, ...args], {
    cwd: PACKAGE_ROOT,
    env: { ...inherited, PYTHONPATH: join(PACKAGE_ROOT, 'python'), GLOO_SOCKET_IFNAME: 'lo', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), PYTHON_RUN_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? signal ?? 'unknown', stdout, stderr });
    });
  });
}

async function runOk(args: string[], env: Record<string, string> = {}): Promise<Output> {
  const out = join(work, `out-${randomBytes(4).toString('hex')}.json`);
  const { code, stderr } = await runTrainer([...args, '--out', out], env);
  expect(code, `read_epoch.py failed:\n${stderr}`).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8')) as Output;
}

/** The dataset indices of the samples read (each must be byte-identical to a packed one). */
function indices(steps: string[][]): number[] {
  return steps.flat().map((sample) => {
    const index = byContent.get(sample);
    expect(index, 'a sample read is byte-identical to a packed one').toBeDefined();
    return index!;
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const everySample = Array.from({ length: SAMPLES }, (_, i) => i);
const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

describe('spindle (Python) on spindle agent', () => {
  it('two torch.distributed ranks (gloo) read every sample exactly once, in the same number of steps', async () => {
    if (venvProblem !== undefined) throw venvProblem;
    const init = `tcp://127.0.0.1:${await freePort()}`;
    const common = ['--batch-size', String(BATCH_PER_RANK), '--dist', init, '--world-size', '2'];
    const [rank0, rank1] = await Promise.all([runOk([...common, '--rank', '0']), runOk([...common, '--rank', '1'])]);
    expect([rank0.rank, rank0.world_size, rank1.rank, rank1.world_size]).toEqual([0, 2, 1, 2]);
    for (const rank of [rank0, rank1]) {
      expect(rank.len).toBe(SAMPLES / (2 * BATCH_PER_RANK));
      expect(rank.steps).toHaveLength(rank.len);
      for (const step of rank.steps) expect(step).toHaveLength(BATCH_PER_RANK);
      expect(rank.state).toMatchObject({ next_batch: rank.len, batch_size: 2 * BATCH_PER_RANK, epoch: 0 });
    }
    expect(sorted([...indices(rank0.steps), ...indices(rank1.steps)])).toEqual(everySample);
  });

  it('a state_dict taken mid-epoch at world size 2 continues at world size 1 with exactly the rest', async () => {
    if (venvProblem !== undefined) throw venvProblem;
    const state = join(work, 'state.json');
    const first = await Promise.all(
      [0, 1].map((rank) =>
        runOk(
          [
            '--batch-size',
            String(BATCH_PER_RANK),
            '--epoch',
            '3',
            '--stop-after',
            '2',
            '--state-out',
            `${state}.${rank}`,
          ],
          { RANK: String(rank), WORLD_SIZE: '2' },
        ),
      ),
    );
    const states = [0, 1].map(
      (rank) => JSON.parse(readFileSync(`${state}.${rank}`, 'utf8')) as Record<string, unknown>,
    );
    expect(states[1]).toEqual(states[0]);
    expect(states[0]).toMatchObject({
      dataset: DATASET,
      dataset_size: SAMPLES,
      epoch: 3,
      batch_size: 8,
      next_batch: 2,
    });
    expect(first.map((rank) => rank.steps.length)).toEqual([2, 2]);

    const rest = await runOk(['--batch-size', String(BATCH_PER_RANK), '--resume', `${state}.0`]);
    expect(rest.steps).toHaveLength(SAMPLES / 8 - 2);
    for (const step of rest.steps) expect(step).toHaveLength(8);
    expect(rest.state).toMatchObject({ epoch: 3, next_batch: SAMPLES / 8 });
    const all = [...first.flatMap((rank) => indices(rank.steps)), ...indices(rest.steps)];
    expect(sorted(all)).toEqual(everySample);
  });

  it('a trainer that stops taking batches stops the agent reading: its stream sent few of the batches', async () => {
    if (venvProblem !== undefined) throw venvProblem;
    const args = ['--dataset', BIG_DATASET, '--prefetch-bytes', String(1024 * 1024)];
    const { code, stdout, stderr } = await runPython('stall_stream.py', args);
    expect({ code, stdout }, stderr).toEqual({ code: 0, stdout: '0\n' });
    const ended = () =>
      agent!
        .stderr()
        .split('\n')
        .filter((line) => line.includes('"stream ended"') && line.includes(BIG_DATASET))
        .map((line) => JSON.parse(line) as { batches: number; outcome: string });
    await expect.poll(ended).toHaveLength(1);
    const [stream] = ended();
    expect(stream?.outcome).toBe('cancelled');
    // One batch in flight, HTTP/2's windows and the sockets' buffers: 5 of the 32 here.
    expect(stream?.batches).toBeLessThanOrEqual(BIG_SAMPLES / 2);
  });

  it('refuses DataLoader worker processes with a message that says what to do', async () => {
    if (venvProblem !== undefined) throw venvProblem;
    const out = join(work, 'workers.json');
    const { code, stderr } = await runTrainer(['--batch-size', '4', '--num-workers', '2', '--out', out]);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/SpindleDataset cannot run in DataLoader worker processes \(num_workers > 0\)/);
    expect(stderr).toMatch(/num_workers=0/);
  });
});
