// Checkpoints while meta is killed during the commit, with real processes: 4 rank processes write
// their shards; 3 finish (nothing committed yet); the last one is released, prints 'finishing' just
// before finish() — which writes its part, reads every part, creates manifest.json and renames the
// staging directory — and meta is killed with SIGKILL after a different delay each round, then
// restarted (at once, or after the client's retry deadline has passed). Shows, every round:
// - the last rank's finish ends (no hang): committed, or a clear Spindle error;
// - the step is fully committed (listed, manifest complete, every shard verifies) or absent from
//   list(); every step directory in DIR has a complete manifest;
// and afterwards a save of a later step commits and collects the staging leftovers. Also: the
// collector removes a save whose every rank finished and exited but whose commit failed, and keeps
// one with a rank still alive.
// Timings are printed as one JSON line (`checkpoint-fault-timings`) for docs/checkpoints.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpindleClient, openCheckpoints } from '../../client/index.js';
import {
  MANIFEST_FILE,
  ownerFileName,
  parseStepDirName,
  partFileName,
  stagingDirName,
} from '../../client/checkpoints/format.js';
import { useCluster } from '../harness/cluster.js';
import { shardBytes, rankOutcome, startRank } from './support.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 3 });
const live = new Set<ChildProcess>();
let client: SpindleClient;

beforeAll(async () => {
  client = await cluster().client();
});

afterAll(() => {
  for (const child of live) child.kill('SIGKILL');
});

const DIR = '/ck-meta';
const RANKS = [0, 1, 2, 3];
/** Kill delays after 'finishing', in ms, and how long meta stays down (12 s: past the 10 s retry deadline). */
const ROUNDS = [
  { delayMs: 0, downMs: 0 },
  { delayMs: 5, downMs: 0 },
  { delayMs: 15, downMs: 0 },
  { delayMs: 30, downMs: 0 },
  { delayMs: 60, downMs: 0 },
  { delayMs: 120, downMs: 0 },
  { delayMs: 10, downMs: 12_000 },
];
/** A finish still running this long after meta came back is a hang. */
const FINISH_BOUND_MS = 120_000;

/** Every step directory in DIR has a complete manifest and verifies; returns the listed steps. */
async function expectOnlyCompleteSteps(): Promise<number[]> {
  const checkpoints = await openCheckpoints(client, DIR);
  const listed = await checkpoints.list();
  const stepDirs = (await client.readdir(DIR)).map(parseStepDirName).filter((step) => step !== undefined);
  expect(stepDirs.sort((a, b) => a - b)).toEqual(listed);
  for (const step of listed) {
    const manifest = await checkpoints.verify(step);
    expect(manifest.worldSize === 1 ? manifest.shards.length : manifest.shards.length / 2).toBe(manifest.worldSize);
  }
  return listed;
}

describe('checkpoints while meta is killed during a commit', () => {
  it('the step is fully committed or absent, and the last rank never hangs', async () => {
    const c = cluster();
    const rounds: Record<string, unknown>[] = [];
    for (const [index, round] of ROUNDS.entries()) {
      const step = 100 + index;
      const ranks = RANKS.map((rank) =>
        startRank(c.metaAddress, { dir: DIR, step, worldSize: 4, rank, saveId: `m${index}`, mode: 'gate' }, live),
      );
      await Promise.all(ranks.map((rank) => rank.printed('written')));
      for (const rank of ranks.slice(0, 3)) rank.send('finish');
      for (const exit of await Promise.all(ranks.slice(0, 3).map((rank) => rank.exited))) {
        expect(rankOutcome(exit.stdout)).toMatchObject({ ok: true, result: { committed: false } });
      }
      const last = ranks[3]!;
      last.send('finish');
      await last.printed('finishing');
      const finishingMs = performance.now();
      await sleep(round.delayMs);
      // finish() had not returned when meta died (it prints its result before exiting).
      const inFlightAtKill = last.output().trim().split('\n').at(-1) === 'finishing';
      await c.killMeta();
      const killedMs = performance.now();
      if (round.downMs > 0) await sleep(round.downMs);
      await c.restartMeta();
      const restartedMs = performance.now();
      const exit = await Promise.race([
        last.exited,
        sleep(FINISH_BOUND_MS).then(() => {
          throw new Error(`rank 3 of round ${index} still finishing ${FINISH_BOUND_MS} ms after meta restarted`);
        }),
      ]);
      const outcome = rankOutcome(exit.stdout);
      const listed = await expectOnlyCompleteSteps();
      if (outcome.ok) {
        expect(outcome.result).toMatchObject({ committed: true, committer: true });
        expect(listed).toContain(step);
      } else {
        expect(outcome.code, outcome.message).not.toBe('NOT_A_SPINDLE_ERROR');
        expect(outcome.message.length).toBeGreaterThan(20);
      }
      if (listed.includes(step)) {
        const checkpoints = await openCheckpoints(client, DIR);
        expect((await checkpoints.readShard(step, 2, 'optim.bin')).equals(shardBytes(step, 2, 'optim.bin'))).toBe(true);
      }
      rounds.push({
        delayMs: round.delayMs,
        metaDownS: (restartedMs - killedMs) / 1000,
        outcome: outcome.ok ? 'committed' : outcome.code,
        inFlightAtKill,
        stepListed: listed.includes(step),
        finishS: (performance.now() - finishingMs) / 1000,
        ...(outcome.ok ? {} : { error: outcome.message.slice(0, 200) }),
      });
    }

    // The kill landed inside finish() at least once (on a loaded machine: every round).
    expect(rounds.filter((round) => round.inFlightAtKill).length).toBeGreaterThan(0);

    // A later save commits and collects every leftover staging dir: the rank processes are gone.
    const checkpoints = await openCheckpoints(client, DIR);
    const save = await checkpoints.begin(200, { worldSize: 1, rank: 0 });
    await save.writeShard('model.bin', shardBytes(200, 0, 'model.bin'));
    expect(await save.finish()).toMatchObject({ committed: true });
    expect((await client.readdir(DIR)).filter((entry) => entry.startsWith('.'))).toEqual([]);
    expect(await expectOnlyCompleteSteps()).toContain(200);
    console.log(JSON.stringify({ 'checkpoint-fault-timings': 'meta-kill-during-commit', rounds }));
  }, 900_000);

  it('collects a save whose every rank finished and exited but whose commit failed, not a live one', async () => {
    const dir = '/ck-failed-commit';
    const checkpoints = await openCheckpoints(client, dir);
    // What a commit that failed after every part was written leaves: parts, owners, a manifest.
    const exited = spawn(process.execPath, ['-e', '']);
    const deadPid = exited.pid!;
    await once(exited, 'exit');
    const stage = async (saveId: string, pids: number[]) => {
      const path = posix.join(dir, stagingDirName(5, saveId));
      await client.mkdir(path);
      for (const [rank, pid] of pids.entries()) {
        const owner = { host: hostname(), pid, startedAt: new Date().toISOString() };
        await client.writeFile(posix.join(path, ownerFileName(rank)), JSON.stringify(owner));
        const part = { saveId, step: 5, worldSize: pids.length, rank, shards: [] };
        await client.writeFile(posix.join(path, partFileName(rank)), JSON.stringify(part));
      }
      await client.writeFile(posix.join(path, MANIFEST_FILE), '{}');
      return path;
    };
    const failed = await stage('failed', [deadPid, deadPid]);
    const live = await stage('live', [deadPid, process.pid]);
    const collected = await checkpoints.collectAbandoned();
    expect(collected).toEqual([{ path: failed, reason: expect.stringContaining('commit did not happen') }]);
    expect(await client.readdir(dir)).toEqual([posix.basename(live)]);
    expect(await checkpoints.list()).toEqual([]);
  });
});
