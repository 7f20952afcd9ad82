// Starts one server process and waits for its ready line (docs/architecture.md "Processes and
// their command lines"): the step `spindle up`, `spindle meta|storage`, the bench and the test
// harness share.
//
// Guarantees:
// - the process runs `node <NODE_FLAGS> dist/<entry>.js <flags>` (a test fixture: its source through
//   tsx; entries.ts) with the server environment (server-env.ts), the package root as cwd and
//   stdin closed; an entry that cannot run (not built, missing) rejects before anything is spawned,
//   with the SpindleError of entries.ts;
// - its stderr goes straight to `logFile` (appended), so it never blocks on a full pipe and its
//   logs survive a crash of the launcher; stdout is read for the ready line, then drained;
// - it resolves only after the process printed one JSON object as its first stdout line, and
//   otherwise rejects with a ServiceStartError carrying the tail of the log — after killing the
//   process, so a failed start leaves nothing running.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { ErrorCode } from '../common/errors.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { reapOnExit } from './child-reaper.js';
import { entryArgv } from './entries.js';
import { tailFile } from './log-tail.js';
import { serverEnv } from './server-env.js';
import { ServiceProcess } from './service-process.js';
import { ServiceStartError } from './service-start-error.js';

/** How long a process may take to print its ready line (a loaded machine, a large data dir to open). */
const READY_TIMEOUT_MS = 60_000;

export interface SpawnServiceOptions {
  /** Name used in messages and as the log file name, e.g. 'meta', 'storage-2'. */
  name: string;
  /** Entry: a source path relative to the package root, or a test fixture's (entries.ts). */
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
 * is killed and a ServiceStartError carries the tail of its log.
 */
export async function spawnService<Ready extends { pid: number }>(
  options: SpawnServiceOptions,
): Promise<ServiceProcess<Ready>> {
  const { name, logFile } = options;
  mkdirSync(dirname(logFile), { recursive: true });
  const argv = [...(options.commandPrefix ?? []), process.execPath, ...entryArgv(options.entry, options.flags)];
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), {
      cwd: PACKAGE_ROOT,
      env: serverEnv(options.env),
      // stdin ignored; stdout piped for the ready line; stderr straight into the log file.
      stdio: ['ignore', 'pipe', logFd],
      detached: options.detached ?? true,
    });
  } finally {
    closeSync(logFd);
  }
  reapOnExit(child);
  const fail = (code: ErrorCode, message: string): ServiceStartError =>
    new ServiceStartError(code, message, name, logFile, tailFile(logFile));
  const timeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const ready = await new Promise<Ready>((resolveReady, rejectReady) => {
    const lines = createInterface({ input: child.stdout! });
    let settled = false;
    const settle = (err: ServiceStartError | undefined, value?: Ready) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        rejectReady(err);
      } else resolveReady(value!);
    };
    const timer = setTimeout(
      () =>
        settle(
          fail(
            ErrorCode.TIMEOUT,
            `${name} did not get ready within ${timeoutMs} ms; its log ${logFile} shows how far it got ` +
              '(a loaded machine or a large data dir may need a longer ready timeout)',
          ),
        ),
      timeoutMs,
    );
    timer.unref();
    const onAbort = () => settle(fail(ErrorCode.CANCELLED, `${name}: start cancelled`));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    lines.once('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed === 'object' && parsed !== null) {
        settle(undefined, parsed as Ready);
        return;
      }
      settle(
        fail(
          ErrorCode.SERVICE_START_FAILED,
          `${name} printed an unexpected first line on stdout: ${line.slice(0, 200)} ` +
            `(${options.entry} must print one JSON ready line and log to stderr; is it a Spindle server entry?)`,
        ),
      );
    });
    child.once('error', (err) =>
      settle(
        fail(
          ErrorCode.SERVICE_START_FAILED,
          `${name} could not be started: ${err.message} (check that ${argv[0]} exists and can be executed)`,
        ),
      ),
    );
    child.once('exit', (code, signal) => {
      // Give readline a moment: it may still hold the ready line the child printed before exiting.
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      setImmediate(() =>
        settle(
          fail(
            ErrorCode.SERVICE_START_FAILED,
            `${name} exited before it was ready (${how}); the end of its log ${logFile} says why: ` +
              'fix that and start again',
          ),
        ),
      );
    });
  });
  // Keep draining stdout so a chatty child can never block on a full pipe.
  child.stdout!.resume();
  return new ServiceProcess<Ready>(name, child, ready, logFile);
}
