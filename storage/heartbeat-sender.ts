// Background loop: every heartbeatIntervalMs the node reports its targets (local state, chain,
// used and capacity bytes) to the cluster manager; when the answer carries a routing version other
// than the one held, it fetches routing. A failed heartbeat is counted and retried next period.
//
// Heartbeats renew the node's lease (storage/mgmt-agent.ts), so nothing slow may sit between two
// of them. Under sustained 4 MiB writes on a loaded 2-core host the old loop — report, await the
// answer, await a routing fetch, then sleep a full interval — let 270–590 ms pass between two
// heartbeats at a 100 ms interval (event-loop stalls of 150–430 ms, `statfs` for the capacity
// queued 0–180 ms behind block writes and fsyncs on libuv's threadpool): more than the test
// preset's half lease of 500 ms then. Now: ticks are every interval from the previous tick's
// start whatever the last heartbeat is doing (up to HEARTBEATS_IN_FLIGHT_MAX outstanding), the
// report reads cached values only (capacity is refreshed in the background, target.ts), and the
// routing fetch a heartbeat triggers does not hold up the next tick. The process's event-loop
// delay is measured (perf_hooks) and exported with the heartbeat round trips; a node whose lease is
// at risk (no renewal for a quarter of it) logs both. The ticks are a common/periodic-loop.ts on a
// fixed rate; a tick only launches a heartbeat, so the loop's no-overlap rule never delays one.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import { asSpindleError } from '../common/errors.js';
import { PeriodicLoop } from '../common/periodic-loop.js';
import type { ResyncProgress, TargetInfo } from '../proto/index.js';
import { HEARTBEATS_IN_FLIGHT_MAX } from './constants.js';
import type { StorageMetrics } from './metrics.js';
import type { MgmtAgent } from './mgmt-agent.js';
import type { RoutingView } from './routing-view.js';

export interface HeartbeatSenderOptions {
  agent: MgmtAgent;
  routing: RoutingView;
  nodeId: () => number;
  /** Must answer from memory (no disk or threadpool work): it sits on the lease's path. */
  targetReports: () => Promise<TargetInfo[]>;
  /** Resyncs this node runs as a predecessor, reported for `spindle admin targets`. */
  resyncProgress?: () => ResyncProgress[];
  intervalMs: number;
  /** The node's lease (for the "lease at risk" warning); default 10 intervals. */
  leaseMs?: number;
  clock: Clock;
  logger: Logger;
  metrics?: StorageMetrics;
}

export class HeartbeatSender {
  private readonly loop: PeriodicLoop;
  private failuresInARow = 0;
  private inFlight = 0;
  /** Heartbeats started by the loop and not finished (close waits for them). */
  private readonly running = new Set<Promise<void>>();
  private lastRoundTripMs = 0;
  private lastWarnedMs = -Infinity;
  private readonly loopDelay: IntervalHistogram;

  constructor(private readonly options: HeartbeatSenderOptions) {
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loop = new PeriodicLoop({
      intervalMs: options.intervalMs,
      pass: () => this.tick(),
      clock: options.clock,
      logger: options.logger,
      failureMessage: 'heartbeat tick failed',
      schedule: 'fixed-rate',
      passAtStart: true,
    });
  }

  /** Starts the ticks: the first heartbeat goes out now. A no-op when running or closed. */
  start(): void {
    if (this.loop.state !== 'new') return;
    this.loopDelay.enable();
    this.loop.start();
  }

  /** Sends one heartbeat now (also used by tests); resolves after any routing fetch it triggered. */
  async beat(): Promise<void> {
    const { agent, routing } = this.options;
    this.inFlight++;
    let reported: number | undefined;
    try {
      const response = await agent.heartbeat({
        nodeId: this.options.nodeId(),
        targets: await this.options.targetReports(),
        routingVersion: routing.version,
        resyncs: this.options.resyncProgress?.() ?? [],
      });
      this.lastRoundTripMs = response.roundTripMs;
      this.options.metrics?.heartbeatSeconds.observe(response.roundTripMs / 1000);
      if (this.failuresInARow > 0)
        this.options.logger.info({ failures: this.failuresInARow }, 'heartbeats to the cluster manager resumed');
      this.failuresInARow = 0;
      if (response.routingVersion !== routing.version) reported = response.routingVersion;
    } catch (err) {
      this.failuresInARow++;
      this.options.metrics?.heartbeatFailures.inc();
      if (this.failuresInARow === 1 || this.failuresInARow % 50 === 0) {
        const error = asSpindleError(err);
        this.options.logger.warn(
          { code: error.codeName, err: error.message, failures: this.failuresInARow },
          'heartbeat failed',
        );
      }
    } finally {
      this.inFlight--;
    }
    if (reported !== undefined) await agent.refreshRouting(`heartbeat reported routing version ${reported}`);
  }

  /** One tick: launches a heartbeat without waiting for it. */
  private tick(): void {
    this.observeLoad(this.options.clock.nowMs());
    // A slow heartbeat (or the routing fetch it triggered) does not hold up the next one.
    if (this.inFlight < HEARTBEATS_IN_FLIGHT_MAX) {
      const beat = this.beat();
      this.running.add(beat);
      void beat.finally(() => this.running.delete(beat));
    }
  }

  /** Exports the event-loop delay of the last period; warns when the lease is at risk. */
  private observeLoad(nowMs: number): void {
    const maxDelayMs = this.loopDelay.max / 1e6;
    this.loopDelay.reset();
    this.options.metrics?.eventLoopDelayMax.set(maxDelayMs / 1000);
    const leaseMs = this.options.leaseMs ?? 10 * this.options.intervalMs;
    const sinceRenewalMs = this.options.agent.sinceRenewalMs();
    if (sinceRenewalMs !== undefined && sinceRenewalMs >= leaseMs / 4 && nowMs - this.lastWarnedMs >= leaseMs) {
      this.lastWarnedMs = nowMs;
      this.options.logger.warn(
        {
          sinceRenewalMs,
          leaseMs,
          eventLoopDelayMaxMs: Math.round(maxDelayMs),
          lastRoundTripMs: this.lastRoundTripMs,
          inFlight: this.inFlight,
        },
        'lease at risk: no heartbeat renewed it for a quarter of the lease (the node stops serving at half)',
      );
    }
  }

  async close(): Promise<void> {
    await this.loop.stop();
    await Promise.allSettled([...this.running]);
    this.loopDelay.disable();
  }
}
