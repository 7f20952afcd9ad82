// Choosing the pack source for SRC and --format: a directory is 'dir' (or, with --format tar, the
// *.tar files directly in it, sorted by name); a file ending in .jsonl is 'jsonl', one ending in
// .tar is 'tar'; anything else needs --format.
//
// Guarantees: a SRC that does not exist, does not fit the format, or holds nothing to pack is a
// CliError saying what to do, raised before anything is written to the cluster.
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { directorySource } from './directory-source.js';
import { jsonlSource } from './jsonl-source.js';
import { localError, usageError } from './local-files.js';
import type { PackSource, SourceKind } from './source.js';
import { tarSource } from './tar-source.js';

async function tarArchivesIn(dir: string): Promise<{ path: string; size: number }[]> {
  const names = (await fsp.readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile() && entry.name.endsWith('.tar'))
    .map((entry) => entry.name)
    .sort();
  if (names.length === 0) throw usageError(`${dir} holds no *.tar files to pack (--format tar)`);
  return Promise.all(
    names.map(async (name) => ({ path: join(dir, name), size: (await fsp.stat(join(dir, name))).size })),
  );
}

export async function openSource(
  src: string,
  format: SourceKind | undefined,
  signal: AbortSignal,
): Promise<PackSource> {
  const path = resolve(src);
  const stats = await fsp.stat(path).catch((err: unknown) => {
    throw localError(src, err);
  });
  if (stats.isDirectory()) {
    if (format === 'tar') return tarSource(path, await tarArchivesIn(path));
    if (format === 'jsonl') throw usageError(`${src} is a directory; --format jsonl needs a .jsonl file`);
    return directorySource(path, signal);
  }
  if (!stats.isFile()) throw usageError(`${src} is neither a directory nor a regular file`);
  const kind = format ?? (path.endsWith('.jsonl') ? 'jsonl' : path.endsWith('.tar') ? 'tar' : undefined);
  if (kind === undefined) {
    throw usageError(`cannot tell what ${src} holds from its name: pass --format jsonl or --format tar`);
  }
  if (kind === 'dir') throw usageError(`${src} is a file; --format dir needs a directory`);
  return kind === 'jsonl' ? jsonlSource(path, stats.size) : tarSource(path, [{ path, size: stats.size }]);
}
