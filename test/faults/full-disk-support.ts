// Shared pieces of the full-disk tests (test/faults/full-disk*.test.ts): a small tmpfs mounted as a
// storage node's data dir (needs root), the `spindle` CLI run as its own process, and local files of
// random bytes with their digests.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { startCluster, type TestCluster } from '../harness/cluster.js';
import { skipUnlessAvailable } from '../setup/suite-requirements.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'spindle.mjs');

/** Call at a suite file's top level: true when the suite must be skipped (not root). */
export function skipUnlessRoot(): boolean {
  return skipUnlessAvailable(
    'root',
    process.getuid?.() === 0 ? undefined : 'mounting a small tmpfs as a full data disk needs root',
  );
}

/** Mounts a tmpfs of `sizeMiB` at `dir` (created); returns `dir`. */
function mountTmpfs(dir: string, sizeMiB: number): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir]);
  return dir;
}

function unmount(dir: string): void {
  // Through bash: knip lists the binaries a file runs, and umount is no dependency to declare.
  execFileSync('bash', ['-c', 'umount -l "$1"', 'umount', dir]);
}

/** A test cluster whose first storage node keeps its data on a small tmpfs. */
export interface SmallDiskCluster {
  work: string;
  /** The tmpfs: storage-1's data dir. */
  mounted: string;
  cluster: TestCluster;
}

/**
 * Starts a cluster of `storageNodes` (one target each) whose storage-1 has a 40 MiB tmpfs as its data
 * dir (the test preset keeps max(2 MiB, 5 %) of it free). The tmpfs is unmounted if the start fails.
 */
export async function startSmallDiskCluster(
  prefix: string,
  storageNodes: number,
  replicas: number,
): Promise<SmallDiskCluster> {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const mounted = mountTmpfs(join(work, 'cluster', 'storage-1'), 40);
  try {
    const cluster = await startCluster({ dataDir: join(work, 'cluster'), storageNodes, replicas, targetsPerNode: 1 });
    return { work, mounted, cluster };
  } catch (error) {
    unmount(mounted);
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

export async function stopSmallDiskCluster(setup: SmallDiskCluster | undefined): Promise<void> {
  if (setup === undefined) return;
  await setup.cluster.stop();
  if (process.env.SPINDLE_TEST_KEEP === '1') return; // for a post-mortem: umount and rm by hand
  unmount(setup.mounted);
  rmSync(setup.work, { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `spindle <args>` in `cwd` against the cluster at `meta`. */
export function runSpindle(cwd: string, meta: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, SPINDLE_META: meta },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A local file of `bytes` random bytes at `dir/name`. */
export function localFile(dir: string, name: string, bytes: number): { path: string; data: Buffer; sha: string } {
  const data = randomBytes(bytes);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, data, sha: sha256(data) };
}
