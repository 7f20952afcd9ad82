// `spindle mount DIR` and `spindle umount DIR` (docs/design.md §7, docs/mount.md).
//
// mount runs in the foreground by default: once the directory serves it prints one JSON line
// `{"mount":"/abs/dir","meta":"host:port","pid":123}` on stdout (nothing else goes to stdout; logs
// go to stderr), and SIGINT/SIGTERM flush open files and unmount before it exits 0. It also exits 0
// when the mount is taken away from outside (`spindle umount`). `--daemon` starts the same command
// detached, waits for its ready line, prints it and returns. A stale mount left by a crashed mount
// process is cleared on the next mount.
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CliError, ExitCode } from './exit-codes.js';
import { addressOption, DEFAULT_META_ADDRESS } from './options.js';

/** How long mount waits for the cluster before it reports it unavailable. */
const MOUNT_CONNECT_TIMEOUT_MS = 15_000;
/** How long `mount --daemon` waits for the detached mount's ready line. */
const DAEMON_READY_TIMEOUT_MS = 60_000;

interface MountCommandOptions {
  meta: string;
  daemon?: boolean;
  logFile?: string;
  readOnly?: boolean;
  attrTimeout?: number;
}

/** Longest attribute cache a mount accepts, seconds (a day: longer would hide a missed change too long). */
const ATTR_TIMEOUT_MAX_S = 86_400;

function attrTimeoutOption(text: string): number {
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(seconds >= 0 && seconds <= ATTR_TIMEOUT_MAX_S)) {
    throw new InvalidArgumentError(
      `--attr-timeout must be seconds in 0..${ATTR_TIMEOUT_MAX_S}, got ${JSON.stringify(text)}`,
    );
  }
  return seconds;
}

/** Foreground mount: serves until a signal or an outside unmount. */
async function mountForeground(dir: string, o: MountCommandOptions): Promise<number> {
  const [{ SpindleClient }, { SpindleMount }, { createLogger }, { adminToken }] = await Promise.all([
    import('../client/spindle-client.js'),
    import('../mount/index.js'),
    import('../common/logger.js'),
    import('./credentials.js'),
  ]);
  const logger = createLogger({ name: 'spindle-mount' });
  const mountpoint = resolve(dir);
  // Timers of the client are unref'd; keep the process up while it connects.
  const keepAlive = setInterval(() => {}, 60_000);
  let client: InstanceType<typeof SpindleClient> | undefined;
  try {
    client = await SpindleClient.connect({
      meta: o.meta,
      // The mount acts for every local user (the kernel names the caller of each request), which
      // only an admin credential may do; a client credential would own every file it creates.
      token: adminToken(o.meta),
      readyTimeoutMs: MOUNT_CONNECT_TIMEOUT_MS,
      logger: logger.child({ component: 'client' }),
    });
    const mount = await SpindleMount.mount({
      client,
      mountpoint,
      logger,
      readOnly: o.readOnly === true,
      attrTimeoutS: o.attrTimeout,
    });
    process.stdout.write(`${JSON.stringify({ mount: mountpoint, meta: o.meta, pid: process.pid })}\n`);
    let signalled: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled !== undefined) return;
      signalled = signal;
      logger.info({ signal }, 'unmounting on signal');
      void mount.unmount();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await mount.exited;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return ExitCode.OK;
  } finally {
    clearInterval(keepAlive);
    await client?.close().catch(() => undefined);
  }
}

/** Starts the foreground command detached and returns once it printed its ready line. */
async function mountDaemon(dir: string, o: MountCommandOptions): Promise<number> {
  const mountpoint = resolve(dir);
  const logFile = resolve(
    o.logFile ?? join(tmpdir(), `spindle-mount-${mountpoint.replace(/[^A-Za-z0-9]+/g, '_')}.log`),
  );
  const logFd = openSync(logFile, 'a');
  const script = process.argv[1];
  if (script === undefined)
    throw new CliError('cannot find the spindle command to start in the background', ExitCode.FAILURE);
  const args = [
    ...process.execArgv,
    script,
    'mount',
    mountpoint,
    '--meta',
    o.meta,
    ...(o.readOnly ? ['--read-only'] : []),
    ...(o.attrTimeout !== undefined ? ['--attr-timeout', String(o.attrTimeout)] : []),
  ];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'pipe', logFd],
  });
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<string | undefined>((resolveReady) => {
    const timer = setTimeout(() => resolveReady(undefined), DAEMON_READY_TIMEOUT_MS);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolveReady(line);
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolveReady(undefined);
    });
  });
  lines.close();
  child.stdout!.destroy();
  if (ready === undefined) {
    if (child.exitCode === null) child.kill('SIGTERM');
    throw new CliError(`the background mount did not start; see ${logFile}`, ExitCode.FAILURE);
  }
  const info = JSON.parse(ready) as Record<string, unknown>;
  process.stdout.write(`${JSON.stringify({ ...info, logFile })}\n`);
  child.unref();
  return ExitCode.OK;
}

async function umount(dir: string, o: { lazy?: boolean }): Promise<number> {
  const { detachMount, findFuseMount, isStaleMount } = await import('../mount/mount.js');
  const mountpoint = resolve(dir);
  if (findFuseMount(mountpoint) === undefined && !isStaleMount(mountpoint)) {
    throw new CliError(`${mountpoint} is not a FUSE mount`, ExitCode.USAGE, 'EINVAL');
  }
  try {
    await detachMount(mountpoint, { lazy: o.lazy || isStaleMount(mountpoint) });
  } catch (err) {
    const busy = (err as { code?: string }).code === 'EBUSY';
    throw new CliError(
      busy
        ? `${mountpoint} is busy (a program has a file or its working directory there); close it, or use --lazy`
        : (err as Error).message,
      ExitCode.FAILURE,
      busy ? 'EBUSY' : 'EIO',
    );
  }
  return ExitCode.OK;
}

/** Adds `mount` and `umount` to the program; errors go to `report` (main.ts's error printer). */
export function addMountCommands(
  program: Command,
  state: { exitCode: number },
  report: (state: { exitCode: number }, err: unknown, meta?: string) => void,
): void {
  program
    .command('mount')
    .description(
      'mount the namespace at DIR with FUSE (foreground; Ctrl-C or SIGTERM unmounts); prints one JSON line when ready',
    )
    .argument('<dir>')
    .addOption(
      new Option('--meta <host:port>', 'metadata service of the cluster')
        .env('SPINDLE_META')
        .default(DEFAULT_META_ADDRESS)
        .argParser(addressOption),
    )
    .option('--daemon', 'run in the background; print the ready line and return')
    .option('--read-only', 'mount read-only (every change fails with EROFS)')
    .option(
      '--attr-timeout <seconds>',
      'how long the kernel caches attributes and names (default 1); changes made by other clients are pushed at once',
      attrTimeoutOption,
    )
    .option('--log-file <file>', 'with --daemon: where the background mount logs (default: a file in the temp dir)')
    .action(async (dir: string, o: MountCommandOptions) => {
      try {
        state.exitCode = o.daemon ? await mountDaemon(dir, o) : await mountForeground(dir, o);
      } catch (err) {
        report(state, err, o.meta);
      }
    });

  program
    .command('umount')
    .description('unmount a Spindle mount (the mount process then exits)')
    .argument('<dir>')
    .option('--lazy', 'detach now even if busy; the kernel finishes when the last user leaves')
    .action(async (dir: string, o: { lazy?: boolean }) => {
      try {
        state.exitCode = await umount(dir, o);
      } catch (err) {
        report(state, err);
      }
    });
}
