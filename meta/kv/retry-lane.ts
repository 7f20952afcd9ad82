// The FIFO lane re-runs of conflicting transactions go through (memory, lmdb and etcd engines): a
// transaction that lost once re-runs only when no other loser is re-running, so a hot key makes
// progress one commit per round instead of every loser colliding again until its retries run out.
import { ErrorCode, SpindleError } from '../../common/errors.js';

export function cancelledError(signal: AbortSignal): SpindleError {
  return new SpindleError(ErrorCode.CANCELLED, 'kv transaction cancelled', { cause: signal.reason });
}

/** A FIFO mutex for re-runs of conflicting transactions. */
export class RetryLane {
  private held = false;
  private readonly waiters: Array<{ grant: () => void }> = [];

  acquire(signal: AbortSignal | undefined): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(cancelledError(signal!));
      };
      if (signal?.aborted) {
        reject(cancelledError(signal));
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.grant();
    else this.held = false;
  }
}
