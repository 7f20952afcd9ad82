// Helpers of the loader's cluster tests: a dataset packed with the client library whose samples
// are remembered by CRC, and a reader that checks every sample it gets against them.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { DatasetWriter, type DataLoader, type LoadedBatch } from '../../client/loader/index.js';

export interface PackedDataset {
  readonly path: string;
  /** Sample i's bytes. */
  readonly samples: Buffer[];
}

/** Packs `count` samples of 1 B to `maxBytes` (random) with keys `s<i>` into small shards. */
export async function packRandom(
  client: SpindleClient,
  path: string,
  count: number,
  maxBytes = 20_000,
): Promise<PackedDataset> {
  const writer = await DatasetWriter.create(client, path, { shardBytes: 2 * 1024 * 1024 });
  const samples: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const data = randomBytes(1 + Math.floor(Math.random() * maxBytes));
    samples.push(data);
    await writer.add(data, `s${i}`);
  }
  await writer.publish();
  return { path, samples };
}

/** Checks a batch's samples against the packed bytes and keys; returns their indices. */
export function checkBatch(dataset: PackedDataset, batch: LoadedBatch): number[] {
  for (const sample of batch.samples) {
    expect(sample.key).toBe(`s${sample.index}`);
    expect(sample.data.equals(dataset.samples[sample.index]), `sample ${sample.index} bytes`).toBe(true);
  }
  return batch.samples.map((s) => s.index);
}

/** Takes the next batch of each loader (one step of every rank); returns the indices read. */
export async function step(dataset: PackedDataset, loaders: readonly DataLoader[]): Promise<number[]> {
  const batches = await Promise.all(loaders.map((l) => l.next()));
  const read: number[] = [];
  for (const batch of batches) {
    expect(batch).toBeDefined();
    read.push(...checkBatch(dataset, batch as LoadedBatch));
  }
  return read;
}

/** [0, n) */
export const range = (n: number) => Array.from({ length: n }, (_, i) => i);
