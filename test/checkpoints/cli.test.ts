// `spindle ckpt …` as a user runs it (the built bin/spindle.mjs against a real cluster), on steps
// saved with the library: ls lists steps and flags saves in progress and abandoned; show prints
// the manifest; verify shows progress and exits 1 naming a damaged shard (--all goes on past it);
// rm checks every STEP first; gc --dry-run changes nothing, gc applies retention and collects the
// abandoned save only; a missing DIR, a file, a directory of other things and a bad STEP exit with
// their codes and change nothing.
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Checkpoints, type SpindleClient, openCheckpoints } from '../../client/index.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { pidAlive, useCluster } from '../harness/cluster.js';
import { shardBytes } from './support.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'spindle.mjs');
const DIR = '/cli-ck/run';

const cluster = useCluster();
let client: SpindleClient;
let checkpoints: Checkpoints;
const started = new Set<number>();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spindle(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, SPINDLE_META: cluster().metaAddress },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.add(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function saveStep(step: number): Promise<void> {
  for (const rank of [0, 1]) {
    const shards = { 'model.bin': shardBytes(step, rank, 'model.bin'), 'optim.bin': shardBytes(step, rank, 'o') };
    await checkpoints.save(step, { worldSize: 2, rank, saveId: `job${step}` }, shards, { step, lr: 0.1 }).committed;
  }
}

beforeAll(async () => {
  client = await cluster().client();
  checkpoints = await openCheckpoints(client, DIR);
  for (const step of [10, 20, 30]) await saveStep(step);
  // A save in progress (this process is alive) and one whose only rank died before finishing.
  await checkpoints.begin(40, { worldSize: 2, rank: 0, saveId: 'live' });
  const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
  const dead = `${DIR}/.step-000000000050.saving-dead`;
  await client.mkdir(dead);
  await client.writeFile(
    `${dead}/owner-0.json`,
    JSON.stringify({ host: hostname(), pid: deadPid, startedAt: new Date().toISOString() }),
  );
  await client.mkdir('/cli-ck/other');
  await client.writeFile('/cli-ck/other/notes.txt', 'not a checkpoint');
  await client.writeFile('/cli-ck/file', 'x');
});

afterAll(() => {
  for (const pid of started) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
});

describe('spindle ckpt', () => {
  it('ls lists steps with size, shards, time and save id, and flags saves in progress and abandoned', async () => {
    const result = await spindle(['ckpt', 'ls', DIR]);
    expect(result.stderr).toBe('');
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^STEP +RANKS +SHARDS +SIZE +CREATED +SAVE$/);
    expect(lines[1]).toMatch(/^ *10 +2 +4 +5\.\d+ MiB +\d{4}-\d\d-\d\d \d\d:\d\d +job10$/);
    expect(lines[3]).toContain('job30');
    expect(result.stdout).toMatch(/save live of step 40: in progress, ranks began 1, finished 0/);
    expect(result.stdout).toMatch(/save dead of step 50: abandoned \(rank 0 \(pid \d+ on host .*\) died/);

    const json = await spindle(['ckpt', 'ls', DIR, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const listing = JSON.parse(json.stdout);
    const manifest = await checkpoints.load(20);
    expect(listing.steps.map((step: { step: number }) => step.step)).toEqual([10, 20, 30]);
    expect(listing.steps[1]).toMatchObject({
      saveId: 'job20',
      worldSize: 2,
      shards: 4,
      bytes: manifest.shards.reduce((sum, shard) => sum + shard.bytes, 0),
      createdAt: manifest.createdAt,
    });
    expect(
      listing.saves.map((save: { saveId: string; abandoned?: string }) => [save.saveId, !!save.abandoned]),
    ).toEqual([
      ['live', false],
      ['dead', true],
    ]);
  });

  it('show prints the manifest of the latest step or of STEP', async () => {
    const result = await spindle(['ckpt', 'show', DIR]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^step +30$/m);
    expect(result.stdout).toMatch(/^metadata +\{"step":30,"lr":0\.1\}$/m);
    const manifest = await checkpoints.load(30);
    const shard = manifest.shards.find((entry) => entry.rank === 1 && entry.name === 'optim.bin')!;
    const crc = shard.crc32c.toString(16).padStart(8, '0');
    expect(result.stdout).toMatch(new RegExp(`^ *1 optim\\.bin +${shard.bytes} ${crc}$`, 'm'));
    const json = await spindle(['ckpt', 'show', DIR, '20', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ dir: DIR, ...(await checkpoints.load(20)) });
  });

  it('verify shows progress, and exits 1 naming the damaged shard; --all goes on past it', async () => {
    const ok = await spindle(['ckpt', 'verify', DIR, '--progress']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok: step 30: 4 shards, 5\.\d+ MiB, every CRC32C matches$/m);
    expect(ok.stderr).toContain(`verify ${DIR}`);
    expect(ok.stderr).toContain('4/4 shards');

    const path = `${DIR}/step-000000000020/rank-1/optim.bin`;
    const handle = await client.open(path, 'r+');
    const [byte] = await checkpoints.readShard(20, 1, 'optim.bin', { offset: 10, length: 1 });
    await handle.writeBytes(Buffer.from([byte! ^ 0xff]), 10);
    await handle.close();
    const bad = await spindle(['ckpt', 'verify', DIR, '20', '--no-progress']);
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stdout).toContain('shard rank-1/optim.bin of step 20 is damaged: CRC32C');
    expect(bad.stderr).toContain(`spindle: ${DIR}: damaged: rank-1/optim.bin of step 20 (EIO)`);

    const all = await spindle(['ckpt', 'verify', DIR, '--all', '--json']);
    expect(all.code, all.stderr).toBe(1);
    const report = JSON.parse(all.stdout);
    expect(report.steps.map((step: { step: number; ok: boolean }) => [step.step, step.ok])).toEqual([
      [10, true],
      [20, false],
      [30, true],
    ]);
    expect(report.steps[1].damaged).toHaveLength(1);
  });

  it('rm checks every STEP before removing any; a missing step exits 3 after removing the others', async () => {
    const usage = await spindle(['ckpt', 'rm', DIR, '20', 'x']);
    expect(usage.code, usage.stderr).toBe(2);
    expect(usage.stderr).toContain("STEP must be a whole number from 0 to 999999999999, got 'x'");
    expect(await checkpoints.list()).toEqual([10, 20, 30]);
    const missing = await spindle(['ckpt', 'rm', DIR, '20', '99']);
    expect(missing.code, missing.stderr).toBe(3);
    expect(missing.stdout).toBe('removed step 20\n');
    expect(missing.stderr).toContain('no committed step 99 (the others were removed)');
    expect(await checkpoints.list()).toEqual([10, 30]);
  });

  it('gc --dry-run changes nothing; gc applies retention and collects only the abandoned save', async () => {
    const before = await client.readdir(DIR);
    const dry = await spindle(['ckpt', 'gc', DIR, '--keep-last', '1', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('would remove step 10\n');
    expect(dry.stdout).toContain(`would collect ${DIR}/.step-000000000050.saving-dead (rank 0`);
    expect(dry.stdout).not.toContain('saving-live');
    expect(await client.readdir(DIR)).toEqual(before);

    const result = await spindle(['ckpt', 'gc', DIR, '--keep-last', '1', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const removed = JSON.parse(result.stdout);
    expect(removed).toMatchObject({ dryRun: false, removedSteps: [10] });
    expect(removed.collected.map((entry: { path: string }) => entry.path)).toEqual([
      `${DIR}/.step-000000000050.saving-dead`,
    ]);
    expect((await client.readdir(DIR)).sort()).toEqual(['.step-000000000040.saving-live', 'step-000000000030']);
    const again = await spindle(['ckpt', 'gc', DIR]);
    expect(again.stdout).toBe(`nothing to remove in ${DIR}\n`);
  });

  it('bad DIR, STEP or options: exit code and one line saying what is wrong; nothing changes', async () => {
    const cases: [string[], number, string][] = [
      [['ckpt', 'ls', '/cli-ck/missing'], 3, 'checkpoint directory /cli-ck/missing does not exist (ENOENT)'],
      [['ckpt', 'ls', '/cli-ck/file'], 5, '/cli-ck/file is not a directory'],
      [['ckpt', 'verify', '/cli-ck/other'], 5, '/cli-ck/other is not a checkpoint directory'],
      [['ckpt', 'show', DIR, 'abc'], 2, "STEP must be a whole number from 0 to 999999999999 or latest, got 'abc'"],
      // Checked before connecting: no cluster listens there.
      [
        ['ckpt', 'rm', DIR, 'x', '--meta', '127.0.0.1:1'],
        2,
        "STEP must be a whole number from 0 to 999999999999, got 'x'",
      ],
      [['ckpt', 'show', DIR, '99'], 3, `step 99 is not committed in ${DIR}`],
      [['ckpt', 'verify', DIR, '30', '--all'], 2, 'give a STEP or --all, not both'],
      [['ckpt', 'gc', DIR, '--keep-every', '2'], 2, '--keep-every needs --keep-last'],
      [['ckpt', 'gc', DIR, '--keep-last', '0'], 2, "must be a whole number of at least 1, got '0'"],
    ];
    const before = await client.readdir(DIR);
    for (const [args, code, message] of cases) {
      const result = await spindle(args);
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.code, args.join(' ')).toBe(code);
    }
    expect(await client.readdir(DIR)).toEqual(before);
    expect(await client.exists('/cli-ck/missing')).toBe(false);
    expect(await client.readdir('/cli-ck/other')).toEqual(['notes.txt']);
  });
});
