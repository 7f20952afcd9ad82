// Restarts the processes of a LocalCluster that exit without being asked to, as a supervisor
// (systemd's Restart=on-failure) would: what `spindle up` runs so that one crashed meta or storage
// node does not take the cluster down or stay down.
//
// Guarantees:
// - a crashed meta (any of them) comes back on its old port and data, a storage node on its old
//   data (node id kept), after a backoff that doubles per consecutive failure (1 s … 30 s) and
//   resets once the process has stayed up for `stableMs`;
// - after `maxConsecutiveFailures` restarts that did not stay up it gives up on that process and
//   says so through `onGiveUp`; every step is reported through `log`;
// - `close()` cancels pending restarts and waits for one in flight, stopping what it started, so a
//   cluster stopped after close() leaves no process behind. etcd members are not restarted here.
import type { LocalCluster } from './local-cluster.js';
import type { ServiceProcess } from './service-process.js';

export interface SupervisorOptions {
  /** First delay before a restart; doubled per consecutive failure. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A process up this long counts as healthy again: its next crash restarts after the first delay. */
  stableMs?: number;
  /** Consecutive restarts that crash again (or fail to start) before the supervisor gives up. */
  maxConsecutiveFailures?: number;
  log: (line: string) => void;
  /** Told once when a process will no longer be restarted. */
  onGiveUp?: (name: string) => void;
}

interface Attempts {
  consecutive: number;
  startedAt: number;
}

const DEFAULTS = { initialBackoffMs: 1_000, maxBackoffMs: 30_000, stableMs: 60_000, maxConsecutiveFailures: 10 };

/** Which cluster process a name reported by LocalCluster.onUnexpectedExit is. */
type ProcessName = { kind: 'meta'; k: number } | { kind: 'storage'; index: number } | { kind: 'other' };

/** 'meta' → meta 0, 'meta-2' → meta 1, 'storage-3' → storage index 3; anything else (etcd) is 'other'. */
function parseProcessName(name: string): ProcessName {
  if (name === 'meta') return { kind: 'meta', k: 0 };
  const meta = /^meta-(\d+)$/.exec(name);
  if (meta) return { kind: 'meta', k: Number(meta[1]) - 1 };
  const storage = /^storage-(\d+)$/.exec(name);
  if (storage) return { kind: 'storage', index: Number(storage[1]) };
  return { kind: 'other' };
}

export class Supervisor {
  private readonly options: Required<Omit<SupervisorOptions, 'onGiveUp'>> & Pick<SupervisorOptions, 'onGiveUp'>;
  private readonly attempts = new Map<string, Attempts>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly cluster: LocalCluster,
    options: SupervisorOptions,
  ) {
    this.options = { ...DEFAULTS, ...options };
    cluster.onUnexpectedExit = (name, code, signal, logFile) => this.exited(name, code, signal, logFile);
  }

  private exited(name: string, code: number | null, signal: NodeJS.Signals | null, logFile: string): void {
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    const which = parseProcessName(name);
    if (this.closed) return;
    if (which.kind === 'other') {
      this.options.log(`${name} exited unexpectedly (${how}); log: ${logFile}; it is not restarted`);
      return;
    }
    const attempts = this.attempts.get(name) ?? { consecutive: 0, startedAt: 0 };
    // A process that stayed up long enough was healthy: its crash starts a fresh backoff.
    if (Date.now() - attempts.startedAt >= this.options.stableMs) attempts.consecutive = 0;
    this.attempts.set(name, attempts);
    if (attempts.consecutive >= this.options.maxConsecutiveFailures) {
      this.options.log(
        `${name} exited unexpectedly (${how}) after ${attempts.consecutive} restarts in a row; ` +
          `giving up on it — see ${logFile}`,
      );
      this.options.onGiveUp?.(name);
      return;
    }
    const delay = Math.min(this.options.initialBackoffMs * 2 ** attempts.consecutive, this.options.maxBackoffMs);
    attempts.consecutive += 1;
    this.options.log(
      `${name} exited unexpectedly (${how}); log: ${logFile}; restarting in ${formatSeconds(delay)} ` +
        `(attempt ${attempts.consecutive})`,
    );
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const restart = this.restart(name, which, attempts).finally(() => this.inFlight.delete(restart));
      this.inFlight.add(restart);
    }, delay);
    this.timers.add(timer);
  }

  private async restart(name: string, which: ProcessName, attempts: Attempts): Promise<void> {
    if (this.closed) return;
    let started: ServiceProcess<{ pid: number }>;
    try {
      started =
        which.kind === 'meta'
          ? await this.cluster.restartMetaAt(which.k)
          : await this.cluster.startStorageNode((which as { index: number }).index);
    } catch (err) {
      this.options.log(`${name} did not start again: ${(err as Error).message}`);
      // Counts as a crash of the restarted process: back off and try again.
      attempts.startedAt = Date.now();
      this.exited(name, null, null, `${this.cluster.logDir}/${name}.log`);
      return;
    }
    attempts.startedAt = Date.now();
    if (this.closed) {
      await started.stop();
      return;
    }
    this.options.log(`${name} restarted (pid ${started.pid})`);
  }

  /** Stops restarting: cancels pending restarts, waits for one in flight (and stops what it started). */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
