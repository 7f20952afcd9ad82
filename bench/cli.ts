// Suite `cli`: the `spindle` command moving one file, against the client library moving the same
// bytes on the same cluster in the same run (issue 14's first target: ≥ 0.8× the library):
// - `put` (local file → Spindle) against a library sequential write (one client, 4 MiB blocks,
//   4 in flight: the seq-write suite's worker);
// - `get` (Spindle → local file) against a library sequential read of the same file (the
//   seq-read suite's worker), both after the storage nodes' page cache is warmed;
// - `cp` (Spindle → Spindle) against the library write (every byte is read, then written R times).
// The command runs as a user runs it: `bin/spindle.mjs` in a process of its own, with the user's
// environment (no malloc settings) and the `--initial-old-space-size` of its shebang; its time is
// the process's wall time, start-up and connection included. Each copy is checked byte for byte
// (SHA-256 against the local source) after it is timed. `get` also writes every byte into a local
// file, so the local file system's own write rate (limit.local.write, same size, same directory)
// is measured too and get's note gives its ratio to the lower of the two limits.
//
// Back of the envelope: start-up and connection ≈ 0.2–0.3 s; after that the command runs the
// library's own reads and writes (one chunk per block, 6 in flight), plus a page-cache write or
// read of the local file per byte (several GB/s, overlapped with the network by the other lanes):
// ≈ 0.8–0.95× the library for 1 GiB, less for small files where start-up weighs more.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { SpindleClient } from '../client/index.js';
import { MiB, GiB, type BenchContext, type Limit } from './context.js';
import { BLOCK_BYTES, DEPTH } from './seq-write.js';
import { gbPerSecond } from './stats.js';
import type { Suite } from './suite.js';

/** The V8 flag `bin/spindle.mjs` gives itself through its shebang (`env -S`). */
const CLI_NODE_FLAGS = ['--initial-old-space-size=256'];

export interface CliPlan {
  fileBytes: number;
}

export function cliPlan(quick: boolean): CliPlan {
  return { fileBytes: quick ? 512 * MiB : 1 * GiB };
}

/** A local file of `bytes` whose every 4 MiB block differs (a block copied to the wrong offset shows). */
function writeSourceFile(path: string, bytes: number): string {
  const hash = createHash('sha256');
  const block = Buffer.alloc(BLOCK_BYTES);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  const fd = openSync(path, 'w');
  try {
    for (let at = 0, index = 0; at < bytes; at += block.length, index++) {
      block.writeUInt32LE(index, 0);
      const part = block.subarray(0, Math.min(block.length, bytes - at));
      writeSync(fd, part);
      hash.update(part);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * The local side's own limit: `bytes` written into a new file beside get's destination in 4 MiB
 * writes, as get writes them (into the page cache, no fsync); seconds.
 */
function timeLocalWrite(path: string, bytes: number): number {
  const block = Buffer.alloc(BLOCK_BYTES, 0x5a);
  const t0 = performance.now();
  const fd = openSync(path, 'w');
  try {
    for (let at = 0; at < bytes; at += block.length) writeSync(fd, block, 0, Math.min(block.length, bytes - at));
  } finally {
    closeSync(fd);
  }
  const seconds = (performance.now() - t0) / 1000;
  rmSync(path, { force: true });
  return seconds;
}

async function localSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const part of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(part as Buffer);
  return hash.digest('hex');
}

async function spindleSha256(meta: string, path: string): Promise<string> {
  const client = await SpindleClient.connect({ meta, readyTimeoutMs: 30_000 });
  try {
    const hash = createHash('sha256');
    for await (const part of client.createReadStream(path)) hash.update(part as Buffer);
    return hash.digest('hex');
  } finally {
    await client.close();
  }
}

/** Runs `spindle <args>` as a user would and returns its wall time in seconds; fails on a non-zero exit. */
async function timeCli(meta: string, args: readonly string[], cpuProfDir?: string): Promise<number> {
  const profile = cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`];
  const argv = [...CLI_NODE_FLAGS, ...profile, join(PACKAGE_ROOT, 'bin', 'spindle.mjs'), ...args];
  const t0 = performance.now();
  const child = spawn(process.execPath, argv, {
    env: { ...process.env, SPINDLE_META: meta },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`spindle ${args.join(' ')} exited with ${code}: ${stderr.trim()}`);
  return seconds;
}

export async function runCliSuite(ctx: BenchContext, plan: CliPlan): Promise<void> {
  const replicas = Math.max(...(await ctx.replicaCounts()));
  const meta = await ctx.cluster(replicas);
  const bytes = Math.ceil(plan.fileBytes / BLOCK_BYTES) * BLOCK_BYTES;
  const stamp = Date.now();
  const local = join(ctx.scratch, 'cli-source');
  ctx.progress.update(`[${ctx.suite}] writing a ${bytes / MiB} MiB local file`, true);
  const sourceSha = writeSourceFile(local, bytes);
  const profiles = (name: string) => (ctx.options.cpuProf === undefined ? undefined : join(ctx.options.cpuProf, name));
  const config = { replicas, bytes, clients: 1 };

  const library = async (kind: 'seq-write' | 'seq-read', path: string) => {
    const worker = ctx.worker(
      { kind, meta, path, offset: 0, bytes, blockBytes: BLOCK_BYTES, depth: DEPTH },
      `library ${kind}`,
      bytes,
    );
    const { results, seconds } = await ctx.together(`cli: library ${kind}`, [worker]);
    const moved = results[0]!.ops.reduce((sum, o) => sum + o.bytes, 0);
    const value = gbPerSecond(moved, seconds);
    ctx.add({
      case: `library.${kind === 'seq-write' ? 'write' : 'read'}.r${replicas}`,
      config: { ...config, block: '4MiB', depth: DEPTH },
      throughput: value,
      unit: 'GB/s',
      bytes: moved,
      ops: results[0]!.ops.reduce((sum, o) => sum + o.ops, 0),
      seconds,
    });
    return { name: `library.${kind}`, value, unit: 'GB/s' } satisfies Limit;
  };
  const command = async (
    name: string,
    args: string[],
    limit: Limit,
    check: () => Promise<string>,
    note?: (seconds: number) => string,
  ) => {
    ctx.progress.update(`[${ctx.suite}] spindle ${name}`, true);
    const seconds = await timeCli(meta, args, profiles(`cli-${name}`));
    const sha = await check();
    if (sha !== sourceSha) throw new Error(`spindle ${name}: the copy's bytes differ from the source's`);
    ctx.add({
      case: `${name}.r${replicas}`,
      config: { ...config, command: `spindle ${name}` },
      throughput: gbPerSecond(bytes, seconds),
      unit: 'GB/s',
      bytes,
      ops: 1,
      seconds,
      limit,
      notes: `process wall time, start-up included; bytes checked (SHA-256)${note?.(seconds) ?? ''}`,
    });
  };

  const written = await library('seq-write', ctx.created(`/bench-cli-${stamp}-library`));
  const put = ctx.created(`/bench-cli-${stamp}-put`);
  await command('put', ['put', local, put], written, () => spindleSha256(meta, put));
  await ctx.warmStorageCaches();
  const read = await library('seq-read', put);
  const got = join(ctx.scratch, 'cli-got');
  // get also writes every byte into a local file: that file system's own write rate, measured
  // here, bounds it too (on a shared disk it can be below the network read).
  const localSeconds = timeLocalWrite(join(ctx.scratch, 'cli-local-write'), bytes);
  const localWrite: Limit = { name: 'local.write', value: gbPerSecond(bytes, localSeconds), unit: 'GB/s' };
  ctx.add({
    case: 'limit.local.write',
    config: { bytes, write: '4MiB', call: 'fs.writeSync, page cache, no fsync' },
    throughput: localWrite.value,
    unit: 'GB/s',
    bytes,
    ops: Math.ceil(bytes / BLOCK_BYTES),
    seconds: localSeconds,
  });
  const localNote = (seconds: number) =>
    `; ${(gbPerSecond(bytes, seconds) / Math.min(read.value, localWrite.value)).toFixed(2)}× ` +
    'the lower of library.seq-read and local.write';
  await command('get', ['get', put, got], read, () => localSha256(got), localNote);
  const copy = ctx.created(`/bench-cli-${stamp}-cp`);
  await command('cp', ['cp', put, copy], written, () => spindleSha256(meta, copy));
}

export const cliSuite: Suite = {
  name: 'cli',
  estimate: 'put/get/cp of 1 GiB ≈ 0.8–0.95× the library on the same cluster (start-up ≈ 0.2–0.3 s included)',
  run: (ctx) => runCliSuite(ctx, cliPlan(ctx.quick)),
};
