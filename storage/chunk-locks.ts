// Per-chunk locks: updates of one chunk run one at a time, in arrival order (FIFO), on every
// replica. Reads never take them. A waiter whose signal aborts leaves the queue without running.
import { ErrorCode, SpindleError } from '../common/errors.js';

interface Waiter {
  run: () => void;
}

export class KeyedLocks {
  /** key → queue of waiters; the first entry holds the lock. */
  private readonly queues = new Map<string, Waiter[]>();

  /** Runs `fn` while holding the lock of `key`. */
  async withLock<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(key, signal);
    try {
      return await fn();
    } finally {
      this.release(key);
    }
  }

  /**
   * Resolves once every lock whose key starts with `prefix`, held or waited for now, was released:
   * a barrier after which nothing admitted before the call still runs under those locks. Later
   * holders are not waited for (each key's queue is FIFO, so a no-op queued last suffices). Rejects
   * with CANCELLED when `signal` aborts first. Undefined when no such lock is held: nothing to wait
   * for, and the caller goes on without yielding.
   */
  drain(prefix: string, signal?: AbortSignal): Promise<void> | undefined {
    const held = [...this.queues.keys()].filter((key) => key.startsWith(prefix));
    if (held.length === 0) return undefined;
    return Promise.all(held.map((key) => this.withLock(key, async () => {}, signal))).then(() => undefined);
  }

  /** Number of keys locked or waited for (for tests and metrics). */
  get size(): number {
    return this.queues.size;
  }

  private acquire(key: string, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted)
      return Promise.reject(new SpindleError(ErrorCode.CANCELLED, 'request cancelled before it got the chunk lock'));
    const queue = this.queues.get(key);
    if (queue === undefined) {
      this.queues.set(key, [{ run: () => {} }]);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        run: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const index = queue.indexOf(waiter);
        if (index > 0) {
          queue.splice(index, 1);
          reject(new SpindleError(ErrorCode.CANCELLED, 'request cancelled while waiting for the chunk lock'));
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  private release(key: string): void {
    const queue = this.queues.get(key);
    if (queue === undefined) return;
    queue.shift();
    const next = queue[0];
    if (next === undefined) this.queues.delete(key);
    else next.run();
  }
}
