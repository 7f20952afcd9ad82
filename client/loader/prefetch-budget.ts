// A budget of what is held ahead of a consumer — bytes, or reads — (the loader's prefetch).
// Guarantees: `acquire(n)` resolves when the units held plus n fit the budget — or when nothing is
// held, so one request larger than the whole budget still proceeds alone (a batch bigger than
// prefetchBytes is read, just not ahead of another); waiters are served in order; an abort
// rejects a waiter with CANCELLED and holds nothing.
import { ErrorCode, SpindleError } from '../../common/errors.js';

export class PrefetchBudget {
  private held = 0;
  private readonly waiters: Array<{ bytes: number; grant: () => void }> = [];

  constructor(readonly limit: number) {}

  /** Bytes currently held. */
  get heldBytes(): number {
    return this.held;
  }

  acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(cancelled());
    if (this.waiters.length === 0 && this.fits(bytes)) {
      this.held += bytes;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        bytes,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(cancelled());
        this.grantWaiters();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
    this.grantWaiters();
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limit;
  }

  private grantWaiters(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0].bytes)) {
      const waiter = this.waiters.shift()!;
      this.held += waiter.bytes;
      waiter.grant();
    }
  }
}

function cancelled(): SpindleError {
  return new SpindleError(ErrorCode.CANCELLED, 'the loader was closed while waiting for prefetch room');
}
