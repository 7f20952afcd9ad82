// Background loop: every heartbeatIntervalMs the node reports its targets (local state, chain,
// used and capacity bytes) to the cluster manager; when the answer carries a routing version other
// than the one held, it fetches routing. A failed heartbeat is counted and retried next period.
import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import { asSpindleError } from '../common/errors.js';
import type { ResyncProgress, TargetInfo } from '../proto/index.js';
import type { StorageMetrics } from './metrics.js';
import type { MgmtAgent } from './mgmt-agent.js';
import type { RoutingView } from './routing-view.js';

export interface HeartbeatSenderOptions {
  agent: MgmtAgent;
  routing: RoutingView;
  nodeId: () => number;
  targetReports: () => Promise<TargetInfo[]>;
  /** Resyncs this node runs as a predecessor, reported for `spindle admin targets`. */
  resyncProgress?: () => ResyncProgress[];
  intervalMs: number;
  clock: Clock;
  logger: Logger;
  metrics?: StorageMetrics;
}

export class HeartbeatSender {
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private failuresInARow = 0;

  constructor(private readonly options: HeartbeatSenderOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Sends one heartbeat now (also used by tests). */
  async beat(): Promise<void> {
    const { agent, routing } = this.options;
    try {
      const response = await agent.heartbeat({
        nodeId: this.options.nodeId(),
        targets: await this.options.targetReports(),
        routingVersion: routing.version,
        resyncs: this.options.resyncProgress?.() ?? [],
      });
      if (this.failuresInARow > 0) this.options.logger.info({ failures: this.failuresInARow }, 'heartbeats to the cluster manager resumed');
      this.failuresInARow = 0;
      if (response.routingVersion !== routing.version) await agent.refreshRouting(`heartbeat reported routing version ${response.routingVersion}`);
    } catch (err) {
      this.failuresInARow++;
      this.options.metrics?.heartbeatFailures.inc();
      if (this.failuresInARow === 1 || this.failuresInARow % 50 === 0) {
        const error = asSpindleError(err);
        this.options.logger.warn({ code: error.codeName, err: error.message, failures: this.failuresInARow }, 'heartbeat failed');
      }
    }
  }

  private async run(): Promise<void> {
    while (!this.stop.signal.aborted) {
      await this.beat();
      try {
        await this.options.clock.sleep(this.options.intervalMs, this.stop.signal);
      } catch {
        return;
      }
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }
}
