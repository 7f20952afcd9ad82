// A counting semaphore with FIFO waiters: bounds chunk I/Os in flight (ioConcurrencyMax) so a
// large read or write cannot open unbounded requests. Waiters leave the queue when their signal
// aborts; release() is idempotent per permit.
import { ErrorCode, SpindleError } from '../common/errors.js';

export class Semaphore {
  private available: number;
  private readonly waiters: Array<{ grant: () => void }> = [];

  constructor(readonly permits: number) {
    if (!Number.isSafeInteger(permits) || permits < 1) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `a semaphore needs at least 1 permit, got ${permits}`);
    }
    this.available = permits;
  }

  /** Permits free right now. */
  get free(): number {
    return this.available;
  }

  /** Waiters queued. */
  get queued(): number {
    return this.waiters.length;
  }

  /** Resolves to a release function once a permit is held. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted)
      return Promise.reject(new SpindleError(ErrorCode.CANCELLED, 'cancelled while waiting for an I/O slot'));
    if (this.available > 0 && this.waiters.length === 0) {
      this.available--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new SpindleError(ErrorCode.CANCELLED, 'cancelled while waiting for an I/O slot'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Runs `task` holding one permit. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await task();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next.grant();
      else this.available++;
    };
  }
}
