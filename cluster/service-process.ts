// The handle of one running server process (started by spawnService, after its ready line).
//
// Guarantees: `stop()` is idempotent — SIGTERM, wait, SIGKILL after a timeout — and resolves once
// the process has exited; an exit nobody asked for (no stop()/kill() before it) is reported once
// through `onUnexpectedExit`, so a launcher can tell a crash from a shutdown.
import type { ChildProcess } from 'node:child_process';

/** How long a process may take to exit after SIGTERM before it gets SIGKILL. */
export const STOP_TIMEOUT_MS = 10_000;

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running server process. */
export class ServiceProcess<Ready extends { pid: number }> {
  private readonly exitPromise: Promise<ProcessExit>;
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
  exited(): Promise<ProcessExit> {
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
