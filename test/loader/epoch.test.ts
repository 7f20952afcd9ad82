// The loader on a real cluster: an epoch read at world size 4, stopped at a random step and resumed
// at 3 and at 8, reads every sample exactly once with its bytes intact; and bad input is refused
// with a clear error that changes nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { DatasetWriter, type LoaderState, openLoader, resumeLoader } from '../../client/loader/index.js';
import { ErrorCode } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';
import { type PackedDataset, packRandom, range, step } from './support.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3, preset: 'test' });

const SAMPLES = 1200;
/** Divisible by 3, 4 and 8, and SAMPLES by it: every world size reads whole batches. */
const BATCH = 24;
const BATCHES = SAMPLES / BATCH;

let client: SpindleClient;
let dataset: PackedDataset;

beforeAll(async () => {
  client = await cluster().client();
  await client.mkdir('/datasets');
  dataset = await packRandom(client, '/datasets/train', SAMPLES);
}, 120_000);

async function loadersAt(worldSize: number, from: LoaderState | undefined, seed = 11) {
  return Promise.all(
    range(worldSize).map((rank) =>
      from === undefined
        ? openLoader(client, {
            dataset: dataset.path,
            seed,
            epoch: 3,
            rank,
            worldSize,
            batchSize: BATCH,
            lastBatch: 'drop',
            prefetchBytes: 256 * 1024,
          })
        : resumeLoader(client, from, { rank, worldSize, prefetchBytes: 256 * 1024 }),
    ),
  );
}

describe('an epoch over a packed dataset', () => {
  it.each([3, 8])(
    'stops at a random step at world size 4 and resumes at %i: every sample once',
    async (resumeAt) => {
      for (const stopAt of [0, 1 + Math.floor(Math.random() * (BATCHES - 2)), BATCHES - 1]) {
        const first = await loadersAt(4, undefined);
        expect(first.map((l) => l.batchCount)).toEqual([BATCHES, BATCHES, BATCHES, BATCHES]);
        const read: number[] = [];
        for (let k = 0; k < stopAt; k++) read.push(...(await step(dataset, first)));
        const states = first.map((l) => l.state());
        for (const s of states) expect(s).toEqual(states[0]); // every rank saves the same cursor
        await Promise.all(first.map((l) => l.close()));

        const resumed = await loadersAt(resumeAt, JSON.parse(JSON.stringify(states[0])));
        for (let k = stopAt; k < BATCHES; k++) read.push(...(await step(dataset, resumed)));
        expect(await Promise.all(resumed.map((l) => l.next()))).toEqual(new Array(resumeAt).fill(undefined));
        await Promise.all(resumed.map((l) => l.close()));
        expect(read.length, `stop at ${stopAt}`).toBe(SAMPLES);
        expect(new Set(read).size, `stop at ${stopAt}`).toBe(SAMPLES);
      }
    },
    120_000,
  );

  it('global batch k holds the same samples at world size 1 and 8; another epoch another order', async () => {
    const [one] = await loadersAt(1, undefined);
    const eight = await loadersAt(8, undefined);
    const batchOne = await step(dataset, [one]);
    expect(await step(dataset, eight)).toEqual(batchOne);
    await Promise.all([one, ...eight].map((l) => l.close()));
    const other = await openLoader(client, {
      dataset: dataset.path,
      seed: 11,
      epoch: 4,
      rank: 0,
      worldSize: 1,
      batchSize: BATCH,
      lastBatch: 'drop',
    });
    expect(await step(dataset, [other])).not.toEqual(batchOne);
    await other.close();
  }, 60_000);
});

describe('bad input', () => {
  const base = () => ({
    dataset: dataset.path,
    seed: 1,
    epoch: 0,
    rank: 0,
    worldSize: 2,
    batchSize: 8,
    lastBatch: 'pad' as const,
  });

  it.each([
    ['a rank >= the world size', { rank: 2 }, /rank must be an integer in \[0, 2\)/],
    ['batch size 0', { batchSize: 0 }, /batchSize must be an integer >= 1/],
    ['a batch size the world does not divide', { batchSize: 9 }, /not divisible by worldSize 2/],
    ['a relative dataset path', { dataset: 'datasets/train' }, /absolute path/],
    ['prefetchBytes 0', { prefetchBytes: 0 }, /prefetchBytes must be an integer >= 1/],
  ])('%s is INVALID_ARGUMENT naming the field', async (_, change, message) => {
    await expect(openLoader(client, { ...base(), ...change })).rejects.toMatchObject({
      errorCode: ErrorCode.INVALID_ARGUMENT,
      message: expect.stringMatching(message),
    });
  });

  it('a missing dataset is NOT_FOUND', async () => {
    await expect(openLoader(client, { ...base(), dataset: '/datasets/nope' })).rejects.toMatchObject({
      errorCode: ErrorCode.NOT_FOUND,
    });
  });

  it("a cursor of another dataset, or of this path's earlier pack, is refused", async () => {
    const other = await packRandom(client, '/datasets/other', 40, 100);
    const loader = await openLoader(client, { ...base(), dataset: other.path });
    await loader.next();
    const state = loader.state();
    await loader.close();
    await expect(
      resumeLoader(client, { ...state, dataset: dataset.path }, { rank: 0, worldSize: 1 }),
    ).rejects.toMatchObject({ errorCode: ErrorCode.INVALID_ARGUMENT, message: expect.stringMatching(/datasetId/) });

    await client.rm(other.path, { recursive: true });
    await packRandom(client, other.path, 40, 100); // same path, same size: another pack
    await expect(resumeLoader(client, state, { rank: 0, worldSize: 1 })).rejects.toMatchObject({
      errorCode: ErrorCode.INVALID_ARGUMENT,
      message: expect.stringMatching(/datasetId/),
    });
  }, 60_000);

  it('a dataset still being packed is FAILED_PRECONDITION, and appears once published', async () => {
    const writer = await DatasetWriter.create(client, '/datasets/packing');
    await writer.add(Buffer.from('only sample'));
    await expect(openLoader(client, { ...base(), dataset: '/datasets/packing' })).rejects.toMatchObject({
      errorCode: ErrorCode.FAILED_PRECONDITION,
      message: expect.stringMatching(/still being packed/),
    });
    await writer.publish();
    const loader = await openLoader(client, { ...base(), dataset: '/datasets/packing', worldSize: 1, batchSize: 1 });
    expect((await loader.next())?.samples[0].data.toString()).toBe('only sample');
    await loader.close();
  });

  it('a corrupt index page is DATA_CORRUPTED and the loader reads nothing wrong', async () => {
    const victim = await packRandom(client, '/datasets/victim', 50, 100);
    const handle = await client.open(`${victim.path}/index.bin`, 'r+');
    await handle.write(Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, 64 + 32 * 10);
    await handle.close();
    const loader = await openLoader(client, { ...base(), dataset: victim.path, worldSize: 1, batchSize: 10 });
    await expect(loader.next()).rejects.toMatchObject({ errorCode: ErrorCode.DATA_CORRUPTED });
    await loader.close();
  });

  it('after every refusal the dataset still reads whole', async () => {
    const [loader] = await loadersAt(1, undefined, 5);
    const read: number[] = [];
    for (let k = 0; k < BATCHES; k++) read.push(...(await step(dataset, [loader])));
    expect(new Set(read).size).toBe(SAMPLES);
    await loader.close();
  }, 60_000);
});
