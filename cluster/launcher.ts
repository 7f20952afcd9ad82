// Starts Spindle server processes and local clusters: the one piece of code behind `spindle up`,
// `spindle meta`, `spindle storage` and the test harness (test/harness/cluster.ts).
//
// Guarantees:
// - every server runs as its own process, `node dist/<entry>.js …` (docs/architecture.md),
//   never imported, with the tuned glibc malloc settings of docs/performance.md in its env and
//   the V8 heap flags of NODE_FLAGS;
// - a start resolves only after the process printed its one-line JSON ready output, and rejects
//   (with the tail of its log) if it exits, prints garbage or does not get ready in time;
// - each child's stderr goes straight to a log file under the data dir (so a child never blocks
//   on a full pipe, and its logs survive a crash of the launcher);
// - `stop()` is idempotent: SIGTERM, wait, SIGKILL after a timeout; a process 'exit' hook
//   SIGKILLs whatever is still running if the launcher itself goes away abruptly.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  fstatSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { callUnary, CHANNEL_OPTIONS, insecureChannel } from '../common/rpc.js';
import { MgmtClient, type RoutingInfo } from '../proto/index.js';
import type { DataTransport } from '../common/bulk/transport.js';

/** Bulk listener port of storage node i when the cluster runs on fixed ports: port + 100 + i. */
const BULK_PORT_OFFSET = 100;

/** The Spindle package (the repository root in a checkout): children run with it as their cwd. */
export const REPO_ROOT = PACKAGE_ROOT;

/** glibc malloc settings for every server process: all three together (docs/performance.md). */
export const TUNED_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '33554432',
  MALLOC_TRIM_THRESHOLD_: '1073741824',
  MALLOC_TOP_PAD_: '268435456',
};

/**
 * V8 flags of every process started from an entry here (servers, bench workers). Chunk I/O
 * allocates many short-lived multi-MiB Buffers; V8 counts their bytes against the old-space
 * allocation limit, which for a server's small JS heap (~15 MiB) is reached after ~12 MiB of
 * Buffers: a full mark-compact every few chunks, though the Buffers die young and scavenges free
 * them. Starting the limit at 256 MiB leaves them to scavenges: 100 × 4 MiB gRPC writes went from
 * 32 to 7 mark-compacts and the sender's CPU halved, with the same peak RSS (~166 MB).
 */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=256'];

/** How long a process may take to print its ready line (a loaded machine, a large data dir to open). */
export const READY_TIMEOUT_MS = 60_000;
/** How long a process may take to exit after SIGTERM before it gets SIGKILL. */
export const STOP_TIMEOUT_MS = 10_000;
/** How long `up` waits for the manager to publish a complete chain table. */
export const CHAIN_TABLE_TIMEOUT_MS = 60_000;
/** Bytes of a child's log shown when it fails to start. */
const LOG_TAIL_BYTES = 4096;

export type Preset = 'production' | 'test';

/** Ready line of meta/main.ts (docs/architecture.md). */
export interface MetaReady {
  service: 'meta';
  addr: string;
  metrics: string;
  pid: number;
  dataDir: string;
}

/** Ready line of storage/main.ts (docs/architecture.md). */
export interface StorageReady {
  service: 'storage';
  id: number;
  addr: string;
  metrics: string;
  pid: number;
  dataDir: string;
  targets: number[];
}

/** Failure to start a service; `logTail` holds the end of its stderr log. */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly service: string,
    readonly logFile: string,
    readonly logTail: string,
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}

/** Absolute `file:` URL of tsx's loader (a dev dependency), so children find it whatever their cwd. */
function tsxLoaderUrl(): string {
  const require = createRequire(join(PACKAGE_ROOT, 'package.json'));
  return pathToFileURL(require.resolve('tsx')).href;
}

/**
 * The node arguments that run `entry` (a source path such as `meta/main.ts`): the compiled
 * `dist/meta/main.js` of the package, so no server compiles TypeScript at start. Test fixtures
 * (under `test/`) are not part of the build and run from source through tsx.
 */
function entryScript(entry: string): string[] {
  if (entry.startsWith('test/')) return ['--import', tsxLoaderUrl(), resolve(PACKAGE_ROOT, entry)];
  const compiled = join(PACKAGE_ROOT, 'dist', entry.replace(/\.ts$/, '.js'));
  if (!existsSync(compiled)) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${compiled} is missing: run \`npm run build\` in ${PACKAGE_ROOT} first`,
    );
  }
  return [compiled];
}

/**
 * How child processes allocate: 'tuned' (TUNED_MALLOC_ENV, the default) or 'default' (glibc's
 * own settings, every MALLOC_* variable removed). Chosen by SPINDLE_MALLOC in the environment,
 * which children inherit, so one setting covers every Spindle process of a run (`spindle up
 * --malloc default`, `spindle bench --malloc default`).
 */
export type MallocMode = 'tuned' | 'default';
export const MALLOC_MODES: readonly MallocMode[] = ['tuned', 'default'];

export function mallocMode(env: Record<string, string | undefined> = process.env): MallocMode {
  return env['SPINDLE_MALLOC'] === 'default' ? 'default' : 'tuned';
}

/** `base` with the malloc settings of `mode`: the tuned variables added, or every MALLOC_* removed. */
export function withMallocEnv(
  base: Record<string, string | undefined>,
  mode: MallocMode = mallocMode(base),
): NodeJS.ProcessEnv {
  if (mode === 'tuned') return { ...base, ...TUNED_MALLOC_ENV };
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) if (!key.startsWith('MALLOC_')) env[key] = value;
  return env;
}

/** The malloc variables processes get in `mode` (what bench rows record). */
export function mallocSettings(mode: MallocMode = mallocMode()): Record<string, string> {
  return mode === 'tuned' ? { ...TUNED_MALLOC_ENV } : { SPINDLE_MALLOC: 'default' };
}

/** Environment of every server process: ours plus the malloc settings of SPINDLE_MALLOC (tuned by default). */
export function serverEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return withMallocEnv({ ...process.env, ...extra });
}

/** argv (after `node`) that runs an entry of this package (with NODE_FLAGS); see entryScript. */
export function entryArgv(entry: string, flags: string[]): string[] {
  return [...NODE_FLAGS, ...entryScript(entry), ...flags];
}

/** Process entries, relative to the repository root (tests may point them at fakes). */
export interface ServiceEntries {
  meta: string;
  storage: string;
}
export const DEFAULT_ENTRIES: ServiceEntries = { meta: 'meta/main.ts', storage: 'storage/main.ts' };

// Every live child of this process, so an abrupt exit can still kill them (sync, in 'exit').
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
          try {
            process.kill(c.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    });
  }
}

/** Reads the last `bytes` of a file (empty string when it does not exist). */
export function tailFile(path: string, bytes = LOG_TAIL_BYTES): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    let text = buffer.toString('utf8');
    if (length < size) text = text.slice(text.indexOf('\n') + 1);
    return text.trimEnd();
  } finally {
    closeSync(fd);
  }
}

/** One running server process. */
export class ServiceProcess<Ready extends { pid: number }> {
  private readonly exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stopPromise: Promise<void> | undefined;
  /** Set once somebody asked the process to go (stop or kill): its exit is then not a crash. */
  private exitExpected = false;
  /** Called when the process exits without `stop()`/`kill()` having been asked (a crash). */
  onUnexpectedExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly ready: Ready,
    readonly logFile: string,
  ) {
    this.exitPromise = new Promise((resolveExit) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolveExit({ code: child.exitCode, signal: child.signalCode as NodeJS.Signals | null });
        return;
      }
      child.once('exit', (code, signal) => {
        resolveExit({ code, signal });
        if (!this.exitExpected) this.onUnexpectedExit?.(code, signal);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the process has exited. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exitPromise;
  }

  /** Sends a signal without waiting (SIGKILL simulates a crash). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.exitExpected = true;
    if (!this.running) return;
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, wait up to `timeoutMs`, then SIGKILL. Idempotent. */
  stop(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    if (this.stopPromise === undefined) {
      this.exitExpected = true;
      this.stopPromise = (async () => {
        if (!this.running) return;
        this.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          this.exitPromise.then(() => false),
          new Promise<boolean>((r) => {
            timer = setTimeout(() => r(true), timeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut && this.running) {
          this.kill('SIGKILL');
          await this.exitPromise;
        }
      })();
    }
    return this.stopPromise;
  }
}

export interface SpawnServiceOptions {
  /** Name used in messages and as the log file name, e.g. 'meta', 'storage-2'. */
  name: string;
  /** Entry file, relative to the repository root or absolute. */
  entry: string;
  flags: string[];
  /** Where the child's stderr goes (appended). */
  logFile: string;
  readyTimeoutMs?: number;
  env?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Own process group (default true): a terminal's Ctrl-C then reaches only the launcher, which
   * stops children in order. False keeps children in the caller's group, so a Ctrl-C that kills
   * the caller (a test runner) reaches them too.
   */
  detached?: boolean;
  /**
   * A command the node process runs under, e.g. ['ip', 'netns', 'exec', 'ns1'] (tests run a
   * storage node inside a network namespace). It must exec node, so the pid stays node's.
   */
  commandPrefix?: string[];
}

/**
 * Spawns a server entry and resolves once it printed its JSON ready line. On failure the process
 * is killed and a LaunchError carries the tail of its log.
 */
export async function spawnService<Ready extends { pid: number }>(
  options: SpawnServiceOptions,
): Promise<ServiceProcess<Ready>> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const logFd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    const prefix = options.commandPrefix ?? [];
    const argv = [...prefix, process.execPath, ...entryArgv(options.entry, options.flags)];
    child = spawn(argv[0]!, argv.slice(1), {
      cwd: REPO_ROOT,
      env: serverEnv(options.env),
      // stdin ignored; stdout piped for the ready line; stderr straight into the log file.
      stdio: ['ignore', 'pipe', logFd],
      detached: options.detached ?? true,
    });
  } finally {
    closeSync(logFd);
  }
  track(child);
  const fail = (message: string): LaunchError => {
    const tail = tailFile(options.logFile);
    return new LaunchError(message, options.name, options.logFile, tail);
  };
  const timeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const ready = await new Promise<Ready>((resolveReady, rejectReady) => {
    const lines = createInterface({ input: child.stdout! });
    let settled = false;
    const settle = (err: Error | undefined, value?: Ready) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        rejectReady(err);
      } else resolveReady(value!);
    };
    const timer = setTimeout(() => settle(fail(`${options.name} did not get ready within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    const onAbort = () => settle(fail(`${options.name}: start cancelled`));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    lines.once('line', (line) => {
      try {
        const parsed = JSON.parse(line) as Ready;
        if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
        settle(undefined, parsed);
      } catch {
        settle(fail(`${options.name} printed an unexpected first line on stdout: ${line.slice(0, 200)}`));
      }
    });
    child.once('error', (err) => settle(fail(`${options.name} could not be started: ${err.message}`)));
    child.once('exit', (code, signal) => {
      // Give the log file a moment: the exit can overtake the last stderr write only in theory,
      // since the child writes it directly, but readline may still hold the ready line.
      setImmediate(() =>
        settle(
          fail(`${options.name} exited before it was ready (${signal ? `signal ${signal}` : `exit code ${code}`})`),
        ),
      );
    });
  });
  // Keep draining stdout so a chatty child can never block on a full pipe.
  child.stdout!.resume();
  return new ServiceProcess<Ready>(options.name, child, ready, options.logFile);
}

export interface MetaOptions {
  dataDir: string;
  host?: string;
  port?: number;
  metricsPort?: number;
  replicas?: number;
  storageNodes?: number;
  preset?: Preset;
  config?: string;
  logFile: string;
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  entry?: string;
  env?: Record<string, string>;
  detached?: boolean;
}

/** The command-line flags of meta/main.ts for these options. */
export function metaFlags(
  o: Omit<MetaOptions, 'logFile' | 'entry' | 'signal' | 'readyTimeoutMs' | 'env' | 'detached'>,
): string[] {
  const flags = ['--data-dir', resolve(o.dataDir), '--host', o.host ?? '127.0.0.1', '--port', String(o.port ?? 0)];
  flags.push('--metrics-port', String(o.metricsPort ?? 0));
  if (o.replicas !== undefined) flags.push('--replicas', String(o.replicas));
  if (o.storageNodes !== undefined) flags.push('--storage-nodes', String(o.storageNodes));
  if (o.preset !== undefined) flags.push('--preset', o.preset);
  if (o.config !== undefined) flags.push('--config', resolve(o.config));
  return flags;
}

export function startMeta(o: MetaOptions): Promise<ServiceProcess<MetaReady>> {
  return spawnService<MetaReady>({
    name: 'meta',
    entry: o.entry ?? DEFAULT_ENTRIES.meta,
    flags: metaFlags(o),
    logFile: o.logFile,
    readyTimeoutMs: o.readyTimeoutMs,
    signal: o.signal,
    env: o.env,
    detached: o.detached,
  });
}

export interface StorageOptions {
  name?: string;
  dataDir: string;
  meta: string;
  host?: string;
  port?: number;
  metricsPort?: number;
  targets?: number;
  preset?: Preset;
  config?: string;
  /** Where chunk bytes travel (default: the config's, 'bulk'). */
  dataTransport?: DataTransport;
  /** Port of the bulk listener (default: the config's, 0 = pick one). */
  bulkPort?: number;
  logFile: string;
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  entry?: string;
  env?: Record<string, string>;
  detached?: boolean;
  /** See SpawnServiceOptions.commandPrefix. */
  commandPrefix?: string[];
}

/** The command-line flags of storage/main.ts for these options. */
export function storageFlags(
  o: Omit<
    StorageOptions,
    'logFile' | 'name' | 'entry' | 'signal' | 'readyTimeoutMs' | 'env' | 'detached' | 'commandPrefix'
  >,
): string[] {
  const flags = [
    '--data-dir',
    resolve(o.dataDir),
    '--meta',
    o.meta,
    '--host',
    o.host ?? '127.0.0.1',
    '--port',
    String(o.port ?? 0),
  ];
  flags.push('--metrics-port', String(o.metricsPort ?? 0));
  if (o.targets !== undefined) flags.push('--targets', String(o.targets));
  if (o.preset !== undefined) flags.push('--preset', o.preset);
  if (o.config !== undefined) flags.push('--config', resolve(o.config));
  if (o.dataTransport !== undefined) flags.push('--data-transport', o.dataTransport);
  if (o.bulkPort !== undefined) flags.push('--bulk-port', String(o.bulkPort));
  return flags;
}

export function startStorage(o: StorageOptions): Promise<ServiceProcess<StorageReady>> {
  return spawnService<StorageReady>({
    name: o.name ?? 'storage',
    entry: o.entry ?? DEFAULT_ENTRIES.storage,
    flags: storageFlags(o),
    logFile: o.logFile,
    readyTimeoutMs: o.readyTimeoutMs,
    signal: o.signal,
    env: o.env,
    detached: o.detached,
    commandPrefix: o.commandPrefix,
  });
}

/** Fetches the manager's routing snapshot once. */
export async function fetchRouting(metaAddress: string, timeoutMs = 5_000): Promise<RoutingInfo | undefined> {
  const client = new MgmtClient(metaAddress, insecureChannel(), CHANNEL_OPTIONS);
  try {
    const response = await callUnary(client, client.getRoutingInfo, { knownVersion: 0 }, 'mgmt.GetRoutingInfo', {
      timeoutMs,
    });
    return response.routing;
  } finally {
    client.close();
  }
}

/** True when chain table `tableId` exists and each of its chains has `replicas` serving targets. */
export function chainTableComplete(routing: RoutingInfo | undefined, replicas: number, tableId = 1): boolean {
  if (routing === undefined) return false;
  const tables = routing.chainTables.filter((t) => t.tableId === tableId);
  if (tables.length === 0) return false;
  const latest = tables.reduce((a, b) => (b.version > a.version ? b : a));
  if (latest.chainIds.length === 0) return false;
  const chains = new Map(routing.chains.map((c) => [c.chainId, c]));
  return latest.chainIds.every((id) => (chains.get(id)?.targetIds.length ?? 0) >= replicas);
}

/** Polls the manager until chain table 1 is complete (what a client needs before its first write). */
export async function waitForChainTable(
  metaAddress: string,
  replicas: number,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<RoutingInfo> {
  const deadline = Date.now() + (options.timeoutMs ?? CHAIN_TABLE_TIMEOUT_MS);
  let lastError: unknown;
  for (;;) {
    if (options.signal?.aborted) throw new Error('cancelled while waiting for the chain table');
    try {
      const routing = await fetchRouting(metaAddress);
      if (chainTableComplete(routing, replicas)) return routing!;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(
        `the cluster manager at ${metaAddress} did not publish a complete chain table within ${options.timeoutMs ?? CHAIN_TABLE_TIMEOUT_MS} ms${why}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100).unref());
  }
}

export interface LocalClusterOptions {
  /** Everything lives here: meta/, storage-<i>/, logs/. */
  dataDir: string;
  storageNodes?: number;
  replicas?: number;
  targetsPerNode?: number;
  /** Meta gRPC port; storage node i gets port + i. 0 picks free ports for everything. */
  port?: number;
  /** Meta metrics port; storage node i gets metricsPort + i. 0 picks free ports. */
  metricsPort?: number;
  host?: string;
  preset?: Preset;
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  /** Server entries (default meta/main.ts and storage/main.ts). */
  entries?: ServiceEntries;
  /** Extra environment for every server process. */
  env?: Record<string, string>;
  /** Children in their own process group (default true; see SpawnServiceOptions.detached). */
  detached?: boolean;
  /** Per storage index: another listen host and/or a command prefix (tests: a network namespace). */
  storageOverrides?: Record<number, { host?: string; commandPrefix?: string[] }>;
  /** Where chunk bytes travel between clients and storage nodes (default 'bulk'). */
  dataTransport?: DataTransport;
}

export interface StorageNodeInfo {
  id: number;
  addr: string;
  metrics: string;
  pid: number;
  dataDir: string;
  targets: number[];
}

/** The line `spindle up` prints when ready. */
export interface ClusterSummary {
  meta: string;
  metrics: string;
  metaPid: number;
  storage: Array<{ id: number; addr: string; metrics: string; pid: number; dataDir: string }>;
  dataDir: string;
  logs: string;
}

/** Meta + N storage node processes on one machine (what `spindle up` and the test harness run). */
export class LocalCluster {
  readonly dataDir: string;
  readonly options: Required<Omit<LocalClusterOptions, 'signal' | 'readyTimeoutMs'>> & { readyTimeoutMs?: number };
  meta!: ServiceProcess<MetaReady>;
  /** Storage processes by local index (1-based, matches D/storage-<i>). */
  readonly storage = new Map<number, ServiceProcess<StorageReady>>();
  private stopped: Promise<void> | undefined;
  /** Called when a child exits that nobody asked to stop. */
  onUnexpectedExit:
    | ((name: string, code: number | null, signal: NodeJS.Signals | null, logFile: string) => void)
    | undefined;

  private constructor(options: LocalClusterOptions) {
    this.dataDir = resolve(options.dataDir);
    this.options = {
      dataDir: this.dataDir,
      storageNodes: options.storageNodes ?? 3,
      replicas: options.replicas ?? 3,
      targetsPerNode: options.targetsPerNode ?? 3,
      port: options.port ?? 0,
      metricsPort: options.metricsPort ?? 0,
      host: options.host ?? '127.0.0.1',
      preset: options.preset ?? 'production',
      readyTimeoutMs: options.readyTimeoutMs,
      entries: options.entries ?? DEFAULT_ENTRIES,
      env: options.env ?? {},
      detached: options.detached ?? true,
      storageOverrides: options.storageOverrides ?? {},
      dataTransport: options.dataTransport ?? 'bulk',
    };
  }

  get logDir(): string {
    return join(this.dataDir, 'logs');
  }

  storageDataDir(index: number): string {
    return join(this.dataDir, `storage-${index}`);
  }

  /** Starts meta, then every storage node, then waits for the chain table. Cleans up on failure. */
  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const cluster = new LocalCluster(options);
    const o = cluster.options;
    if (!Number.isInteger(o.storageNodes) || o.storageNodes < 1)
      throw new Error(`--storage-nodes must be a positive integer (got ${o.storageNodes})`);
    if (!Number.isInteger(o.replicas) || o.replicas < 1)
      throw new Error(`--replicas must be a positive integer (got ${o.replicas})`);
    if (o.replicas > o.storageNodes) {
      throw new Error(
        `--replicas ${o.replicas} needs at least as many storage nodes (got --storage-nodes ${o.storageNodes}): each replica of a chain lives on a different node`,
      );
    }
    if (!Number.isInteger(o.targetsPerNode) || o.targetsPerNode < 1)
      throw new Error(`--targets-per-node must be a positive integer (got ${o.targetsPerNode})`);
    mkdirSync(cluster.dataDir, { recursive: true });
    try {
      await cluster.startMetaProcess(o.port, options.signal);
      // Node ids are given in registration order: start fresh nodes one by one so that
      // storage-<i> becomes node i; nodes that already have an id (a restart) start together.
      const indexes = Array.from({ length: o.storageNodes }, (_, i) => i + 1);
      const fresh = indexes.filter((i) => !existsSync(join(cluster.storageDataDir(i), 'node.json')));
      const known = indexes.filter((i) => !fresh.includes(i));
      const startKnown = Promise.all(known.map((i) => cluster.startStorageNode(i, options.signal)));
      startKnown.catch(() => undefined);
      for (const i of fresh) await cluster.startStorageNode(i, options.signal);
      await startKnown;
      await waitForChainTable(cluster.meta.ready.addr, o.replicas, { signal: options.signal });
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private watch(name: string, service: ServiceProcess<{ pid: number }>): void {
    service.onUnexpectedExit = (code, signal) => this.onUnexpectedExit?.(name, code, signal, service.logFile);
  }

  /**
   * Starts meta on `port` (0: a free one). After a crash (`meta.kill()`), `restartMeta()` starts it
   * again on its old data dir and its old port, so storage nodes and clients find it again.
   */
  private async startMetaProcess(port: number, signal?: AbortSignal): Promise<ServiceProcess<MetaReady>> {
    const o = this.options;
    this.meta = await startMeta({
      dataDir: this.dataDir,
      host: o.host,
      port,
      metricsPort: o.metricsPort,
      replicas: o.replicas,
      storageNodes: o.storageNodes,
      preset: o.preset,
      logFile: join(this.logDir, 'meta.log'),
      readyTimeoutMs: o.readyTimeoutMs,
      signal,
      entry: o.entries.meta,
      env: o.env,
      detached: o.detached,
    });
    this.watch('meta', this.meta);
    return this.meta;
  }

  /** Restarts a stopped (killed) meta process on its old data dir and port. */
  async restartMeta(): Promise<ServiceProcess<MetaReady>> {
    if (this.meta.running) throw new Error(`meta is still running (pid ${this.meta.pid})`);
    const port = Number(this.meta.ready.addr.slice(this.meta.ready.addr.lastIndexOf(':') + 1));
    return this.startMetaProcess(port);
  }

  /** Starts (or restarts, on its old data) storage node `index`. */
  async startStorageNode(index: number, signal?: AbortSignal): Promise<ServiceProcess<StorageReady>> {
    const existing = this.storage.get(index);
    if (existing?.running) throw new Error(`storage-${index} is already running (pid ${existing.pid})`);
    const o = this.options;
    const override = o.storageOverrides[index] ?? {};
    const service = await startStorage({
      name: `storage-${index}`,
      dataDir: this.storageDataDir(index),
      meta: this.meta.ready.addr,
      host: override.host ?? o.host,
      commandPrefix: override.commandPrefix,
      port: o.port === 0 ? 0 : o.port + index,
      metricsPort: o.metricsPort === 0 ? 0 : o.metricsPort + index,
      // With fixed ports, storage node i's bulk listener is on port + 100 + i.
      bulkPort: o.port === 0 ? 0 : o.port + BULK_PORT_OFFSET + index,
      dataTransport: o.dataTransport,
      targets: o.targetsPerNode,
      preset: o.preset,
      logFile: join(this.logDir, `storage-${index}.log`),
      readyTimeoutMs: o.readyTimeoutMs,
      signal,
      entry: o.entries.storage,
      env: o.env,
      detached: o.detached,
    });
    this.storage.set(index, service);
    this.watch(`storage-${index}`, service);
    return service;
  }

  /** Local index of the storage process whose node id is `nodeId`. */
  indexOfNode(nodeId: number): number {
    for (const [index, service] of this.storage) if (service.ready.id === nodeId) return index;
    throw new Error(`no storage node with id ${nodeId} in this cluster`);
  }

  nodes(): StorageNodeInfo[] {
    return [...this.storage.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, s]) => ({
        id: s.ready.id,
        addr: s.ready.addr,
        metrics: s.ready.metrics,
        pid: s.pid,
        dataDir: s.ready.dataDir,
        targets: s.ready.targets,
      }));
  }

  summary(): ClusterSummary {
    return {
      meta: this.meta.ready.addr,
      metrics: this.meta.ready.metrics,
      metaPid: this.meta.pid,
      storage: this.nodes().map(({ id, addr, metrics, pid, dataDir }) => ({ id, addr, metrics, pid, dataDir })),
      dataDir: this.dataDir,
      logs: this.logDir,
    };
  }

  /** Every pid this cluster started that may still run. */
  pids(): number[] {
    const all: Array<ServiceProcess<{ pid: number }> | undefined> = [this.meta, ...this.storage.values()];
    return all
      .filter((s): s is ServiceProcess<{ pid: number }> => s !== undefined && s.child.pid !== undefined)
      .map((s) => s.pid);
  }

  /** Stops storage nodes first (they heartbeat to meta), then meta. Idempotent. */
  stop(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    if (this.stopped === undefined) {
      this.stopped = (async () => {
        await Promise.all([...this.storage.values()].map((s) => s.stop(timeoutMs)));
        if (this.meta !== undefined) await this.meta.stop(timeoutMs);
      })();
    }
    return this.stopped;
  }
}

/** A lock file so two launchers do not run on one data dir at once. */
export function acquireDataDirLock(dataDir: string): { release(): void } {
  const lockFile = join(dataDir, 'up.pid');
  mkdirSync(dataDir, { recursive: true });
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new Error(
        `a cluster is already running on ${dataDir} (launcher pid ${pid}); stop it first (kill ${pid}) or use another --data-dir`,
      );
    }
  }
  writeFileSync(lockFile, `${process.pid}\n`);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        if (readFileSync(lockFile, 'utf8').trim() === String(process.pid)) rmSync(lockFile, { force: true });
      } catch {
        // gone already
      }
    },
  };
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
