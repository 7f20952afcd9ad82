// Python clients and bearer tokens (issue 16), with the real interpreter of the venv: grpcio calls
// straight to meta and a storage node are UNAUTHENTICATED without a token and answered with the
// cluster's client token; the spindle package's LoaderClient is refused by a TCP agent without
// the agent's token and gets through with it (`token=`; SPINDLE_TOKEN works the same way).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { type AgentProcess, startAgentProcess } from '../agent/agent-process.js';
import { useCluster } from '../harness/cluster.js';
import { requireVenvPython } from '../python/venv.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3 });
let agent: AgentProcess | undefined;

beforeAll(async () => {
  agent = await startAgentProcess(['--meta', cluster().metaAddress, '--preset', 'test']);
}, 120_000);

afterAll(async () => {
  if (agent !== undefined) expect(await agent.stop()).toBe(0);
});

describe('Python clients', () => {
  it('are refused without a token and served with one (grpcio to meta and storage, spindle to the agent)', async () => {
    const python = requireVenvPython();
    const { SPINDLE_TOKEN: _token, SPINDLE_TOKEN_FILE: _file, SPINDLE_CREDENTIALS: _credentials, ...env } = process.env;
    const args = [
      join(PACKAGE_ROOT, 'test', 'auth', 'python_calls.py'),
      cluster().local.meta.ready.addr,
      cluster().nodes[0]!.addr,
      agent!.ready.agent,
      cluster().clientToken!,
    ];
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(python, args, { cwd: PACKAGE_ROOT, env, timeout: 90_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(result.code, result.stderr).toBe(0);
    const outcomes = Object.fromEntries(
      result.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ')),
    );
    expect(outcomes).toEqual({
      'meta-without': 'UNAUTHENTICATED',
      'meta-with': 'OK',
      'storage-without': 'UNAUTHENTICATED',
      'storage-with': 'OK',
      'agent-without': 'UNAUTHENTICATED',
      'agent-with': 'NOT_FOUND',
    });
  });
});
