// The inodes this meta process's transactions changed, for clients that cache attributes (a mount's
// kernel cache): they long-poll Meta.PollChanges and drop what another client changed at once,
// instead of serving it stale until their cache timeout.
//
// Guarantees:
// - every committed change of an inode record (attributes, length, links, removal) is published
//   after its commit, with the client id of the request that made it; a poller never gets its own;
// - a window of the last CHANGE_FEED_WINDOW changes is kept: a cursor older than that, or of
//   another feed (a restarted meta, another meta process), is answered with `missed`, never with a
//   silent gap;
// - a poll waits at most CHANGE_POLL_WAIT_MAX_MS and ends early when its caller goes away.
// Changes committed through other meta processes (metadata on etcd) are not in this feed.
import { randomBytes } from 'node:crypto';
import type { PollChangesRequest, PollChangesResponse } from '../../proto/index.js';

/** Changes kept for pollers that fell behind (an inode id each: 8 bytes + the origin's reference). */
export const CHANGE_FEED_WINDOW = 65_536;
/** Longest a poll waits for a change (the caller asks again after it). */
const CHANGE_POLL_WAIT_MAX_MS = 30_000;
/** Most inodes one poll answers with (the next poll gets the rest). */
export const CHANGE_POLL_INODES_MAX = 4_096;

export class ChangeFeed {
  /** Names this process's feed: cursors are meaningful only within it. */
  readonly feedId = randomBytes(8).toString('hex');
  /** Sequence number of the newest change (0: none yet). */
  private newest = 0;
  private readonly inos = new Float64Array(CHANGE_FEED_WINDOW);
  private readonly origins: Array<string | undefined> = new Array(CHANGE_FEED_WINDOW);
  private readonly waiters = new Set<() => void>();

  /** Records changed inodes; `origin` is the client id of the request that changed them. */
  publish(inos: Iterable<number>, origin: string | undefined): void {
    let any = false;
    for (const ino of inos) {
      this.newest += 1;
      const slot = this.newest % CHANGE_FEED_WINDOW;
      this.inos[slot] = ino;
      this.origins[slot] = origin;
      any = true;
    }
    if (!any || this.waiters.size === 0) return;
    const woken = [...this.waiters];
    this.waiters.clear();
    for (const wake of woken) wake();
  }

  /** Changes after the request's cursor made by other clients; waits for one up to wait_ms. */
  async poll(request: PollChangesRequest, signal?: AbortSignal): Promise<PollChangesResponse> {
    const oldest = Math.max(1, this.newest - CHANGE_FEED_WINDOW + 1);
    if (request.feedId !== this.feedId || request.cursor > this.newest) {
      // A first poll starts now; any other cursor is of another feed: what happened since is unknown.
      return { feedId: this.feedId, cursor: this.newest, inos: [], missed: request.feedId !== '' };
    }
    let cursor = request.cursor;
    const missed = cursor < oldest - 1;
    if (missed) cursor = oldest - 1;
    const deadline = Date.now() + Math.min(request.waitMs, CHANGE_POLL_WAIT_MAX_MS);
    for (;;) {
      const found = this.collect(cursor, request.clientId);
      if (found.inos.length > 0 || missed || Date.now() >= deadline || signal?.aborted) {
        return { feedId: this.feedId, cursor: found.cursor, inos: found.inos, missed };
      }
      // Only the caller's own changes (or none) so far: skip past them and wait for more.
      cursor = found.cursor;
      await this.nextChange(deadline - Date.now(), signal);
    }
  }

  private collect(after: number, clientId: string): { cursor: number; inos: number[] } {
    const seen = new Set<number>();
    let seq = after;
    while (seq < this.newest && seen.size < CHANGE_POLL_INODES_MAX) {
      seq += 1;
      const slot = seq % CHANGE_FEED_WINDOW;
      if (this.origins[slot] !== clientId || clientId === '') seen.add(this.inos[slot]!);
    }
    return { cursor: seq, inos: [...seen] };
  }

  private nextChange(waitMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, waitMs));
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  /** Pollers waiting now (for tests and metrics). */
  get waiting(): number {
    return this.waiters.size;
  }
}
