// The file commands of `spindle` (docs/design.md §7): ls stat cat put get cp mv rm mkdir du df.
//
// Each command takes a connected client and its parsed options, writes results to stdout and
// throws on failure; main.ts prints `spindle: <path>: <message> (CODE)` and maps the error's
// POSIX code to an exit code (exit-codes.ts). Transfers never hold a whole file in memory: between
// regular files they are block copies (transfer.ts: a few chunks in flight in reused buffers),
// from stdin, to stdout and with special files they are streamed; long ones show a progress bar
// on stderr. `get` writes to a temporary name beside the destination and renames it on success,
// so a failed download leaves no partial file (put and cp do the same on the Spindle side).
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { basename, dirname, join as localJoin } from 'node:path';
import { posix } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CliError, ExitCode } from './exit-codes.js';
import { formatBytes, formatBytesShort, formatMode, formatTable, formatTime, type FileKind } from './format.js';
import { createProgress, type Progress } from './progress.js';
import {
  copyBlocks,
  localSink,
  localSource,
  spindleSink,
  spindleSource,
  type BlockSink,
  type BlockSource,
  type TransferHandle,
} from './transfer.js';

/** What the CLI needs of a file's attributes (the shape of node:fs Stats). */
interface CliStats {
  ino: number | bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

interface CliDirent {
  name: string;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

interface CliStatFs {
  /** Byte totals (SpindleStatFs); the block fields below are the fs.StatFs shape. */
  capacityBytes?: number;
  usedBytes?: number;
  freeBytes?: number;
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

/** The part of SpindleClient the CLI uses (fs/promises-shaped). */
export interface CliClient {
  stat(path: string): Promise<CliStats>;
  lstat(path: string): Promise<CliStats>;
  readdir(path: string, options: { withFileTypes: true }): Promise<CliDirent[]>;
  readlink(path: string): Promise<string>;
  mkdir(path: string, options?: { recursive?: boolean }): Promise<unknown>;
  rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  statfs(path: string): Promise<CliStatFs>;
  createReadStream(path: string): Readable;
  createWriteStream(path: string): Writable;
  open(path: string, flags: 'r' | 'w'): Promise<CliFileHandle>;
}

/** What the block copies of put, get and cp use of a Spindle FileHandle. */
interface CliFileHandle extends TransferHandle {
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface CommandContext {
  client: CliClient;
  out: NodeJS.WritableStream;
  signal: AbortSignal;
}

/** Spindle paths are absolute; a relative one is taken from the root. Trailing '/' is kept off. */
export function spindlePath(path: string): string {
  if (path === '') throw new CliError('empty path', ExitCode.USAGE, 'EINVAL');
  let p = path.startsWith('/') ? path : `/${path}`;
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

function kindOf(s: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): FileKind {
  if (s.isDirectory()) return 'directory';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFile()) return 'file';
  return 'other';
}

/** Attaches the path an error is about, for `spindle: <path>: …`. */
function withPath<T>(path: string, promise: Promise<T>): Promise<T> {
  return promise.catch((err: unknown) => {
    if (err !== null && typeof err === 'object' && !('cliPath' in err)) {
      try {
        Object.defineProperty(err, 'cliPath', { value: path, enumerable: false });
      } catch {
        // frozen error: report without the path
      }
    }
    throw err;
  });
}

async function statOrUndefined(client: CliClient, path: string): Promise<CliStats | undefined> {
  try {
    return await client.stat(path);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** `DST` names a directory (existing, or ends with '/'): the file goes inside with SRC's name. */
async function spindleDestination(client: CliClient, dst: string, srcName: string): Promise<string> {
  const target = spindlePath(dst);
  if (dst.endsWith('/') || target === '/') return posix.join(target, srcName);
  const s = await statOrUndefined(client, target);
  return s?.isDirectory() ? posix.join(target, srcName) : target;
}

async function localDestination(dst: string, srcName: string): Promise<string> {
  if (dst.endsWith('/')) return localJoin(dst, srcName);
  try {
    if ((await fsp.stat(dst)).isDirectory()) return localJoin(dst, srcName);
  } catch {
    // does not exist: dst is the file name
  }
  return dst;
}

function statToJson(path: string, s: CliStats, target?: string): Record<string, unknown> {
  return {
    path,
    type: kindOf(s),
    size: Number(s.size),
    mode: `0${(s.mode & 0o7777).toString(8)}`,
    ino: typeof s.ino === 'bigint' ? s.ino.toString() : s.ino,
    nlink: s.nlink,
    uid: s.uid,
    gid: s.gid,
    atime: s.atime.toISOString(),
    mtime: s.mtime.toISOString(),
    ctime: s.ctime.toISOString(),
    ...(target !== undefined ? { target } : {}),
  };
}

// ---------------------------------------------------------------------------------------------

export async function ls(
  ctx: CommandContext,
  paths: string[],
  options: { long?: boolean; json?: boolean },
): Promise<void> {
  const targets = paths.length === 0 ? ['/'] : paths;
  const json: Record<string, unknown>[] = [];
  for (const [i, raw] of targets.entries()) {
    const path = spindlePath(raw);
    const self = await withPath(path, ctx.client.lstat(path));
    let entries: Array<{ name: string; path: string }>;
    if (self.isDirectory()) {
      const dirents = await withPath(path, ctx.client.readdir(path, { withFileTypes: true }));
      entries = dirents
        .map((d) => ({ name: d.name, path: posix.join(path, d.name) }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } else {
      entries = [{ name: raw, path }];
    }
    if (!options.long && !options.json) {
      if (targets.length > 1 && self.isDirectory()) ctx.out.write(`${i > 0 ? '\n' : ''}${raw}:\n`);
      for (const e of entries) ctx.out.write(`${e.name}\n`);
      continue;
    }
    const stats = await mapLimit(entries, 16, async (e) => {
      const s = await withPath(e.path, ctx.client.lstat(e.path));
      const target = s.isSymbolicLink() ? await withPath(e.path, ctx.client.readlink(e.path)) : undefined;
      return { e, s, target };
    });
    if (options.json) {
      for (const { e, s, target } of stats) json.push({ name: e.name, ...statToJson(e.path, s, target) });
      continue;
    }
    if (targets.length > 1 && self.isDirectory()) ctx.out.write(`${i > 0 ? '\n' : ''}${raw}:\n`);
    const rows = stats.map(({ e, s, target }) => [
      formatMode(kindOf(s), s.mode),
      String(s.nlink),
      String(s.uid),
      String(s.gid),
      String(Number(s.size)),
      formatTime(s.mtime),
      target !== undefined ? `${e.name} -> ${target}` : e.name,
    ]);
    for (const line of formatTable(rows, [false, true, false, false, true, false])) ctx.out.write(`${line}\n`);
  }
  if (options.json) ctx.out.write(`${JSON.stringify(json)}\n`);
}

export async function stat(ctx: CommandContext, paths: string[], options: { json?: boolean }): Promise<void> {
  const results: Record<string, unknown>[] = [];
  for (const raw of paths) {
    const path = spindlePath(raw);
    const s = await withPath(path, ctx.client.lstat(path));
    const target = s.isSymbolicLink() ? await withPath(path, ctx.client.readlink(path)) : undefined;
    const info = statToJson(path, s, target);
    if (options.json) {
      results.push(info);
      continue;
    }
    const kindText: Record<FileKind, string> = {
      file: 'regular file',
      directory: 'directory',
      symlink: 'symbolic link',
      other: 'other',
    };
    ctx.out.write(
      [
        `  File: ${path}${target !== undefined ? ` -> ${target}` : ''}`,
        `  Type: ${kindText[kindOf(s)]}`,
        `  Size: ${Number(s.size)}${Number(s.size) >= 1024 ? ` (${formatBytes(Number(s.size))})` : ''}`,
        ` Inode: ${String(s.ino)}  Links: ${s.nlink}`,
        `  Mode: ${info.mode as string} (${formatMode(kindOf(s), s.mode)})  Uid: ${s.uid}  Gid: ${s.gid}`,
        `Access: ${s.atime.toISOString()}`,
        `Modify: ${s.mtime.toISOString()}`,
        `Change: ${s.ctime.toISOString()}`,
        '',
      ].join('\n'),
    );
  }
  if (options.json) ctx.out.write(`${JSON.stringify(paths.length === 1 ? results[0] : results)}\n`);
}

export async function cat(ctx: CommandContext, paths: string[]): Promise<void> {
  for (const raw of paths) {
    const path = spindlePath(raw);
    const s = await withPath(path, ctx.client.stat(path));
    if (s.isDirectory())
      throw Object.assign(new CliError('is a directory', ExitCode.WRONG_TYPE, 'EISDIR'), { cliPath: path });
    await withPath(
      path,
      pipeline(ctx.client.createReadStream(path), unendingWritable(ctx.out), { signal: ctx.signal }),
    );
  }
}

/** Wraps stdout so piping several files into it does not end it. */
function unendingWritable(out: NodeJS.WritableStream): Writable {
  return new Writable({
    highWaterMark: 4 * 1024 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      if (out.write(chunk)) callback();
      else out.once('drain', () => callback());
    },
  });
}

export interface TransferOptions {
  progress?: boolean;
}

export async function put(ctx: CommandContext, src: string, dst: string, options: TransferOptions): Promise<string> {
  let source: Readable;
  let totalBytes: number | undefined;
  let name: string;
  if (src === '-') {
    source = process.stdin;
    name = 'stdin';
    if (dst.endsWith('/'))
      throw new CliError('reading from stdin needs a file name as destination', ExitCode.USAGE, 'EINVAL');
  } else {
    const local = await withPath(src, fsp.stat(src));
    if (local.isDirectory())
      throw Object.assign(new CliError('is a directory (put copies one file)', ExitCode.WRONG_TYPE, 'EISDIR'), {
        cliPath: src,
      });
    totalBytes = local.size;
    name = basename(src);
    if (local.isFile()) {
      const target = await spindleDestination(ctx.client, dst, name);
      const progress = createProgress({ progress: options.progress, label: `put ${name}`, totalBytes });
      const file = await withPath(src, fsp.open(src, 'r'));
      try {
        await publishWhenComplete(ctx, target, (partial) =>
          copyIntoSpindle(ctx, partial, localSource(file), totalBytes!, progress),
        );
      } finally {
        progress.stop();
        await file.close();
      }
      return target;
    }
    // A FIFO or device: its size says nothing, so it is streamed.
    source = createReadStream(src, { highWaterMark: 4 * 1024 * 1024 });
  }
  const target = await spindleDestination(ctx.client, dst, name);
  const progress = createProgress({ progress: options.progress, label: `put ${name}`, totalBytes });
  try {
    await publishWhenComplete(ctx, target, (partial) =>
      pipeline(source, progress.counter(), ctx.client.createWriteStream(partial), { signal: ctx.signal }),
    );
  } finally {
    progress.stop();
  }
  return target;
}

/** Blocks in flight in put, get and cp: reads of some overlap the local or chain writes of others. */
const TRANSFER_LANES = 6;

/** Creates (or empties) the Spindle file `path` and copies `totalBytes` of `source` into it. */
async function copyIntoSpindle(
  ctx: CommandContext,
  path: string,
  source: BlockSource,
  totalBytes: number,
  progress: Progress,
): Promise<void> {
  const handle = await ctx.client.open(path, 'w');
  try {
    const copied = await copyBlocks({
      source,
      sink: spindleSink(handle, ctx.signal),
      totalBytes,
      blockBytes: handle.chunkSizeBytes,
      lanes: TRANSFER_LANES,
      onBytes: (bytes) => progress.add(bytes),
      signal: ctx.signal,
    });
    // The source shrank while it was copied: blocks past its new end were written before that was known.
    if (copied < totalBytes) await handle.truncate(copied);
  } finally {
    await handle.close();
  }
}

/** Copies the Spindle file behind `handle` into `sink`; resolves to the bytes copied. */
function copyFromSpindle(ctx: CommandContext, handle: CliFileHandle, sink: BlockSink, progress: Progress) {
  return copyBlocks({
    source: spindleSource(handle, ctx.signal),
    sink,
    totalBytes: handle.size,
    blockBytes: handle.chunkSizeBytes,
    lanes: TRANSFER_LANES,
    onBytes: (bytes) => progress.add(bytes),
    signal: ctx.signal,
  });
}

/**
 * Writes a Spindle file under a temporary name in its directory and renames it to `target` only
 * once every byte is written, so a failed transfer (a full disk, a dead node, ^C) leaves nothing
 * that looks complete; the temporary is removed on failure.
 */
async function publishWhenComplete(
  ctx: CommandContext,
  target: string,
  write: (partial: string) => Promise<void>,
): Promise<void> {
  const suffix = `${process.pid}-${Math.floor(Math.random() * 0x100000000).toString(16)}`;
  const partial = posix.join(posix.dirname(target), `.${posix.basename(target)}.spindle-part-${suffix}`);
  try {
    await withPath(target, write(partial));
    await withPath(target, ctx.client.rename(partial, target));
  } catch (err) {
    await ctx.client.rm(partial, { force: true }).catch(() => undefined);
    throw err;
  }
}

export async function get(ctx: CommandContext, src: string, dst: string, options: TransferOptions): Promise<string> {
  const path = spindlePath(src);
  const s = await withPath(path, ctx.client.stat(path));
  if (s.isDirectory())
    throw Object.assign(new CliError('is a directory (get copies one file)', ExitCode.WRONG_TYPE, 'EISDIR'), {
      cliPath: path,
    });
  if (dst === '-') {
    const progress = createProgress({
      progress: options.progress,
      label: `get ${basename(path)}`,
      totalBytes: Number(s.size),
    });
    try {
      await withPath(
        path,
        pipeline(ctx.client.createReadStream(path), progress.counter(), unendingWritable(ctx.out), {
          signal: ctx.signal,
        }),
      );
    } finally {
      progress.stop();
    }
    return '-';
  }
  const target = await localDestination(dst, posix.basename(path));
  const localDir = await fsp.stat(dirname(target)).catch(() => undefined);
  if (localDir === undefined || !localDir.isDirectory()) {
    const code = localDir === undefined ? 'ENOENT' : 'ENOTDIR';
    throw Object.assign(
      new CliError(
        `local directory ${dirname(target)} does not exist`,
        code === 'ENOENT' ? ExitCode.NOT_FOUND : ExitCode.WRONG_TYPE,
        code,
      ),
      {
        cliPath: target,
      },
    );
  }
  const progress = createProgress({
    progress: options.progress,
    label: `get ${basename(path)}`,
    totalBytes: Number(s.size),
  });
  const existing = await fsp.stat(target).catch(() => undefined);
  if (existing !== undefined && !existing.isFile()) {
    // A device, FIFO or socket (e.g. /dev/null): write into it; renaming over it would replace it.
    try {
      await withPath(
        path,
        pipeline(ctx.client.createReadStream(path), progress.counter(), createWriteStream(target), {
          signal: ctx.signal,
        }),
      );
    } finally {
      progress.stop();
    }
    return target;
  }
  const partial = localJoin(dirname(target), `.${basename(target)}.spindle-part-${process.pid}`);
  try {
    const handle = await withPath(path, ctx.client.open(path, 'r'));
    try {
      const file = await withPath(target, fsp.open(partial, 'w'));
      try {
        const copied = await withPath(path, copyFromSpindle(ctx, handle, localSink(file), progress));
        // The file shrank while it was read: blocks past its new end were written before that was known.
        if (copied < handle.size) await file.truncate(copied);
      } finally {
        await file.close();
      }
    } finally {
      await handle.close();
    }
    await withPath(target, fsp.rename(partial, target));
  } catch (err) {
    await fsp.rm(partial, { force: true });
    throw err;
  } finally {
    progress.stop();
  }
  return target;
}

export async function cp(ctx: CommandContext, src: string, dst: string, options: TransferOptions): Promise<string> {
  const from = spindlePath(src);
  const s = await withPath(from, ctx.client.stat(from));
  if (s.isDirectory())
    throw Object.assign(new CliError('is a directory (cp copies one file)', ExitCode.WRONG_TYPE, 'EISDIR'), {
      cliPath: from,
    });
  const target = await spindleDestination(ctx.client, dst, posix.basename(from));
  if (target === from)
    throw Object.assign(new CliError('source and destination are the same file', ExitCode.USAGE, 'EINVAL'), {
      cliPath: from,
    });
  const progress = createProgress({
    progress: options.progress,
    label: `cp ${posix.basename(from)}`,
    totalBytes: Number(s.size),
  });
  try {
    const handle = await withPath(from, ctx.client.open(from, 'r'));
    try {
      await publishWhenComplete(ctx, target, (partial) =>
        copyIntoSpindle(ctx, partial, spindleSource(handle, ctx.signal), handle.size, progress),
      );
    } finally {
      await handle.close();
    }
  } finally {
    progress.stop();
  }
  return target;
}

export async function mv(ctx: CommandContext, src: string, dst: string): Promise<string> {
  const from = spindlePath(src);
  await withPath(from, ctx.client.lstat(from));
  const target = await spindleDestination(ctx.client, dst, posix.basename(from));
  await withPath(from, ctx.client.rename(from, target));
  return target;
}

export async function rm(
  ctx: CommandContext,
  paths: string[],
  options: { recursive?: boolean; force?: boolean },
): Promise<void> {
  for (const raw of paths) {
    const path = spindlePath(raw);
    if (path === '/')
      throw Object.assign(new CliError('refusing to remove the root directory', ExitCode.USAGE, 'EINVAL'), {
        cliPath: path,
      });
    if (!options.recursive) {
      const s = await withPath(path, ctx.client.lstat(path)).catch((err: unknown) => {
        if (options.force && (err as { code?: string }).code === 'ENOENT') return undefined;
        throw err;
      });
      if (s === undefined) continue;
      if (s.isDirectory())
        throw Object.assign(new CliError('is a directory (use rm -r)', ExitCode.WRONG_TYPE, 'EISDIR'), {
          cliPath: path,
        });
    }
    await withPath(path, ctx.client.rm(path, { recursive: options.recursive === true, force: options.force === true }));
  }
}

export async function mkdir(ctx: CommandContext, paths: string[], options: { parents?: boolean }): Promise<void> {
  for (const raw of paths) {
    const path = spindlePath(raw);
    await withPath(path, ctx.client.mkdir(path, { recursive: options.parents === true }));
  }
}

/** Bytes of files under `path` (files count their size; symlinks and directories count 0). */
async function diskUsage(
  client: CliClient,
  path: string,
  signal?: AbortSignal,
): Promise<{ bytes: number; files: number; directories: number }> {
  const total = { bytes: 0, files: 0, directories: 0 };
  const root = await withPath(path, client.lstat(path));
  if (!root.isDirectory()) {
    if (root.isFile()) {
      total.bytes += Number(root.size);
      total.files += 1;
    }
    return total;
  }
  const queue = [path];
  while (queue.length > 0) {
    if (signal?.aborted) throw new CliError('interrupted', ExitCode.INTERRUPTED, 'ECANCELED');
    const dir = queue.shift()!;
    total.directories += 1;
    const entries = await withPath(dir, client.readdir(dir, { withFileTypes: true }));
    const files = entries.filter((e) => e.isFile()).map((e) => posix.join(dir, e.name));
    for (const e of entries) if (e.isDirectory()) queue.push(posix.join(dir, e.name));
    const sizes = await mapLimit(files, 16, async (p) => Number((await withPath(p, client.lstat(p))).size));
    for (const size of sizes) {
      total.bytes += size;
      total.files += 1;
    }
  }
  return total;
}

export async function du(
  ctx: CommandContext,
  paths: string[],
  options: { human?: boolean; json?: boolean },
): Promise<void> {
  const targets = paths.length === 0 ? ['/'] : paths;
  const results: Record<string, unknown>[] = [];
  for (const raw of targets) {
    const path = spindlePath(raw);
    const usage = await diskUsage(ctx.client, path, ctx.signal);
    if (options.json) results.push({ path, ...usage });
    else ctx.out.write(`${options.human ? formatBytesShort(usage.bytes) : usage.bytes}\t${path}\n`);
  }
  if (options.json) ctx.out.write(`${JSON.stringify(targets.length === 1 ? results[0] : results)}\n`);
}

export async function df(ctx: CommandContext, options: { human?: boolean; json?: boolean }): Promise<void> {
  const s = await withPath('/', ctx.client.statfs('/'));
  const size = s.capacityBytes ?? s.blocks * s.bsize;
  const free = s.freeBytes ?? s.bavail * s.bsize;
  const used = s.usedBytes ?? Math.max(0, (s.blocks - s.bfree) * s.bsize);
  const info = { sizeBytes: size, usedBytes: used, availableBytes: free, files: s.files, freeFiles: s.ffree };
  if (options.json) {
    ctx.out.write(`${JSON.stringify(info)}\n`);
    return;
  }
  const show = (n: number) => (options.human ? formatBytesShort(n) : String(n));
  const percent = size > 0 ? `${Math.ceil((used / size) * 100)}%` : '-';
  const rows = [
    ['Size', 'Used', 'Avail', 'Use%', 'Inodes', 'Mounted on'],
    [show(size), show(used), show(free), percent, String(s.files - s.ffree), 'spindle:/'],
  ];
  for (const line of formatTable(rows, [true, true, true, true, true])) ctx.out.write(`${line}\n`);
}

/** Runs `fn` over items with at most `limit` in flight, keeping order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
