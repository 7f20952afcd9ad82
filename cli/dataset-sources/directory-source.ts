// A directory as a pack source: one sample per regular file under it (recursively), in sorted
// relative-path order, keyed by that relative path ('train/cat/001.jpg').
//
// Guarantees: samples come in listRegularFiles order with the files' exact bytes; files are read
// ahead of the writer, at most DIRECTORY_READ_AHEAD_BYTES (or one file) at a time; a file that
// cannot be read, or is larger than a sample may be, stops the pack with an error naming it.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { SAMPLE_BYTES_MAX } from '../../client/loader/dataset/constants.js';
import { listRegularFiles, localError, usageError } from './local-files.js';
import type { PackSource, SourceSample } from './source.js';

/** File bytes read ahead of the writer: overlaps local reads with writes to the cluster. */
const DIRECTORY_READ_AHEAD_BYTES = 64 * 1024 * 1024;

export async function directorySource(root: string, signal: AbortSignal): Promise<PackSource> {
  const files = await listRegularFiles(root, signal);
  for (const file of files) {
    if (file.size > SAMPLE_BYTES_MAX) {
      throw usageError(`${join(root, file.relative)} is ${file.size} bytes; a sample is at most ${SAMPLE_BYTES_MAX}`);
    }
  }
  return {
    kind: 'dir',
    path: root,
    encoding: 'raw',
    totalBytes: files.reduce((sum, file) => sum + file.size, 0),
    async *samples(onBytesRead, signal) {
      const reads: { sample: Promise<SourceSample>; size: number }[] = [];
      let readAheadBytes = 0;
      let next = 0;
      const startRead = () => {
        const file = files[next++]!;
        const path = join(root, file.relative);
        const sample = fsp.readFile(path, { signal }).then(
          (data) => ({ data, key: file.relative, where: path }),
          (err: unknown) => {
            throw signal.aborted ? err : localError(path, err);
          },
        );
        sample.catch(() => undefined); // reported when its turn comes
        reads.push({ sample, size: file.size });
        readAheadBytes += file.size;
      };
      while (next < files.length || reads.length > 0) {
        while (next < files.length && (reads.length === 0 || readAheadBytes < DIRECTORY_READ_AHEAD_BYTES)) startRead();
        const read = reads.shift()!;
        const sample = await read.sample;
        readAheadBytes -= read.size;
        onBytesRead(sample.data.length);
        yield sample;
      }
    },
  };
}
