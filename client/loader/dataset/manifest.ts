// Reading a dataset's manifest.json and small whole files of a dataset.
//
// Guarantees: readManifest returns a manifest whose numbers agree with each other (shard files
// named in order, per-shard counts adding up to the totals, index size matching the sample count)
// or throws: INVALID_ARGUMENT when the directory is not a dataset, FAILED_PRECONDITION for a
// format version this code does not read, DATA_CORRUPTED (naming the file) for anything malformed.
import { posix } from 'node:path';
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import type { SpindleClient } from '../../spindle-client.js';
import { MANIFEST_BYTES_MAX } from './constants.js';
import {
  DATASET_FORMAT,
  DATASET_FORMAT_VERSION,
  type DatasetManifest,
  INDEX_ENTRY_BYTES,
  INDEX_HEADER_BYTES,
  MANIFEST_FILE,
  type ShardInfo,
  corrupt,
  shardFileName,
} from './format.js';

/** The whole of a small file; DATA_CORRUPTED when it is longer than `bytesMax`. */
export async function readSmallFile(
  client: SpindleClient,
  path: string,
  bytesMax: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  const handle = await client.open(path, 'r');
  try {
    if (handle.size > bytesMax) throw corrupt(path, `is ${handle.size} bytes; at most ${bytesMax} expected`);
    return await handle.readFile({ signal });
  } finally {
    await handle.close();
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Checks the manifest's structure and arithmetic; `where` names the file in errors. */
function parseManifest(text: string, dir: string): DatasetManifest {
  const where = posix.join(dir, MANIFEST_FILE);
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw corrupt(where, 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || value.format !== DATASET_FORMAT) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${dir} is not a dataset: its ${MANIFEST_FILE} does not say format "${DATASET_FORMAT}"`,
    );
  }
  if (value.formatVersion !== DATASET_FORMAT_VERSION) {
    throw new SpindleError(
      ErrorCode.FAILED_PRECONDITION,
      `${dir} has dataset format version ${String(value.formatVersion)}; this Spindle reads version ` +
        `${DATASET_FORMAT_VERSION}: use the Spindle that packed it, or re-pack it`,
    );
  }
  const manifest = value as unknown as DatasetManifest;
  const bad = (what: string) => corrupt(where, what);
  if (typeof manifest.id !== 'string' || manifest.id === '') throw bad('has no id');
  if (typeof manifest.createdAt !== 'string') throw bad('has no createdAt');
  if (!isCount(manifest.samples) || !isCount(manifest.bytes)) throw bad('has no whole samples and bytes counts');
  if (!Array.isArray(manifest.shards)) throw bad('has no shard list');
  let samples = 0;
  let bytes = 0;
  for (const [n, shard] of (manifest.shards as ShardInfo[]).entries()) {
    if (shard?.file !== shardFileName(n) || !isCount(shard.bytes) || !isCount(shard.samples)) {
      throw bad(`has a malformed entry for shard ${n} (expected { file: "${shardFileName(n)}", bytes, samples })`);
    }
    samples += shard.samples;
    bytes += shard.bytes;
  }
  if (samples !== manifest.samples || bytes !== manifest.bytes) {
    throw bad(
      `lists shards of ${samples} samples and ${bytes} bytes but says ${manifest.samples} and ${manifest.bytes}`,
    );
  }
  const indexBytes = INDEX_HEADER_BYTES + manifest.samples * INDEX_ENTRY_BYTES;
  const pageEntries = manifest.index?.pageEntries;
  if (manifest.index?.bytes !== indexBytes || !isCount(pageEntries) || pageEntries === 0) {
    throw bad(`has a malformed index entry (expected { bytes: ${indexBytes}, pageEntries > 0 })`);
  }
  if (!isCount(manifest.keys?.bytes)) throw bad('has a malformed keys entry (expected { bytes })');
  if (
    manifest.sampleEncoding !== undefined &&
    manifest.sampleEncoding !== 'raw' &&
    manifest.sampleEncoding !== 'parts'
  ) {
    throw bad(`has an unknown sampleEncoding ${JSON.stringify(manifest.sampleEncoding)}`);
  }
  return manifest;
}

/** The manifest of the dataset in `dir` (see parseManifest). */
export async function readManifest(client: SpindleClient, dir: string, signal?: AbortSignal): Promise<DatasetManifest> {
  const text = await readSmallFile(client, posix.join(dir, MANIFEST_FILE), MANIFEST_BYTES_MAX, signal);
  return parseManifest(text.toString('utf8'), dir);
}
