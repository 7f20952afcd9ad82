// The loader's pipeline on an in-memory dataset: order, bytes, the prefetch bound, the cursor and
// close. The real thing (a packed dataset on a cluster, a node killed mid-epoch, resume at another
// world size) is in test/loader/.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.js';
import { DataLoader, type LoadedBatch, PREFETCH_READS_MAX } from './loader.js';
import { EpochSampler } from './sampler.js';
import { memoryDataset } from './testing/memory-dataset.js';

const turns = (n: number) => new Promise<void>((resolve) => setTimeout(resolve, n));

function samplerFor(size: number, id: string, extra: Partial<ConstructorParameters<typeof EpochSampler>[0]> = {}) {
  return new EpochSampler({
    datasetId: id,
    datasetSize: size,
    seed: 7,
    epoch: 0,
    rank: 0,
    worldSize: 1,
    batchSize: 10,
    lastBatch: 'pad',
    ...extra,
  });
}

describe('DataLoader', () => {
  it('hands out every batch in order with the right bytes and keys', async () => {
    const lengths = Array.from({ length: 95 }, (_, i) => 100 + ((i * 37) % 900));
    const mem = memoryDataset(lengths);
    const loader = new DataLoader(mem.dataset, samplerFor(95, 'memory-dataset'), 1 << 20);
    const seen: number[] = [];
    let expected = 0;
    for await (const batch of loader) {
      expect(batch.batchIndex).toBe(expected++);
      for (const sample of batch.samples) {
        expect(sample.data.equals(mem.sample(sample.index))).toBe(true);
        expect(sample.key).toBe(`k${sample.index}`);
        seen.push(sample.index);
      }
    }
    expect(expected).toBe(10);
    expect(new Set(seen).size).toBe(95); // the pad batch repeats 5 from the start
    expect(seen.length).toBe(100);
  });

  it('never holds more than prefetchBytes of unconsumed samples, yet reads ahead', async () => {
    // Samples longer than MERGE_GAP_BYTES: range reads hold exactly the batch's sample bytes.
    const mem = memoryDataset(new Array(400).fill(5000));
    const prefetchBytes = 175_000; // three and a half batches of 10 × 5000 bytes
    const loader = new DataLoader(mem.dataset, samplerFor(400, 'memory-dataset'), prefetchBytes);
    let handedOut = 0;
    let mostAhead = 0;
    for (let step = 0; step < 40; step++) {
      const batch = (await loader.next()) as LoadedBatch;
      handedOut += batch.samples.reduce((sum, s) => sum + s.data.length, 0);
      await turns(2); // a slow consumer: the producer has time to run ahead
      mostAhead = Math.max(mostAhead, mem.stats.bytesRead - handedOut, loader.prefetchedBytes);
    }
    expect(mostAhead).toBeLessThanOrEqual(prefetchBytes);
    expect(mostAhead).toBeGreaterThanOrEqual(150_000);
    expect(await loader.next()).toBeUndefined();
  });

  it('never has more than PREFETCH_READS_MAX range reads ahead, however large prefetchBytes is', async () => {
    const mem = memoryDataset(new Array(6000).fill(5000)); // 5000 > MERGE_GAP_BYTES: few merges
    const loader = new DataLoader(mem.dataset, samplerFor(6000, 'memory-dataset', { batchSize: 100 }), 1 << 30);
    let mostReads = 0;
    for (let step = 0; step < 30; step++) {
      await loader.next();
      await turns(2);
      mostReads = Math.max(mostReads, loader.prefetchedReads);
    }
    expect(mostReads).toBeLessThanOrEqual(PREFETCH_READS_MAX);
    expect(mostReads).toBeGreaterThan(PREFETCH_READS_MAX - 200);
    await loader.close();
  });

  it('state() after k batches resumes with the rest of the epoch', async () => {
    const mem = memoryDataset(new Array(100).fill(64));
    const first = new DataLoader(mem.dataset, samplerFor(100, 'memory-dataset'), 1 << 16);
    const seen: number[] = [];
    for (let k = 0; k < 4; k++) seen.push(...((await first.next()) as LoadedBatch).samples.map((s) => s.index));
    const state = first.state();
    expect(state).toMatchObject({ dataset: '/memory', datasetId: 'memory-dataset', nextBatch: 4 });
    await first.close();
    const resumed = new DataLoader(
      mem.dataset,
      EpochSampler.resume(state, { rank: 0, worldSize: 1, datasetId: 'memory-dataset', datasetSize: 100 }),
      1 << 16,
    );
    for await (const batch of resumed) seen.push(...batch.samples.map((s) => s.index));
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('close() stops reading ahead and a later next() is CANCELLED', async () => {
    const mem = memoryDataset(new Array(1000).fill(100));
    const controller = new AbortController();
    const loader = new DataLoader(mem.dataset, samplerFor(1000, 'memory-dataset'), 5000, controller.signal);
    await loader.next();
    controller.abort();
    await loader.close(); // the close the abort started: resolves once no read is in flight
    const readAtClose = mem.stats.bytesRead;
    await turns(20);
    expect(mem.stats.bytesRead).toBe(readAtClose);
    await expect(loader.next()).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
  });
});
