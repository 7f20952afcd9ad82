// Checkpoint retention and concurrent saves against a real cluster:
// - over 20 saves with keepLast 3 and keepEvery 5, after every save list() is exactly the newest 3
//   steps plus the multiples of 5, and nothing else is left in DIR;
// - two saves of the same step with different saveIds, from two clients (2 ranks each), finishing
//   at the same moment: exactly one commits, the other fails with EXISTS naming the winner, its
//   staging is removed; beginning a committed step again is EXISTS; a rank beginning the same save
//   twice is FAILED_PRECONDITION.
import { describe, expect, it } from 'vitest';
import { type CheckpointSave, openCheckpoints } from '../../client/index.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';
import { shardBytes } from './support.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, targetsPerNode: 3 });

/** What retention must leave of the steps saved so far (ascending): the newest keepLast, and multiples of keepEvery. */
function expectedKept(saved: number[], keepLast: number, keepEvery: number): number[] {
  return saved.filter((step, index) => index >= saved.length - keepLast || step % keepEvery === 0);
}

describe('checkpoint retention and concurrent saves', () => {
  it('keeps exactly keepLast + multiples of keepEvery after each of 20 saves', async () => {
    const client = await cluster().client();
    const checkpoints = await openCheckpoints(client, '/ck-retention', { keepLast: 3, keepEvery: 5 });
    const saved: number[] = [];
    for (let step = 1; step <= 20; step++) {
      const saves = [];
      for (const rank of [0, 1]) saves.push(await checkpoints.begin(step, { worldSize: 2, rank }));
      for (const save of saves) await save.writeShard('w.bin', Buffer.from(`step ${step} rank ${save.rank}`));
      const results = [];
      for (const save of saves) results.push(await save.finish());
      const keptBefore = expectedKept(saved, 3, 5);
      saved.push(step);
      const kept = expectedKept(saved, 3, 5);
      expect(await checkpoints.list(), `after saving step ${step}`).toEqual(kept);
      // The committer (the last rank to finish) deleted exactly what fell out of the kept set.
      expect(results[0]).toMatchObject({ committed: false, deletedSteps: [] });
      expect(results[1]!.deletedSteps, `deleted after step ${step}`).toEqual(
        keptBefore.filter((old) => !kept.includes(old)),
      );
      expect((await client.readdir('/ck-retention')).length).toBe(kept.length);
    }
    expect(await checkpoints.list()).toEqual([5, 10, 15, 18, 19, 20]);
    for (const step of [5, 18, 20]) await checkpoints.verify(step);
  }, 600_000);

  it('two saves of one step finishing at once: one commits, the other fails with EXISTS naming it', async () => {
    const c = cluster();
    const [clientA, clientB] = [await c.client(), await c.client()];
    const dir = '/ck-concurrent';
    const a = await openCheckpoints(clientA, dir);
    const b = await openCheckpoints(clientB, dir);
    const begin = async (checkpoints: typeof a, saveId: string): Promise<CheckpointSave[]> => {
      const saves = [];
      for (const rank of [0, 1]) {
        const save = await checkpoints.begin(7, { worldSize: 2, rank, saveId });
        await save.writeShard('w.bin', shardBytes(7, rank, saveId));
        saves.push(save);
      }
      return saves;
    };
    const [savesA, savesB] = [await begin(a, 'alpha'), await begin(b, 'beta')];
    // Rank 0 of each first (nothing to commit yet), then both last ranks at the same moment.
    expect(await savesA[0]!.finish()).toMatchObject({ committed: false });
    expect(await savesB[0]!.finish()).toMatchObject({ committed: false });
    const [first, second] = await Promise.allSettled([savesA[1]!.finish(), savesB[1]!.finish()]);
    const outcomes = [first, second];
    const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    const winner = outcomes[0]!.status === 'fulfilled' ? 'alpha' : 'beta';
    const loser = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
    expect(isSpindleError(loser.reason, ErrorCode.EXISTS), String(loser.reason)).toBe(true);
    expect((loser.reason as Error).message).toContain(`save ${winner}`);
    expect((await a.load(7)).saveId).toBe(winner);
    await a.verify(7);
    expect(await clientA.readdir(dir)).toEqual(['step-000000000007']);

    // A committed step cannot be begun again; one rank cannot begin the same save twice.
    const refused = await a.begin(7, { worldSize: 2, rank: 0, saveId: 'gamma' }).catch((err: unknown) => err);
    expect(isSpindleError(refused, ErrorCode.EXISTS), String(refused)).toBe(true);
    expect((refused as Error).message).toContain(`save ${winner}`);
    await a.begin(8, { worldSize: 2, rank: 0, saveId: 'delta' });
    const twice = await b.begin(8, { worldSize: 2, rank: 0, saveId: 'delta' }).catch((err: unknown) => err);
    expect(isSpindleError(twice, ErrorCode.FAILED_PRECONDITION), String(twice)).toBe(true);
    expect((twice as Error).message).toContain('already began');
  }, 300_000);
});
