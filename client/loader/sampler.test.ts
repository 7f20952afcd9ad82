import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/clock.js';
import type { LastBatchPolicy } from './global-batches.js';
import { Permutation } from './permutation.js';
import { EpochSampler, type EpochSamplerOptions } from './sampler.js';
import type { SamplerCursor } from './sampler-cursor.js';
import { expectInvalid } from './testing/expect-invalid.js';

const SIZES = [1, 2, 3, 7, 100, 1000, 4097];
const SEEDS = Array.from({ length: 200 }, (_, i) => i * 104729 + 3);

function epochOptions(
  datasetSize: number,
  batchSize: number,
  seed: number,
  lastBatch: LastBatchPolicy,
): Omit<EpochSamplerOptions, 'rank' | 'worldSize'> {
  return { datasetId: 'imagenet@v1', datasetSize, batchSize, seed, epoch: 2, lastBatch };
}

/** Global batches (sample indices) as the concatenation of every rank's slice, step by step. */
function globalBatches(options: Omit<EpochSamplerOptions, 'rank' | 'worldSize'>, worldSize: number): number[][] {
  const perRank = Array.from({ length: worldSize }, (_, rank) => [
    ...new EpochSampler({ ...options, rank, worldSize }).batches(),
  ]);
  const steps = perRank[0]!.length;
  expect(perRank.every((batches) => batches.length === steps)).toBe(true);
  expect(perRank.every((batches) => batches.every((batch, step) => batch.batchIndex === step))).toBe(true);
  return Array.from({ length: steps }, (_, step) => perRank.flatMap((batches) => [...batches[step]!.sampleIndices]));
}

describe('EpochSampler global batches', () => {
  it('hold the same samples at world sizes 1, 2, 4, 8 (B = 8) and 1, 3 (B = 12)', () => {
    for (const size of SIZES) {
      for (const seed of SEEDS.slice(0, 50)) {
        for (const lastBatch of ['drop', 'pad'] as const) {
          for (const [batchSize, worldSizes] of [
            [8, [2, 4, 8]],
            [12, [3]],
          ] as const) {
            if (lastBatch === 'drop' && batchSize > size) continue;
            const options = epochOptions(size, batchSize, seed, lastBatch);
            const single = globalBatches(options, 1);
            for (const worldSize of worldSizes) {
              expect(JSON.stringify(globalBatches(options, worldSize))).toBe(JSON.stringify(single));
            }
          }
        }
      }
    }
  });

  it('are consecutive runs of B permutation positions', () => {
    const options = epochOptions(1000, 8, 5, 'drop');
    const permutation = new Permutation(1000, 5, 2);
    const batches = globalBatches(options, 4);
    expect(batches.flat()).toEqual(Array.from({ length: 1000 }, (_, i) => permutation.at(i)));
  });

  it("number floor(N / B) with 'drop' and ceil(N / B) with 'pad', the same on every rank", () => {
    for (const [size, drop, pad] of [
      [100, 12, 13],
      [96, 12, 12],
      [8, 1, 1],
      [7, null, 1],
      [1, null, 1],
      [4097, 512, 513],
    ] as const) {
      for (let rank = 0; rank < 4; rank++) {
        const at = { rank, worldSize: 4 };
        if (drop !== null)
          expect(new EpochSampler({ ...epochOptions(size, 8, 1, 'drop'), ...at }).batchCount).toBe(drop);
        const padded = new EpochSampler({ ...epochOptions(size, 8, 1, 'pad'), ...at });
        expect(padded.batchCount).toBe(pad);
        expect([...padded.batches()]).toHaveLength(pad);
      }
    }
  });

  it("pad the last batch by wrapping to the epoch's first positions", () => {
    const sampler = new EpochSampler({ ...epochOptions(100, 8, 9, 'pad'), rank: 0, worldSize: 1 });
    const permutation = new Permutation(100, 9, 2);
    const last = sampler.batch(12);
    expect(last.positions).toEqual([96, 97, 98, 99, 0, 1, 2, 3]);
    expect(last.sampleIndices).toEqual(last.positions.map((p) => permutation.at(p)));
    const tiny = new EpochSampler({ ...epochOptions(3, 8, 9, 'pad'), rank: 1, worldSize: 2 });
    expect(tiny.batch(0).positions).toEqual([1, 2, 0, 1]);
  });

  it('rank slices are [r·B/w, (r+1)·B/w) of the batch', () => {
    const positions = [0, 1, 2].map(
      (rank) => new EpochSampler({ ...epochOptions(100, 12, 4, 'drop'), rank, worldSize: 3 }).batch(2).positions,
    );
    expect(positions).toEqual([
      [24, 25, 26, 27],
      [28, 29, 30, 31],
      [32, 33, 34, 35],
    ]);
  });
});

describe('EpochSampler cursor', () => {
  /** Reads `steps` batches on every rank of `worldSize`; returns the samples and the (common) cursor. */
  function readSteps(sampler: (rank: number) => EpochSampler, worldSize: number, steps: number) {
    const samples: number[] = [];
    const cursors: SamplerCursor[] = [];
    for (let rank = 0; rank < worldSize; rank++) {
      const s = sampler(rank);
      const batches = s.batches();
      for (let step = 0; step < steps; step++) {
        const next = batches.next();
        if (next.done) break;
        samples.push(...next.value.sampleIndices);
      }
      cursors.push(s.state());
    }
    for (const cursor of cursors) expect(cursor).toEqual(cursors[0]);
    return { samples, cursor: JSON.parse(JSON.stringify(cursors[0])) as SamplerCursor };
  }

  it('resumes a w = 4 epoch at w = 3 and w = 8 with every sample read once', () => {
    const rng = createRng(20240611);
    for (const size of [24, 100, 1000, 4097]) {
      for (const seed of SEEDS.slice(0, 40)) {
        for (const lastBatch of ['drop', 'pad'] as const) {
          const options = epochOptions(size, 24, seed, lastBatch);
          const start = new EpochSampler({ ...options, rank: 0, worldSize: 4 });
          const stopAt = rng.nextInt(start.batchCount + 1);
          const before = readSteps((rank) => new EpochSampler({ ...options, rank, worldSize: 4 }), 4, stopAt);
          expect(before.cursor.nextBatch).toBe(stopAt);
          for (const worldSize of [3, 8]) {
            const dataset = { datasetId: options.datasetId, datasetSize: size, worldSize };
            const after = readSteps((rank) => EpochSampler.resume(before.cursor, { ...dataset, rank }), worldSize, 1e9);
            expect(after.cursor.nextBatch).toBe(start.batchCount);
            const read = [...before.samples, ...after.samples].sort((a, b) => a - b);
            const permutation = new Permutation(size, seed, 2);
            const expected =
              lastBatch === 'drop'
                ? Array.from({ length: Math.floor(size / 24) * 24 }, (_, p) => permutation.at(p))
                : Array.from({ length: start.batchCount * 24 }, (_, p) => permutation.at(p % size));
            expect(read).toEqual(expected.sort((a, b) => a - b));
            if (lastBatch === 'drop') expect(new Set(read).size).toBe(read.length);
          }
        }
      }
    }
  });

  it('records the next global batch once a batch is handed out', () => {
    const sampler = new EpochSampler({ ...epochOptions(100, 8, 1, 'drop'), rank: 1, worldSize: 2 });
    expect(sampler.state().nextBatch).toBe(0);
    const batches = sampler.batches();
    batches.next();
    batches.next();
    expect(sampler.state()).toEqual({ ...epochOptions(100, 8, 1, 'drop'), nextBatch: 2 });
    expect(
      EpochSampler.resume(sampler.state(), { datasetId: 'imagenet@v1', datasetSize: 100, rank: 0, worldSize: 1 })
        .batches()
        .next().value?.batchIndex,
    ).toBe(2);
  });
});

describe('EpochSampler arguments', () => {
  const valid = { ...epochOptions(100, 8, 1, 'drop'), rank: 0, worldSize: 4 };
  const make = (patch: Record<string, unknown>) => () =>
    new EpochSampler({ ...valid, ...patch } as EpochSamplerOptions);

  it('rejects each bad option with a message naming the field', () => {
    expectInvalid(make({ rank: 4 }), 'rank');
    expectInvalid(make({ rank: -1 }), 'rank');
    expectInvalid(make({ rank: 0.5 }), 'rank');
    expectInvalid(make({ worldSize: 0 }), 'worldSize');
    expectInvalid(make({ worldSize: 2.5 }), 'worldSize');
    expectInvalid(make({ batchSize: 0 }), 'batchSize');
    expectInvalid(make({ batchSize: 10 }), 'batchSize 10 is not divisible by worldSize 4');
    expectInvalid(make({ batchSize: 104 }), 'batchSize 104 exceeds datasetSize 100');
    expectInvalid(make({ datasetSize: 0 }), 'datasetSize');
    expectInvalid(make({ datasetSize: -5 }), 'datasetSize');
    expectInvalid(make({ seed: -1 }), 'seed');
    expectInvalid(make({ seed: 1.5 }), 'seed');
    expectInvalid(make({ epoch: -1 }), 'epoch');
    expectInvalid(make({ epoch: '1' }), 'epoch');
    expectInvalid(make({ lastBatch: 'keep' }), 'lastBatch');
    expectInvalid(make({ datasetId: 7 }), 'datasetId');
    expectInvalid(make({ nextBatch: 13 }), 'nextBatch');
    expectInvalid(make({ nextBatch: -1 }), 'nextBatch');
    expectInvalid(() => new EpochSampler(valid).batch(12), 'batchIndex');
  });

  it('rejects a cursor of another dataset, a malformed cursor or a bad placement', () => {
    const cursor = new EpochSampler(valid).state();
    const at = { datasetId: 'imagenet@v1', datasetSize: 100, rank: 0, worldSize: 4 };
    const resume =
      (c: unknown, patch: Record<string, unknown> = {}) =>
      () =>
        EpochSampler.resume(c as SamplerCursor, { ...at, ...patch });
    expect(resume(cursor)().batchCount).toBe(12);
    expectInvalid(resume(cursor, { datasetId: 'imagenet@v2' }), 'datasetId');
    expectInvalid(resume(cursor, { datasetSize: 101 }), 'datasetSize');
    expectInvalid(resume({ ...cursor, nextBatch: 13 }), 'cursor.nextBatch');
    expectInvalid(resume({ ...cursor, nextBatch: -2 }), 'cursor.nextBatch');
    expectInvalid(resume({ ...cursor, seed: -1 }), 'seed');
    expectInvalid(resume({ ...cursor, lastBatch: undefined }), 'lastBatch');
    expectInvalid(resume(null), 'cursor');
    expectInvalid(resume(cursor, { worldSize: 3 }), 'batchSize 8 is not divisible by worldSize 3');
    expectInvalid(resume(cursor, { rank: 4 }), 'rank');
  });
});
