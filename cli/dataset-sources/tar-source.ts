// Tar archives as a pack source, WebDataset-style: a member's key is its path up to the first dot
// of its base name ('train/cat001.jpg' → 'train/cat001', part 'jpg'; 'a.seg.png' → 'a', part
// 'seg.png'; a leading './' is dropped). Consecutive members with one key form one sample, whose
// record is encodeParts() of its parts in archive order. Several archives are read in the order
// given; a sample never spans two archives.
//
// Guarantees: every regular member lands in exactly one sample, with its exact bytes; one key
// naming the same part twice in a row stops the pack with an error naming the archive and member.
import { posix } from 'node:path';
import { SAMPLE_BYTES_MAX } from '../../client/loader/dataset/constants.js';
import { encodeParts, type SamplePart } from '../../client/loader/dataset/parts.js';
import { fileChunks, usageError } from './local-files.js';
import type { PackSource, SourceSample } from './source.js';
import { readTarMembers } from './tar-reader.js';

/** The sample key and part name of a member path. */
function splitMemberName(name: string): { key: string; part: string } {
  let path = name;
  while (path.startsWith('./')) path = path.slice(2);
  const dir = posix.dirname(path);
  const base = posix.basename(path);
  const dot = base.indexOf('.');
  const stem = dot === -1 ? base : base.slice(0, dot);
  return { key: dir === '.' ? stem : `${dir}/${stem}`, part: dot === -1 ? '' : base.slice(dot + 1) };
}

export function tarSource(path: string, archives: readonly { path: string; size: number }[]): PackSource {
  return {
    kind: 'tar',
    path,
    encoding: 'parts',
    totalBytes: archives.reduce((sum, archive) => sum + archive.size, 0),
    async *samples(onBytesRead, signal): AsyncGenerator<SourceSample> {
      for (const archive of archives) {
        let key: string | undefined;
        let parts: SamplePart[] = [];
        const sample = (): SourceSample => ({
          data: encodeParts(parts),
          // Members named '.x' at the top have an empty key: their sample has none.
          ...(key === '' ? {} : { key }),
          where: `${archive.path}: ${key}`,
        });
        const members = readTarMembers(fileChunks(archive.path, onBytesRead, signal), archive.path, SAMPLE_BYTES_MAX);
        for await (const member of members) {
          const { key: memberKey, part } = splitMemberName(member.name);
          if (memberKey !== key && parts.length > 0) {
            yield sample();
            parts = [];
          }
          key = memberKey;
          if (parts.some((existing) => existing.name === part)) {
            throw usageError(`${archive.path}: member ${member.name} repeats part "${part}" of sample ${key}`);
          }
          parts.push({ name: part, data: member.data });
        }
        if (parts.length > 0) yield sample();
      }
    },
  };
}
