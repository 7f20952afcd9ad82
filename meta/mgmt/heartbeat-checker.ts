// Background loop of the cluster manager that declares storage nodes failed (3FS mgmtd's
// heartbeat_fail_interval): every `intervalMs` it looks at each registered node's last heartbeat
// (or registration); one older than `timeoutMs` is declared failed once, and the manager then runs
// the target state machine over the chains it is in. Each tick also re-runs the state machine over
// every chain, so a change missed by an event (a store error, a report not acted on) is applied
// within one interval.
//
// Guarantees: the clock is injected (tests drive it with ManualClock); a node never heard from
// since this checker started counts from the start (a restarted manager gives every node a full
// timeout before declaring it failed); a failing tick is logged and the loop goes on; close() stops
// the loop and waits for the tick in flight. Timers are unref'd (systemClock).
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.js';

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
  private readonly stop = new AbortController();
  private readonly startedUs: number;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: HeartbeatCheckerOptions) {
    this.startedUs = options.clock.nowUs();
  }

  start(): void {
    this.loop ??= this.run();
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

  /** One check: declare the overdue nodes failed, then re-run the state machine everywhere. */
  async checkOnce(): Promise<number[]> {
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

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      try {
        await this.options.clock.sleep(this.options.intervalMs, signal);
      } catch {
        return;
      }
      try {
        await this.checkOnce();
      } catch (err) {
        if (!signal.aborted) this.options.logger.error({ err }, 'failure check failed; retrying next interval');
      }
    }
  }

  /** Stops the loop; idempotent. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }
}
