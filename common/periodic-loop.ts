// A background loop that runs one pass every `intervalMs` on an injected Clock: the heartbeats
// and resync checks of a storage node, the failure checks and the garbage collector of the
// metadata service are all built on it.
//
// Guarantees:
// - Passes never overlap: runNow() while a pass runs (the loop's or another runNow's) shares that
//   pass and its result instead of starting a second one.
// - A failing pass of the loop is logged (not while stopping) and the loop goes on; a failing
//   runNow() rejects to its caller.
// - Time comes only from the injected clock (tests drive it with ManualClock); with systemClock the
//   loop's timers are unref'd, so a parked loop never keeps a process alive.
// - stop() aborts `signal`, ends the loop and waits for the pass in flight; it is idempotent, and
//   after it neither start() nor runNow() runs another pass.
import type { Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import { ErrorCode, SpindleError } from './errors.js';

/**
 * When the next pass starts. 'fixed-delay': `intervalMs` after the previous pass ended (a pause
 * between passes). 'fixed-rate': `intervalMs` after the previous pass started, at once if that
 * pass took longer (never two at a time).
 */
type PeriodicSchedule = 'fixed-delay' | 'fixed-rate';

export interface PeriodicLoopOptions<T> {
  intervalMs: number;
  /** One pass; `signal` aborts when the loop stops. */
  pass: (signal: AbortSignal) => Promise<T> | T;
  /** Default systemClock. */
  clock?: Clock;
  logger: Logger;
  /** Logged with the error when a pass of the loop fails. */
  failureMessage: string;
  /** Default 'warn': the pass is retried next interval. */
  failureLevel?: 'warn' | 'error';
  /** Default 'fixed-delay'. */
  schedule?: PeriodicSchedule;
  /** Run the first pass at start() (default: one interval after it). */
  passAtStart?: boolean;
}

export type PeriodicLoopState = 'new' | 'running' | 'stopped';

export class PeriodicLoop<T = void> {
  private readonly controller = new AbortController();
  private readonly clock: Clock;
  private loop: Promise<void> | undefined;
  private running: Promise<T> | undefined;

  constructor(private readonly options: PeriodicLoopOptions<T>) {
    this.clock = options.clock ?? systemClock;
  }

  /** Aborts when stop() is called: for work the passes started that outlives them. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get state(): PeriodicLoopState {
    if (this.controller.signal.aborted) return 'stopped';
    return this.loop === undefined ? 'new' : 'running';
  }

  /** Starts the loop; a no-op when it runs already or was stopped. */
  start(): void {
    if (this.state !== 'new') return;
    this.loop = this.run();
  }

  /** One pass now, or the pass already running. Rejects with CANCELLED once stopped. */
  runNow(): Promise<T> {
    if (this.controller.signal.aborted) {
      return Promise.reject(new SpindleError(ErrorCode.CANCELLED, 'periodic loop is stopped'));
    }
    if (this.running === undefined) {
      const signal = this.controller.signal;
      // Through an async function so that a pass throwing synchronously still yields a rejection.
      const pass = (async () => this.options.pass(signal))();
      this.running = pass.finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  /** Stops the loop and waits for the pass in flight (its failure is not reported). Idempotent. */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
    await this.running?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    const { intervalMs, schedule = 'fixed-delay' } = this.options;
    if (!this.options.passAtStart && !(await this.sleep(intervalMs))) return;
    for (;;) {
      const startedMs = this.clock.nowMs();
      try {
        await this.runNow();
      } catch (err) {
        if (!this.controller.signal.aborted) {
          this.options.logger[this.options.failureLevel ?? 'warn']({ err }, this.options.failureMessage);
        }
      }
      const waitMs = schedule === 'fixed-rate' ? intervalMs - (this.clock.nowMs() - startedMs) : intervalMs;
      if (!(await this.sleep(Math.max(0, waitMs)))) return;
    }
  }

  /** False when the loop was stopped before or during the sleep. */
  private async sleep(ms: number): Promise<boolean> {
    try {
      await this.clock.sleep(ms, this.controller.signal);
      return true;
    } catch {
      return false;
    }
  }
}
