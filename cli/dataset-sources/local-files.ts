// Local file helpers of the pack sources: a recursive listing of regular files in sorted order,
// large-block reads of one file, and turning a local I/O error into a CliError that names the file.
//
// Guarantees: listRegularFiles returns every regular file under the directory (symlinks, devices
// and sockets are left out) by relative '/'-separated path in code-unit order, with its size;
// errors name the path and keep the POSIX code for the exit code.
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CliError, ExitCode, exitCodeFor } from '../exit-codes.js';

/** Local reads of this size: few syscalls, and the writer's 4 MiB buffers fill in a couple of reads. */
const LOCAL_READ_BYTES = 4 * 1024 * 1024;

export interface LocalFile {
  /** Path relative to the listed directory, '/'-separated. */
  readonly relative: string;
  readonly size: number;
}

/** A CliError for a failed local operation on `path`. */
export function localError(path: string, err: unknown): CliError {
  const code = (err as NodeJS.ErrnoException).code;
  const message = (err as Error).message.replace(/^E[A-Z]+: /, '');
  return new CliError(`${path}: ${message}`, exitCodeFor(err), code);
}

export async function listRegularFiles(root: string, signal: AbortSignal): Promise<LocalFile[]> {
  const files: LocalFile[] = [];
  const pending = [''];
  while (pending.length > 0) {
    signal.throwIfAborted();
    const relativeDir = pending.pop()!;
    const dir = join(root, relativeDir);
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
      throw localError(dir, err);
    });
    for (const entry of entries) {
      const relative = relativeDir === '' ? entry.name : `${relativeDir}/${entry.name}`;
      if (entry.isDirectory()) pending.push(relative);
      else if (entry.isFile()) {
        const stats = await fsp.stat(join(root, relative)).catch((err: unknown) => {
          throw localError(join(root, relative), err);
        });
        files.push({ relative, size: stats.size });
      }
    }
  }
  return files.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0));
}

/** The file's bytes in LOCAL_READ_BYTES chunks, each counted by `onBytesRead`. */
export async function* fileChunks(
  path: string,
  onBytesRead: (bytes: number) => void,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  const stream = createReadStream(path, { highWaterMark: LOCAL_READ_BYTES, signal });
  try {
    for await (const chunk of stream) {
      onBytesRead((chunk as Buffer).length);
      yield chunk as Buffer;
    }
  } catch (err) {
    if (signal.aborted) throw err;
    throw localError(path, err);
  } finally {
    stream.destroy();
  }
}

/** A CliError for bad input found in a source (exit code 2, EINVAL). */
export function usageError(message: string): CliError {
  return new CliError(message, ExitCode.USAGE, 'EINVAL');
}
