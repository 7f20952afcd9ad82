// `spindle dataset pack`: reads a source's samples into a DatasetWriter and publishes the dataset,
// with a progress bar of the source bytes read on stderr.
//
// Guarantees: the dataset appears at DEST whole or not at all — any failure, a refused sample or
// Ctrl-C aborts the writer, which removes its staging directory (a kill -9 leaves it for the next
// pack or `spindle dataset rm` to collect). A refused sample's error names where it came from.
import { basename } from 'node:path';
import type { SpindleClient } from '../../client/spindle-client.js';
import { DatasetWriter } from '../../client/loader/dataset/dataset-writer.js';
import type { DatasetManifest } from '../../client/loader/dataset/format.js';
import type { StagingDir } from '../../client/loader/dataset/staging.js';
import { ErrorCode, SpindleError, isSpindleError } from '../../common/errors.js';
import { formatBytes } from '../format.js';
import { createProgress } from '../progress.js';
import { usageError } from './local-files.js';
import type { PackSource } from './source.js';

export interface PackOptions {
  readonly shardBytes?: number;
  /** --progress / --no-progress (undefined: when stderr is a terminal). */
  readonly progress?: boolean;
  readonly signal: AbortSignal;
  /** Where the collected staging directories are reported. */
  readonly onCollected: (dir: StagingDir) => void;
}

export async function packSource(
  client: SpindleClient,
  source: PackSource,
  dest: string,
  options: PackOptions,
): Promise<DatasetManifest> {
  const startedMs = performance.now();
  let writer: DatasetWriter | undefined;
  const progress = createProgress({
    progress: options.progress,
    label: `pack ${basename(source.path)}`,
    totalBytes: source.totalBytes,
    detail: () => `${(writer?.samples ?? 0).toLocaleString('en-US')} samples`,
  });
  let manifest: DatasetManifest;
  try {
    writer = await DatasetWriter.create(client, dest, {
      shardBytes: options.shardBytes,
      source: { kind: source.kind, path: source.path },
      sampleEncoding: source.encoding,
      signal: options.signal,
    });
    for (const dir of writer.collected) options.onCollected(dir);
    for await (const sample of source.samples((bytes) => progress.add(bytes), options.signal)) {
      try {
        await writer.add(sample.data, sample.key);
      } catch (err) {
        if (!isSpindleError(err, ErrorCode.INVALID_ARGUMENT)) throw err;
        throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${sample.where}: ${err.message}`, { cause: err });
      }
    }
    if (writer.samples === 0) throw usageError(`${source.path} holds no samples: nothing to pack`);
    manifest = await writer.publish();
  } catch (err) {
    await writer?.abort();
    throw err;
  } finally {
    progress.stop();
  }
  if (options.progress === true || (options.progress === undefined && process.stderr.isTTY)) {
    const seconds = Math.max((performance.now() - startedMs) / 1000, 0.001);
    process.stderr.write(
      `packed ${manifest.samples} samples (${formatBytes(manifest.bytes)}) into ${manifest.shards.length} ` +
        `shard(s) in ${seconds.toFixed(1)} s (${formatBytes(manifest.bytes / seconds)}/s)\n`,
    );
  }
  return manifest;
}
