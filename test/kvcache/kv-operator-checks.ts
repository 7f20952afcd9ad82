// Shared by the `spindle kv` tests: the CLI run as a process against a cluster, and the look at
// every replica that an operator's change must leave prefix-closed and in agreement.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import type { KvNamespaceConfig } from '../../proto/index.js';
import type { ChainRoute, KvCalls } from './kv-calls.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'spindle.mjs');

/** Runs `spindle <args> --meta <meta>`; resolves with its exit code and output. */
export function spindle(meta: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args, '--meta', meta], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `spindle <args> --json`, which must succeed; its output parsed. */
export async function spindleJson<T>(meta: string, args: string[]): Promise<T> {
  const result = await spindle(meta, [...args, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/**
 * How many leading keys are present, checked on every serving replica: exists must be a prefix of
 * the keys (prefix-closed), a plain match must count it, and every replica must answer the same.
 */
export async function presenceOnReplicas(
  calls: KvCalls,
  route: ChainRoute,
  ns: KvNamespaceConfig,
  keys: Buffer[],
): Promise<number> {
  const answers: boolean[][] = [];
  for (const replica of route.serving) {
    const present = (await calls.exists(replica, route, ns, keys)).present;
    const count = present.filter(Boolean).length;
    expect(present, `prefix-closed on ${replica}`).toEqual(keys.map((_, i) => i < count));
    expect((await calls.match(replica, route, ns, keys)).matchedCount, `match on ${replica}`).toBe(count);
    answers.push(present);
  }
  for (const answer of answers) expect(answer, 'replicas agree').toEqual(answers[0]);
  return answers[0]!.filter(Boolean).length;
}
