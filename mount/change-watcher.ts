// Keeps a mount's kernel cache in step with other clients: long-polls meta for the inodes they
// changed (Meta.PollChanges) and drops this mount's cached attributes and pages of each, so a
// chmod, chown, truncate or write made elsewhere is seen at once — not after the attribute timeout.
//
// Guarantees: one poll in flight; a failed poll is retried after a pause that grows to
// CHANGE_POLL_RETRY_MAX_MS (meta restarting is normal), logged once per outage; at most
// INVALIDATIONS_IN_FLIGHT kernel invalidations at a time; stop() ends the loop and waits for it.
// Missed changes (meta restarted, or this mount fell behind its window) fall back to the
// attribute timeout, as without the watcher.
import type { Logger } from 'pino';
import type { MetaRpc } from '../client/meta-rpc.js';

/** How long one poll waits at meta for a change. */
const CHANGE_POLL_WAIT_MS = 20_000;
/** First pause after a failed poll; doubles up to CHANGE_POLL_RETRY_MAX_MS. */
const CHANGE_POLL_RETRY_MIN_MS = 200;
const CHANGE_POLL_RETRY_MAX_MS = 5_000;
/** Kernel invalidations at once (each runs on a thread of the addon). */
const INVALIDATIONS_IN_FLIGHT = 16;

export interface ChangeWatcherOptions {
  meta: Pick<MetaRpc, 'pollChanges'>;
  /** Drops what the mount and its kernel cache of an inode. */
  forget: (ino: number) => Promise<void>;
  logger?: Logger;
}

export class ChangeWatcher {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  /** Inodes dropped so far (for tests and inspection). */
  invalidated = 0;

  constructor(private readonly options: ChangeWatcherOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let feedId = '';
    let cursor = 0;
    let pauseMs = CHANGE_POLL_RETRY_MIN_MS;
    let failing = false;
    while (!signal.aborted) {
      try {
        const answer = await this.options.meta.pollChanges(
          { feedId, cursor, waitMs: CHANGE_POLL_WAIT_MS },
          { signal, retry: false, timeoutMs: CHANGE_POLL_WAIT_MS + 10_000 },
        );
        if (failing) this.options.logger?.info('change feed back: other clients’ changes show up at once again');
        failing = false;
        pauseMs = CHANGE_POLL_RETRY_MIN_MS;
        if (answer.missed)
          this.options.logger?.debug('changes of other clients were missed: cached attributes expire on their own');
        feedId = answer.feedId;
        cursor = answer.cursor;
        await this.forgetAll(answer.inos);
      } catch (err) {
        if (signal.aborted) break;
        if (!failing) {
          this.options.logger?.warn(
            { err: (err as Error).message },
            'change feed unavailable: other clients’ changes show up when cached attributes expire',
          );
        }
        failing = true;
        await sleep(pauseMs, signal);
        pauseMs = Math.min(pauseMs * 2, CHANGE_POLL_RETRY_MAX_MS);
      }
    }
  }

  /** Drops every inode's cache, INVALIDATIONS_IN_FLIGHT at a time. */
  private async forgetAll(inos: readonly number[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < inos.length) await this.forget(inos[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(INVALIDATIONS_IN_FLIGHT, inos.length) }, worker));
  }

  private async forget(ino: number): Promise<void> {
    try {
      await this.options.forget(ino);
      this.invalidated += 1;
    } catch (err) {
      this.options.logger?.debug({ ino, err: (err as Error).message }, 'could not drop the cache of a changed inode');
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
