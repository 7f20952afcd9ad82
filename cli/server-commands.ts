// `spindle up`, `spindle meta`, `spindle storage`: start servers in the foreground.
//
// `up` runs meta + N storage nodes as child processes (the launcher, cluster/), prints one JSON
// line when a client can write, and stops every child on Ctrl-C/SIGTERM/SIGHUP (storage nodes
// first, SIGTERM then SIGKILL after a timeout), exiting 0. `meta` and `storage` run one service
// with inherited stdio and pass signals on; their exit code is the service's.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import {
  acquireDataDirLock,
  DEFAULT_ENTRIES,
  entryArgv,
  LocalCluster,
  type MallocMode,
  type MetaFlagOptions,
  metaFlags,
  type ServiceEntries,
  ServiceStartError,
  STOP_TIMEOUT_MS,
  Supervisor,
  type StorageFlagOptions,
  serverEnv,
  storageFlags,
} from '../cluster/index.js';
import type { DataTransport } from '../common/bulk/transport.js';
import type { Preset } from '../common/config.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { CliError, ExitCode } from './exit-codes.js';

/** Test hook: point `up` at other server entries (documented in test/integration, not for users). */
function entriesFromEnv(): ServiceEntries {
  return {
    meta: process.env.SPINDLE_META_ENTRY ?? DEFAULT_ENTRIES.meta,
    storage: process.env.SPINDLE_STORAGE_ENTRY ?? DEFAULT_ENTRIES.storage,
  };
}

export interface UpOptions {
  dataDir: string;
  storageNodes: number;
  replicas: number;
  targetsPerNode: number;
  port: number;
  metricsPort: number;
  preset: Preset;
  /** How storage nodes move chunk bytes (default 'bulk'). */
  dataTransport?: DataTransport;
  /** glibc malloc settings of every server (default 'tuned'). */
  malloc?: MallocMode;
  /** Metadata store (default lmdb); etcd starts a local etcd-server and metaCount metas. */
  kv?: 'lmdb' | 'etcd';
  metaCount?: number;
  /** An existing etcd cluster (comma-separated client URLs) instead of a local etcd-server. */
  etcd?: string;
  /** Restart a crashed meta or storage process (default true; `--no-restart` turns it off). */
  restart?: boolean;
  /** Bearer tokens on every call (default on; docs/security.md). */
  auth?: 'on' | 'off';
}

const SHUTDOWN_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function hintFor(err: ServiceStartError, options: UpOptions): string {
  const tail = err.logTail;
  if (/EADDRINUSE|address already in use|cannot listen/i.test(tail + err.message)) {
    return (
      'A port is already in use: another cluster may be running. Stop it, or pick other ports with ' +
      `--port (now ${options.port}; storage nodes use the next ${options.storageNodes}).`
    );
  }
  if (/ENOSPC|no space/i.test(tail))
    return `The disk under ${options.dataDir} is full: free space or use another --data-dir.`;
  if (/EACCES|permission denied/i.test(tail))
    return `Spindle cannot write to ${options.dataDir}: fix its permissions or use another --data-dir.`;
  return (
    `Fix the cause above (full log: ${err.logFile}) and run \`spindle up\` again; ` +
    `the data in ${options.dataDir} is kept.`
  );
}

/** Runs `spindle up`; resolves with the exit code once the cluster has been stopped. */
export async function runUp(options: UpOptions): Promise<number> {
  const dataDir = resolve(options.dataDir);
  const lock = acquireDataDirLock(dataDir);
  const abort = new AbortController();
  let cluster: LocalCluster | undefined;
  let signalled: NodeJS.Signals | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));

  let supervisor: Supervisor | undefined;
  const shutdown = async (code: number) => {
    try {
      // No restarts while stopping: a crash during shutdown must not start a process nobody stops.
      await supervisor?.close();
      if (cluster !== undefined) await cluster.stop(STOP_TIMEOUT_MS);
    } finally {
      lock.release();
      resolveDone(code);
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled !== undefined) {
      // Second Ctrl-C: do not wait any longer.
      process.stderr.write(`spindle up: ${signal} again, killing every process now\n`);
      for (const pid of cluster?.pids() ?? []) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      return;
    }
    signalled = signal;
    process.stderr.write(
      `spindle up: ${signal} received, stopping ${cluster ? 'the cluster' : 'the services started so far'}…\n`,
    );
    abort.abort();
    if (cluster !== undefined) void shutdown(ExitCode.OK);
  };
  for (const s of SHUTDOWN_SIGNALS) process.on(s, onSignal);

  try {
    cluster = await LocalCluster.start({
      dataDir,
      storageNodes: options.storageNodes,
      replicas: options.replicas,
      targetsPerNode: options.targetsPerNode,
      port: options.port,
      metricsPort: options.metricsPort,
      preset: options.preset,
      dataTransport: options.dataTransport,
      kv: options.kv,
      metaCount: options.metaCount,
      etcdEndpoints: options.etcd?.split(','),
      auth: options.auth,
      env: options.malloc === 'default' ? { SPINDLE_MALLOC: 'default' } : {},
      entries: entriesFromEnv(),
      signal: abort.signal,
    });
  } catch (err) {
    lock.release();
    for (const s of SHUTDOWN_SIGNALS) process.off(s, onSignal);
    if (signalled !== undefined) {
      process.stderr.write('spindle up: stopped before the cluster was ready\n');
      return ExitCode.OK;
    }
    if (err instanceof ServiceStartError) {
      const lines = err.logTail.split('\n').slice(-20).join('\n');
      process.stderr.write(`spindle up: ${err.message}\n`);
      if (lines.trim() !== '') process.stderr.write(`--- last lines of ${err.logFile} ---\n${lines}\n---\n`);
      process.stderr.write(`spindle up: ${hintFor(err, { ...options, dataDir })}\n`);
      return ExitCode.FAILURE;
    }
    throw err;
  }
  if (signalled !== undefined) {
    await shutdown(ExitCode.OK);
  } else {
    const running = cluster;
    if (options.restart === false)
      running.onUnexpectedExit = (name, code, sig, logFile) =>
        reportExitWithoutRestart(running, name, sig ? `signal ${sig}` : `exit code ${code}`, logFile);
    else {
      supervisor = new Supervisor(running, {
        log: (line) => process.stderr.write(`spindle up: ${line}\n`),
        onGiveUp: (name) => {
          if (name === 'meta' && running.options.kv !== 'etcd') {
            process.stderr.write('spindle up: the metadata service cannot be restarted, stopping the cluster\n');
            void shutdown(ExitCode.FAILURE);
          } else reportExitWithoutRestart(running, name, 'gave up restarting', `${running.logDir}/${name}.log`);
        },
      });
    }
    process.stdout.write(`${JSON.stringify({ ...running.summary(), pid: process.pid })}\n`);
  }
  const code = await done;
  for (const s of SHUTDOWN_SIGNALS) process.off(s, onSignal);
  return code;
}

/** What `up` says when a process exits and is not restarted (--no-restart, or restarts gave up). */
function reportExitWithoutRestart(cluster: LocalCluster, name: string, how: string, logFile: string): void {
  process.stderr.write(`spindle up: ${name} exited unexpectedly (${how}); log: ${logFile}\n`);
  if (name === 'meta' && cluster.options.kv !== 'etcd') {
    process.stderr.write('spindle up: the metadata service is gone; stop with Ctrl-C and run `spindle up` again\n');
  } else if (name.startsWith('meta') || name.startsWith('etcd')) {
    // With etcd the other meta processes carry on (one takes the manager role).
    process.stderr.write('spindle up: the cluster keeps serving from the other meta processes\n');
  } else {
    const index = Number(name.replace('storage-', ''));
    process.stderr.write(
      'spindle up: the cluster keeps serving from the other replicas; restart the node with: ' +
        `npx spindle storage --data-dir ${cluster.storageDataDir(index)} --meta ${cluster.metaAddresses}\n`,
    );
  }
}

/** Runs one service entry in the foreground with inherited stdio; resolves with its exit code. */
export function runService(entry: 'meta' | 'storage', flags: string[]): Promise<number> {
  const entries = entriesFromEnv();
  const child = spawn(process.execPath, entryArgv(entries[entry], flags), {
    cwd: PACKAGE_ROOT,
    env: serverEnv(),
    stdio: 'inherit',
    // Own process group, so the service gets exactly one signal: the one forwarded below.
    detached: true,
  });
  const forward = (signal: NodeJS.Signals) => {
    child.kill(signal);
  };
  for (const s of SHUTDOWN_SIGNALS) process.on(s, forward);
  const killOnExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  return new Promise((resolveExit, reject) => {
    child.once('error', (err) => reject(new CliError(`cannot start ${entry}: ${err.message}`)));
    child.once('exit', (code, signal) => {
      for (const s of SHUTDOWN_SIGNALS) process.off(s, forward);
      process.off('exit', killOnExit);
      if (signal === 'SIGINT' || signal === 'SIGTERM') resolveExit(ExitCode.OK);
      else resolveExit(code ?? ExitCode.FAILURE);
    });
  });
}

/** `spindle meta`: the flags (already checked by the CLI) go to meta/main.ts as they are. */
export function runMeta(o: MetaFlagOptions): Promise<number> {
  return runService('meta', metaFlags(o));
}

/** `spindle storage`: the flags (already checked by the CLI) go to storage/main.ts as they are. */
export function runStorage(
  o: Omit<StorageFlagOptions, 'auth'> & { auth?: 'on' | 'off'; authPublicKey?: string },
): Promise<number> {
  // The node's token comes from the global --token-file (or $SPINDLE_TOKEN_FILE).
  const tokenFile = process.env.SPINDLE_TOKEN_FILE;
  const auth =
    o.auth === 'off'
      ? 'off'
      : tokenFile !== undefined && o.authPublicKey !== undefined
        ? { tokenFile, publicKeyFile: o.authPublicKey }
        : undefined;
  return runService('storage', storageFlags({ ...o, auth }));
}
