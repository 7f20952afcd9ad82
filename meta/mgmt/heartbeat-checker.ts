// Background loop of the cluster manager that declares storage nodes failed (3FS mgmtd's
// heartbeat_fail_interval): every `intervalMs` it looks at each registered node's last heartbeat
// (or registration); one older than `timeoutMs` is declared failed once, and the manager then runs
// the target state machine over the chains it is in. Each tick also re-runs the state machine over
// every chain, so a change missed by an event (a store error, a report not acted on) is applied
// within one interval.
//
// Guarantees: the clock is injected (tests drive it with ManualClock); a node never heard from
// since this checker started counts from the start (a restarted manager gives every node a full
// timeout before declaring it failed); checks never overlap (checkOnce during the loop's check shares
// it); a failing check is logged and the loop goes on; close() stops the loop and waits for the
// check in flight. The loop is common/periodic-loop.ts (timers unref'd with systemClock).
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.js';
import { PeriodicLoop } from '../../common/periodic-loop.js';

/** What the checker needs from the manager. */
export interface FailureDetectionHost {
  /** Registered node ids. */
  nodeIds(): Iterable<number>;
  /** Last heartbeat or registration, µs since the epoch; 0 when none since the manager started. */
  lastHeartbeatUs(nodeId: number): number;
  isFailed(nodeId: number): boolean;
  /** Marks the nodes failed and reconfigures their chains. */
  declareFailed(nodeIds: number[]): Promise<void>;
  /** Runs the state machine over every chain. */
  updateAllChains(): Promise<void>;
}

export interface HeartbeatCheckerOptions {
  host: FailureDetectionHost;
  clock: Clock;
  /** A node silent for longer than this is failed (must be ≥ the storage nodes' lease). */
  timeoutMs: number;
  /** Period of the check. */
  intervalMs: number;
  logger: Logger;
}

export class HeartbeatChecker {
  private readonly startedUs: number;
  private readonly loop: PeriodicLoop<number[]>;

  constructor(private readonly options: HeartbeatCheckerOptions) {
    this.startedUs = options.clock.nowUs();
    this.loop = new PeriodicLoop({
      intervalMs: options.intervalMs,
      pass: () => this.check(),
      clock: options.clock,
      logger: options.logger,
      failureMessage: 'failure check failed; retrying next interval',
      failureLevel: 'error',
    });
  }

  /** Starts the loop: the first check comes one interval later. */
  start(): void {
    this.loop.start();
  }

  /** Nodes silent for longer than the timeout and not failed yet, at the clock's current time. */
  overdueNodes(): number[] {
    const { host, clock, timeoutMs } = this.options;
    const nowUs = clock.nowUs();
    const overdue: number[] = [];
    for (const nodeId of host.nodeIds()) {
      if (host.isFailed(nodeId)) continue;
      const lastUs = Math.max(host.lastHeartbeatUs(nodeId), this.startedUs);
      if (nowUs - lastUs > timeoutMs * 1000) overdue.push(nodeId);
    }
    return overdue;
  }

  /**
   * One check now (or the one running): declares the overdue nodes failed, then re-runs the state
   * machine everywhere; resolves to the nodes declared failed. Rejects with CANCELLED after close().
   */
  checkOnce(): Promise<number[]> {
    return this.loop.runNow();
  }

  private async check(): Promise<number[]> {
    const overdue = this.overdueNodes();
    if (overdue.length > 0) {
      this.options.logger.warn(
        { nodes: overdue, timeoutMs: this.options.timeoutMs },
        'storage nodes missed their heartbeats; declaring them failed',
      );
      await this.options.host.declareFailed(overdue);
    }
    await this.options.host.updateAllChains();
    return overdue;
  }

  /** Stops the loop and waits for the check in flight; idempotent. */
  close(): Promise<void> {
    return this.loop.stop();
  }
}
