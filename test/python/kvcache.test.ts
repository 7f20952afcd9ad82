// spindle.kv end to end: a real cluster (3 nodes, one chain of 3), a real `spindle agent`, and an
// inference engine's calls from Python (test/python/kvcache_engine.py): a prompt's KV pages as torch
// bfloat16 tensors, keyed by chain_keys() over its token blocks, are put as one chain; match_prefix
// counts them (and the 3 pages a second prompt shares), also after removing a suffix and putting it
// back under the root; gets return identical tensors (zero-copy view, get_into, batch_get); a miss
// is None; 5 pages of 24 MiB come back whole (batch_get re-asks for what a reply deferred); a leased
// page is not removed; bad input raises SpindleError (or TypeError) naming the field, with nothing
// stored. Fails (never skips) without the venv: run setup.sh.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { type AgentProcess, startAgentProcess } from '../agent/agent-process.js';
import { useCluster } from '../harness/cluster.js';
import { requireVenvPython } from './venv.js';

const PYTHON_RUN_TIMEOUT_MS = 60_000;
const getCluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 1 });
let agent: AgentProcess | undefined;

beforeAll(async () => {
  agent = await startAgentProcess(['--meta', getCluster().metaAddress, '--preset', 'test']);
}, 120_000);

afterAll(async () => {
  if (agent !== undefined) expect(await agent.stop()).toBe(0);
});

/** Runs the engine script to its end: its JSON object, or a failure with its stderr. */
function runEngine(python: string): Promise<Record<string, unknown>> {
  const script = join(PACKAGE_ROOT, 'test', 'python', 'kvcache_engine.py');
  const child = spawn(python, [script, '--agent', agent!.ready.agent], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, PYTHONPATH: join(PACKAGE_ROOT, 'python') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), PYTHON_RUN_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(stdout) as Record<string, unknown>);
      else reject(new Error(`kvcache_engine.py exited with ${code ?? signal}:\n${stderr}`));
    });
  });
}

describe('spindle.kv (Python) on spindle agent', () => {
  it('puts a prompt of tensors, matches its prefix, gets identical tensors back; misses and bad input', async () => {
    const out = await runEngine(requireVenvPython());
    const stored = (n: number) => Array(n).fill('STORED');
    expect(out).toMatchObject({
      shared_keys: 3,
      put: stored(6),
      match: 6,
      match_other: 3,
      get_equal: Array(6).fill(true),
      get_into: [true, true],
      batch_get_equal: Array(6).fill(true),
      miss: [null, false],
      exists: [true, true, true],
      removed: ['REMOVED', 2],
      match_after_remove: 4,
      get_removed: null,
      put_suffix: stored(2),
      put_again: 'ALREADY_PRESENT',
      match_after_put: 6,
      remove_leased: 'REJECTED_LEASED',
      refused_stored: false,
      large_put: stored(5),
      large_get_equal: Array(5).fill(true),
    });
    const error = (name: string) => out[name] as { code: string; message: string };
    expect(error('bad_key')).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(error('bad_key').message).toMatch(/pages\[0\]\.key has 31 bytes: a page key has 32 bytes/);
    expect(error('small_value')).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(error('small_value').message).toMatch(/pages\[0\]\.value has 100 bytes/);
    expect(error('no_root').message).toMatch(/root_key is required when pages\[0\] has a parent_key/);
    expect(error('str_key')).toMatchObject({
      code: 'TypeError',
      message: 'keys[0] must be bytes (32 of them), got str',
    });
    expect(error('bad_namespace')).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(error('bad_namespace').message).toMatch(
      /namespace\.kv_dtype must be one of .*namespace\.tp_rank must be 0\.\.0/,
    );
  }, 120_000);
});
