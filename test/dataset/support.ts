// Helpers of the dataset tests: deterministic sample bytes, packing a list of samples, reading a
// whole dataset back, and the expected-error assertion.
import { expect } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import {
  DatasetWriter,
  type DatasetWriterOptions,
  openDataset,
  type OpenDatasetOptions,
} from '../../client/loader/index.js';
import { type ErrorCode, isSpindleError } from '../../common/errors.js';

export interface TestSample {
  readonly data: Buffer;
  readonly key?: string;
}

/** Bytes of sample `i` of `length` (different for every sample and position). */
export function sampleBytes(i: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let at = 0; at < length; at++) bytes[at] = (at * 31 + i * 7 + (at >> 8)) & 0xff;
  return bytes;
}

export async function packSamples(
  client: SpindleClient,
  dest: string,
  samples: readonly TestSample[],
  options: DatasetWriterOptions = {},
) {
  const writer = await DatasetWriter.create(client, dest, options);
  for (const sample of samples) await writer.add(sample.data, sample.key);
  return writer.publish();
}

/** Every sample of the dataset at `path`, read through openDataset: bytes and key. */
export async function readAll(
  client: SpindleClient,
  path: string,
  options: OpenDatasetOptions = {},
): Promise<TestSample[]> {
  const dataset = await openDataset(client, path, options);
  try {
    const indices = Array.from({ length: dataset.size }, (_, i) => i);
    const entries = await dataset.entries(indices);
    const keys = await dataset.keys(entries);
    const samples: TestSample[] = [];
    for (const [i, entry] of entries.entries()) {
      const data = Buffer.alloc(entry.length);
      const read = await (await dataset.shard(entry.shard)).readAt(entry.offset, data);
      expect(read).toBe(entry.length);
      samples.push(keys[i] === undefined ? { data } : { data, key: keys[i] });
    }
    return samples;
  } finally {
    await dataset.close();
  }
}

/** Awaits `promise` and asserts it failed with `code` and a message containing every `parts`. */
export async function expectError(promise: Promise<unknown>, code: ErrorCode, ...parts: string[]): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (!isSpindleError(err, code)) throw err;
    for (const part of parts) expect((err as Error).message).toContain(part);
    return err as Error;
  }
  return expect.fail(`expected error code ${code}`);
}
