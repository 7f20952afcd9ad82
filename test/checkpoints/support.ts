// Helpers of the checkpoint tests: deterministic shard bytes, shared by the test and its rank
// processes so either side can check the other, and rank-child.ts processes with their output.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bytes of shard `name` of `rank` at `step`: about 1.5 MB of hash-derived bytes (several chunks). */
export function shardBytes(step: number, rank: number, name: string): Buffer {
  const length = 1_500_000 + rank * 1000 + (name.length % 7);
  const out = Buffer.alloc(length);
  let counter = 0;
  for (let at = 0; at < length; at += 32) {
    createHash('sha256').update(`${step}/${rank}/${name}/${counter++}`).digest().copy(out, at);
  }
  return out;
}

/**
 * `bytes` bytes of a large shard: one 64 KiB hash-derived block repeated, each copy stamped with
 * its index (cheap to make at tens of MiB, and no two 64 KiB pieces alike).
 */
export function bigShardBytes(step: number, rank: number, name: string, bytes: number): Buffer {
  const block = Buffer.alloc(64 * 1024);
  for (let at = 0, counter = 0; at < block.length; at += 32) {
    createHash('sha256').update(`${step}/${rank}/${name}/${counter++}`).digest().copy(block, at);
  }
  const out = Buffer.alloc(bytes);
  for (let at = 0, index = 0; at < bytes; at += block.length, index++) {
    block.copy(out, at, 0, Math.min(block.length, bytes - at));
    if (at + 4 <= bytes) out.writeUInt32LE(index, at);
  }
  return out;
}

/** One rank-child.ts process, with its output as it comes. */
export interface RankProcess {
  readonly child: ChildProcess;
  readonly rank: number;
  /** Resolves once the process exited: its exit code (null when killed) and everything it printed. */
  readonly exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves when the process printed `line` (rejects if it exits first). */
  printed(line: string): Promise<void>;
  /** Writes one line to its stdin (the 'gate' mode waits for 'finish'). */
  send(line: string): void;
  /** What it printed so far. */
  output(): string;
}

/** What a rank printed last: the finish result, or its failure line. */
export type RankOutcome =
  | { readonly ok: true; readonly result: Record<string, unknown> & { committed: boolean } }
  | { readonly ok: false; readonly code: string; readonly message: string };

const CHILD = fileURLToPath(new URL('./rank-child.ts', import.meta.url));

/** Starts rank `rank` of a save (rank-child.ts arguments after META); `live` collects it for cleanup. */
export function startRank(
  metaAddress: string,
  args: { dir: string; step: number; worldSize: number; rank: number; saveId: string; mode: string; bytes?: number },
  live: Set<ChildProcess>,
): RankProcess {
  const argv = [args.dir, args.step, args.worldSize, args.rank, args.saveId, 0, args.mode, args.bytes ?? 0];
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, metaAddress, ...argv.map(String)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ line: string; resolve: () => void }> = [];
  child.stdout!.on('data', (data: Buffer) => {
    stdout += data.toString();
    const lines = stdout.split('\n');
    for (const waiter of waiters) if (lines.includes(waiter.line)) waiter.resolve();
  });
  child.stderr!.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  // A child gone before reading its stdin must not fail the test with EPIPE.
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('exit', (code) => {
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  return {
    child,
    rank: args.rank,
    exited,
    printed: (line) =>
      new Promise((resolve, reject) => {
        if (stdout.split('\n').includes(line)) resolve();
        waiters.push({ line, resolve });
        void exited.then((exit) =>
          reject(new Error(`rank ${args.rank} exited (${exit.code}) before printing ${line}: ${exit.stderr}`)),
        );
      }),
    send: (line) => {
      child.stdin!.write(`${line}\n`);
    },
    output: () => stdout,
  };
}

/** The outcome a rank printed last (its stdout's last line). */
export function rankOutcome(stdout: string): RankOutcome {
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const failed = /^failed ([A-Z_]+): ([\s\S]*)$/.exec(last);
  if (failed !== null) return { ok: false, code: failed[1]!, message: failed[2]! };
  return { ok: true, result: JSON.parse(last) };
}

/** Where `needle` lies in the chunk data files (`*.dat`) under a storage node's data dir. */
export async function findInDataFiles(nodeDataDir: string, needle: Buffer): Promise<{ file: string; at: number }[]> {
  const found: { file: string; at: number }[] = [];
  for (const entry of await readdir(nodeDataDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.dat')) continue;
    const file = join(entry.parentPath, entry.name);
    const bytes = await readFile(file);
    for (let at = bytes.indexOf(needle); at !== -1; at = bytes.indexOf(needle, at + 1)) found.push({ file, at });
  }
  return found;
}

/** Flips every bit of the byte at `at` of `file` behind the storage node's back, synced. */
export async function flipByteOnDisk(file: string, at: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
