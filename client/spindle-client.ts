// SpindleClient: the entry point of the client library. Connects to a meta process, keeps the
// routing cache, and offers the file API of docs/design.md §6 in the shape of node:fs/promises (open,
// readFile, writeFile, stat, readdir, mkdir, rm, rename, streams, …). Names and layouts come from
// meta; bytes go straight to the storage nodes through the ChunkStore.
//
// Paths are absolute or relative to the root; they are validated here (no '.'/'..', no NUL, names
// of at most 255 bytes) before any request is sent. Errors are SpindleErrors whose `code` is the
// POSIX name (ENOENT, EEXIST, ENOTDIR, …), so code written for node:fs handles them unchanged.
//
// Lifetime: connect() resolves once routing holds a chain table; close() closes open handles
// (syncing what they wrote), the routing timer and every channel; it is idempotent.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { systemClock, systemRng, type Clock, type Rng } from '../common/clock.js';
import { clientConfig, type ClientConfig, type Preset } from '../common/config.js';
import { ROOT_INO } from '../common/constants.js';
import { ErrorCode, SpindleError, isSpindleError } from '../common/errors.js';
import { splitPath, validateClientId } from '../common/names.js';
import { unpackDirEntries } from '../common/packed-dir-entries.js';
import type { Inode, PathAt } from '../proto/index.js';
import { ChunkStore } from './chunk-store.js';
import { DIRECTORY_MODE_DEFAULT, FILE_MODE_DEFAULT, READDIR_PAGE_ENTRIES } from './constants.js';
import { FileHandle, parseFlags } from './file-handle.js';
import { KvCache, type KvCacheOptions, type KvNamespaceFields } from './kvcache/kv-cache.js';
import { MetaRpc, MgmtRpc } from './meta-rpc.js';
import { RoutingCache } from './routing-cache.js';
import { SpindleDirent, SpindleStats, type SpindleStatFs } from './stats.js';
import { StorageConnections } from './storage-connections.js';
import { SpindleReadStream, SpindleWriteStream, type ReadStreamOptions, type WriteStreamOptions } from './streams.js';
import { resolveToken } from '../common/auth/token-source.js';

export interface ConnectOptions {
  /** host:port of a meta process. */
  meta: string;
  /**
   * Bearer token of this client (docs/security.md). Default: $SPINDLE_TOKEN, $SPINDLE_TOKEN_FILE,
   * else the client token `spindle up` stored for this meta address in ~/.spindle/credentials.json.
   */
  token?: string;
  /** Config preset (default 'production'); `config` overrides single keys. */
  preset?: Preset;
  config?: Partial<ClientConfig> | Record<string, unknown>;
  /** Stable id of this client for exactly-once requests (default: random). */
  clientId?: string;
  logger?: Logger;
  /** Owner of files and directories this client creates (default: the process's uid/gid). */
  uid?: number;
  gid?: number;
  /** Give up connecting after this long (default: config.retryDeadlineMs). */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  clock?: Clock;
  rng?: Rng;
}

export type FileData = string | Uint8Array | Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

/** Times as node:fs accepts them: seconds since the epoch, a numeric string, or a Date. */
export type TimeLike = number | string | Date;

function timeToUs(time: TimeLike, what: string): number {
  const ms = time instanceof Date ? time.getTime() : typeof time === 'string' ? Number(time) * 1000 : time * 1000;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${what} must be a time at or after the epoch, got ${String(time)}`,
    );
  }
  return Math.round(ms * 1000);
}

function parseMode(mode: number | string, what: string): number {
  const value = typeof mode === 'string' ? Number.parseInt(mode, 8) : mode;
  if (!Number.isSafeInteger(value) || value < 0 || value > 0o7777) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${what} must be permission bits (0..0o7777), got ${String(mode)}`,
    );
  }
  return value;
}

function checkId(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffffffff) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${what} must be an integer in 0..2^32-1, got ${value}`);
  }
  return value;
}

/** Normalizes a path to the absolute form meta resolves ('/a/b'); throws on bad names. */
export function normalizePath(path: string): string {
  if (typeof path !== 'string') {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `a path must be a string, got ${typeof path}`);
  }
  const { names } = splitPath(path);
  return `/${names.join('/')}`;
}

function requireInode(inode: Inode | undefined, what: string): Inode {
  if (inode === undefined) throw new SpindleError(ErrorCode.INTERNAL, `${what}: meta answered without attributes`);
  return inode;
}

export class SpindleClient {
  readonly clientId: string;
  readonly config: ClientConfig;
  readonly routing: RoutingCache;
  readonly chunks: ChunkStore;
  readonly meta: MetaRpc;
  readonly mgmt: MgmtRpc;
  /** host:port of the meta process. */
  readonly metaAddress: string;
  private readonly connections: StorageConnections;
  private readonly logger: Logger | undefined;
  private readonly uid: number;
  private readonly gid: number;
  private readonly handles = new Set<FileHandle>();
  /** The bearer token every call of this client carries (undefined: none found). */
  private readonly token: string | undefined;
  private closing: Promise<void> | undefined;

  /** Builds a client without waiting for routing; connect() is the usual way in. */
  constructor(options: ConnectOptions) {
    this.metaAddress = options.meta;
    this.config = clientConfig(options.preset ?? 'production', options.config);
    if (options.clientId !== undefined) validateClientId(options.clientId, 'clientId');
    this.clientId = options.clientId ?? `${hostname()}-${process.pid}-${randomBytes(6).toString('hex')}`;
    this.logger = options.logger;
    this.uid = options.uid ?? process.getuid?.() ?? 0;
    this.gid = options.gid ?? process.getgid?.() ?? 0;
    const clock = options.clock ?? systemClock;
    const rng = options.rng ?? systemRng();
    let requestId = 0;
    const nextRequestId = () => ++requestId;
    const token = resolveToken({ metaAddress: options.meta, token: options.token });
    this.token = token;
    const rpcOptions = {
      address: options.meta,
      token,
      clientId: this.clientId,
      config: this.config,
      nextRequestId,
      clock,
      rng,
      logger: this.logger?.child({ component: 'client.meta' }),
    };
    this.meta = new MetaRpc(rpcOptions);
    this.mgmt = new MgmtRpc(rpcOptions);
    this.routing = new RoutingCache({
      fetch: (knownVersion) => this.mgmt.getRoutingInfo(knownVersion),
      clock,
      refreshIntervalMs: this.config.routingRefreshIntervalMs,
      logger: this.logger?.child({ component: 'client.routing' }),
    });
    this.connections = new StorageConnections({ token });
    this.chunks = new ChunkStore({
      routing: this.routing,
      clientId: this.clientId,
      connections: this.connections,
      token,
      config: this.config,
      clock,
      rng,
      logger: this.logger?.child({ component: 'client.chunks' }),
      nextRequestId,
    });
  }

  /**
   * Connects to meta and waits until routing holds a chain table (storage nodes registered).
   * Rejects after `readyTimeoutMs` with an error that says what is missing: RPC_UNAVAILABLE
   * ("cannot reach meta at HOST:PORT") when meta never answered, ROUTING_NOT_READY when it answered
   * but has no chain table yet.
   */
  static async connect(options: ConnectOptions): Promise<SpindleClient> {
    const client = new SpindleClient(options);
    const timeoutMs = options.readyTimeoutMs ?? client.config.retryDeadlineMs;
    const timeout = new AbortController();
    // A ref'd timer, unlike every other timer of the client (a library must not hold a process
    // open): while connect() is awaited, the process must stay alive until it settles. Without it
    // a script whose only work is `await connect()` could exit with code 13 (unsettled top-level
    // await) in a moment when no socket or retry timer happens to be pending.
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
    try {
      await client.routing.ready({ signal });
    } catch (err) {
      await client.close();
      if (timeout.signal.aborted && !options.signal?.aborted) throw client.notReadyError(timeoutMs, err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  /** The error of a connect() that timed out, naming what was missing. */
  private notReadyError(timeoutMs: number, err: unknown): SpindleError {
    const last = this.routing.lastFetchError;
    if (this.routing.current() === undefined) {
      const why = last === undefined ? 'no answer' : `${last.codeName}: ${last.message}`;
      return new SpindleError(
        ErrorCode.RPC_UNAVAILABLE,
        `cannot reach meta at ${this.metaAddress}: ${why} (gave up after ${timeoutMs} ms) — ` +
          'is `spindle up` running, and is this its meta address?',
        { cause: last ?? err },
      );
    }
    return new SpindleError(
      ErrorCode.ROUTING_NOT_READY,
      `meta at ${this.metaAddress} has no chain table after ${timeoutMs} ms: ` +
        'have its storage nodes registered (`spindle up` starts them)?',
      { cause: last ?? err },
    );
  }

  // --- files ------------------------------------------------------------------------------------

  /** Opens a file (flags as node:fs: 'r', 'r+', 'w', 'wx', 'w+', 'a', 'a+', 'ax', …). */
  async open(path: string, flags: string = 'r', mode?: number | string): Promise<FileHandle> {
    this.checkOpen();
    const parsed = parseFlags(flags);
    const at = this.at(path);
    const response = await this.meta.open({
      at,
      create: parsed.create,
      exclusive: parsed.exclusive,
      truncate: parsed.truncate,
      mode: mode === undefined ? FILE_MODE_DEFAULT : parseMode(mode, 'mode'),
      uid: this.uid,
      gid: this.gid,
    });
    const handle = new FileHandle(
      { meta: this.meta, chunks: this.chunks, onClose: (closed) => this.handles.delete(closed) },
      at.path,
      requireInode(response.inode, `open ${at.path}`),
      parsed,
    );
    this.handles.add(handle);
    return handle;
  }

  /** The whole file (a string when an encoding is given). */
  readFile(path: string, options?: { signal?: AbortSignal; encoding?: null; flag?: string }): Promise<Buffer>;
  readFile(
    path: string,
    options: { signal?: AbortSignal; encoding: BufferEncoding; flag?: string } | BufferEncoding,
  ): Promise<string>;
  async readFile(
    path: string,
    options: { signal?: AbortSignal; encoding?: BufferEncoding | null; flag?: string } | BufferEncoding = {},
  ): Promise<Buffer | string> {
    const { signal, encoding, flag } =
      typeof options === 'string' ? { encoding: options, signal: undefined, flag: undefined } : options;
    const handle = await this.open(path, flag ?? 'r');
    try {
      const data = await handle.readFile({ signal });
      return encoding ? data.toString(encoding) : data;
    } finally {
      await handle.close();
    }
  }

  /** Replaces the file's contents (flag 'w' by default; 'wx' to refuse an existing file). */
  async writeFile(
    path: string,
    data: FileData,
    options:
      | { mode?: number | string; flag?: string; encoding?: BufferEncoding; signal?: AbortSignal }
      | BufferEncoding = {},
  ): Promise<void> {
    const { mode, flag, encoding, signal } =
      typeof options === 'string'
        ? { encoding: options, mode: undefined, flag: undefined, signal: undefined }
        : options;
    const handle = await this.open(path, flag ?? 'w', mode);
    let failure: unknown;
    try {
      await this.writeAll(handle, data, encoding, signal);
    } catch (err) {
      failure = err;
    }
    try {
      await handle.close();
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined) throw failure;
  }

  /** Appends to the file, creating it if missing. */
  appendFile(
    path: string,
    data: FileData,
    options:
      | { mode?: number | string; flag?: string; encoding?: BufferEncoding; signal?: AbortSignal }
      | BufferEncoding = {},
  ): Promise<void> {
    const resolved = typeof options === 'string' ? { encoding: options } : options;
    return this.writeFile(path, data, { ...resolved, flag: resolved.flag ?? 'a' });
  }

  /** Sets a file's length (cutting, or extending with zeros). */
  async truncate(path: string, length = 0): Promise<void> {
    this.checkOpen();
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `truncate: length must be a non-negative integer, got ${length}`,
      );
    }
    await this.meta.truncate({ at: this.at(path), length });
  }

  /** A readable stream of the file's bytes [start, end] (end inclusive). */
  createReadStream(path: string, options: ReadStreamOptions = {}): SpindleReadStream {
    this.checkOpen();
    const normalized = normalizePath(path);
    return new SpindleReadStream(() => this.open(normalized, 'r'), normalized, {
      ...options,
      readaheadBytes: this.config.readaheadBytes,
    });
  }

  /** A writable stream into the file (flags 'w' by default); the length is synced on end. */
  createWriteStream(path: string, options: WriteStreamOptions = {}): SpindleWriteStream {
    this.checkOpen();
    const normalized = normalizePath(path);
    const flags = options.flags ?? 'w';
    parseFlags(flags);
    return new SpindleWriteStream(() => this.open(normalized, flags, options.mode), normalized, {
      ...options,
      inflightMax: this.config.ioConcurrencyMax,
    });
  }

  // --- attributes -------------------------------------------------------------------------------

  /** Attributes, following a final symlink. */
  async stat(path: string): Promise<SpindleStats> {
    this.checkOpen();
    const { inode } = await this.meta.stat({ at: this.at(path), followSymlink: true });
    return new SpindleStats(requireInode(inode, `stat ${path}`));
  }

  /** Attributes of the entry itself (a symlink is described, not followed). */
  async lstat(path: string): Promise<SpindleStats> {
    this.checkOpen();
    const { inode } = await this.meta.stat({ at: this.at(path), followSymlink: false });
    return new SpindleStats(requireInode(inode, `lstat ${path}`));
  }

  /** Whether the path exists (no error for a missing entry). */
  async exists(path: string): Promise<boolean> {
    try {
      await this.lstat(path);
      return true;
    } catch (err) {
      if (isSpindleError(err, ErrorCode.NOT_FOUND)) return false;
      throw err;
    }
  }

  async chmod(path: string, mode: number | string): Promise<void> {
    this.checkOpen();
    await this.meta.setAttr({ at: this.at(path), mode: parseMode(mode, 'mode'), noFollow: false });
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    this.checkOpen();
    await this.meta.setAttr({ at: this.at(path), uid: checkId(uid, 'uid'), gid: checkId(gid, 'gid'), noFollow: false });
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    this.checkOpen();
    await this.meta.setAttr({ at: this.at(path), uid: checkId(uid, 'uid'), gid: checkId(gid, 'gid'), noFollow: true });
  }

  /** Sets access and modification times (numbers are seconds since the epoch, as in node:fs). */
  async utimes(path: string, atime: TimeLike, mtime: TimeLike): Promise<void> {
    this.checkOpen();
    await this.meta.setAttr({
      at: this.at(path),
      atimeUs: timeToUs(atime, 'atime'),
      mtimeUs: timeToUs(mtime, 'mtime'),
      noFollow: false,
    });
  }

  /** Sets the layout new files under `dir` inherit (0 or absent keeps a value). */
  async setLayout(
    dir: string,
    layout: { chunkSizeBytes?: number; stripeWidth?: number; chainTableId?: number },
  ): Promise<SpindleStats> {
    this.checkOpen();
    const { inode } = await this.meta.setLayout({
      at: this.at(dir),
      chunkSizeBytes: layout.chunkSizeBytes ?? 0,
      stripeWidth: layout.stripeWidth ?? 0,
      chainTableId: layout.chainTableId ?? 0,
    });
    return new SpindleStats(requireInode(inode, `setLayout ${dir}`));
  }

  /** Capacity and usage of the file system. */
  async statfs(): Promise<SpindleStatFs> {
    this.checkOpen();
    const response = await this.meta.statFs();
    const bsize = 4096;
    return {
      capacityBytes: response.capacityBytes,
      usedBytes: response.usedBytes,
      freeBytes: response.freeBytes,
      inodes: response.inodes,
      type: 0x5350494e, // 'SPIN'
      bsize,
      blocks: Math.floor(response.capacityBytes / bsize),
      bfree: Math.floor(response.freeBytes / bsize),
      bavail: Math.floor(response.freeBytes / bsize),
      files: response.inodes,
      ffree: 0,
    };
  }

  // --- directories ------------------------------------------------------------------------------

  /** Creates a directory; with `recursive`, also missing parents, and no error if it exists. */
  async mkdir(
    path: string,
    options: { recursive?: boolean; mode?: number | string } | number = {},
  ): Promise<string | undefined> {
    this.checkOpen();
    const { recursive, mode } = typeof options === 'number' ? { recursive: false, mode: options } : options;
    const at = this.at(path);
    await this.meta.mkdirs({
      at,
      mode: mode === undefined ? DIRECTORY_MODE_DEFAULT : parseMode(mode, 'mode'),
      recursive: recursive ?? false,
      uid: this.uid,
      gid: this.gid,
    });
    return undefined;
  }

  /** Names in a directory, sorted by bytes; Dirent-like entries with `withFileTypes`. */
  readdir(path: string, options?: { withFileTypes?: false; signal?: AbortSignal }): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true; signal?: AbortSignal }): Promise<SpindleDirent[]>;
  async readdir(
    path: string,
    options: { withFileTypes?: boolean; signal?: AbortSignal } = {},
  ): Promise<string[] | SpindleDirent[]> {
    this.checkOpen();
    const at = this.at(path);
    const entries: SpindleDirent[] = [];
    let afterName = '';
    for (;;) {
      const page = await this.meta.readDir(
        { at, afterName, limit: READDIR_PAGE_ENTRIES, withAttributes: false },
        { signal: options.signal },
      );
      const listed = unpackDirEntries(page);
      for (const entry of listed) entries.push(new SpindleDirent(entry, at.path));
      if (!page.hasMore || listed.length === 0) break;
      afterName = listed[listed.length - 1]!.name;
    }
    return options.withFileTypes ? entries : entries.map((entry) => entry.name);
  }

  /**
   * Removes a file or symlink; a directory needs `recursive`. With `force`, a missing path is not
   * an error.
   */
  async rm(path: string, options: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    this.checkOpen();
    const at = this.at(path);
    try {
      try {
        await this.meta.remove({ at, directory: false, recursive: false });
      } catch (err) {
        if (!isSpindleError(err, ErrorCode.IS_DIRECTORY)) throw err;
        if (!options.recursive) {
          throw new SpindleError(ErrorCode.IS_DIRECTORY, `rm ${at.path}: is a directory (pass { recursive: true })`, {
            cause: err,
          });
        }
        await this.meta.remove({ at, directory: true, recursive: true });
      }
    } catch (err) {
      if (options.force && isSpindleError(err, ErrorCode.NOT_FOUND)) return;
      throw err;
    }
  }

  /** Removes an empty directory (ENOTEMPTY otherwise; `recursive` removes its contents too). */
  async rmdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    this.checkOpen();
    await this.meta.remove({ at: this.at(path), directory: true, recursive: options.recursive ?? false });
  }

  /** Removes a file or symlink (EISDIR for a directory). */
  async unlink(path: string): Promise<void> {
    this.checkOpen();
    await this.meta.remove({ at: this.at(path), directory: false, recursive: false });
  }

  /** Renames with POSIX replace rules; `noReplace` refuses an existing target with EEXIST. */
  async rename(from: string, to: string, options: { noReplace?: boolean } = {}): Promise<void> {
    this.checkOpen();
    await this.meta.rename({ from: this.at(from), to: this.at(to), noReplace: options.noReplace ?? false });
  }

  /** Creates a symlink at `path` pointing at `target` (stored verbatim). */
  async symlink(target: string, path: string): Promise<void> {
    this.checkOpen();
    if (typeof target !== 'string' || target.length === 0 || target.includes('\0')) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'symlink: the target must be a non-empty string without NUL');
    }
    await this.meta.symlink({ at: this.at(path), target, uid: this.uid, gid: this.gid });
  }

  async readlink(path: string): Promise<string> {
    this.checkOpen();
    const { target } = await this.meta.readLink({ at: this.at(path), followSymlink: false });
    return target;
  }

  /** Creates a hard link `newPath` to the existing file `existingPath`. */
  async link(existingPath: string, newPath: string): Promise<void> {
    this.checkOpen();
    await this.meta.hardLink({ existing: this.at(existingPath), link: this.at(newPath) });
  }

  // --- lifetime ---------------------------------------------------------------------------------

  /** Files open through this client. */
  /**
   * The KV-cache store's namespace `namespace` (docs/kvcache.md), on this client's routing and bulk
   * sessions. Close it when done; closing the client does not.
   */
  kvcache(namespace: KvNamespaceFields, options: Omit<KvCacheOptions, 'routing' | 'namespace' | 'bulk'> = {}): KvCache {
    return new KvCache({
      ...options,
      routing: this.routing,
      namespace,
      bulk: this.chunks.bulkSessions,
      token: this.token,
    });
  }

  get openHandles(): number {
    return this.handles.size;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Closes open handles (syncing their writes), then routing and every channel. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closing = (async () => {
      const results = await Promise.allSettled([...this.handles].map((handle) => handle.close()));
      for (const result of results) {
        if (result.status === 'rejected')
          this.logger?.warn({ err: result.reason }, 'file handle failed to sync on client close');
      }
      this.routing.close();
      this.chunks.close();
      this.connections.close();
      this.meta.close();
      this.mgmt.close();
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals -------------------------------------------------------------------------------

  private at(path: string): PathAt {
    return { parentIno: ROOT_INO, path: normalizePath(path) };
  }

  private checkOpen(): void {
    if (this.closing !== undefined) throw new SpindleError(ErrorCode.CLIENT_CLOSED, 'the Spindle client is closed');
  }

  private async writeAll(
    handle: FileHandle,
    data: FileData,
    encoding: BufferEncoding | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (typeof data === 'string' || data instanceof Uint8Array) {
      await handle.writeFile(data, { encoding, signal });
      return;
    }
    for await (const part of data as AsyncIterable<string | Uint8Array>) {
      if (signal?.aborted) throw new SpindleError(ErrorCode.CANCELLED, `write of ${handle.path}: cancelled`);
      await handle.writeFile(part, { encoding, signal });
    }
  }
}
