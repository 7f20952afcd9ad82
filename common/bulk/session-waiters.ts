// Callers of `BulkListener.channel(id, waitMs)` waiting for a session that has not arrived yet
// (a peer's message can overtake its connection's handshake). Shared by every listener
// implementation: a waiter is resolved when the session arrives, rejected when its wait runs out
// or the listener closes.
import type { SpindleError } from '../errors.js';
import { unavailable } from './options.js';
import type { BulkChannel } from './transport.js';

interface Waiter {
  readonly resolve: (channel: BulkChannel) => void;
  readonly reject: (error: SpindleError) => void;
  readonly timer: NodeJS.Timeout;
}

export class SessionWaiters {
  private readonly waiting = new Map<string, Set<Waiter>>();

  /** `what` names the listener in messages, e.g. 'bulk listener 127.0.0.1:7501'. */
  constructor(private readonly what: string) {}

  /** Resolves with session `sessionId` once `arrived` is called for it, or rejects after `waitMs`. */
  wait(sessionId: string, waitMs: number): Promise<BulkChannel> {
    return new Promise<BulkChannel>((resolve, reject) => {
      const waiters = this.waiting.get(sessionId) ?? new Set<Waiter>();
      this.waiting.set(sessionId, waiters);
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          waiters.delete(waiter);
          if (waiters.size === 0) this.waiting.delete(sessionId);
          reject(unavailable(`${this.what}: no session ${sessionId} after waiting ${waitMs} ms`));
        }, waitMs),
      };
      waiter.timer.unref();
      waiters.add(waiter);
    });
  }

  /** Session `channel` arrived: everyone waiting for it gets it. */
  arrived(channel: BulkChannel): void {
    const waiters = this.waiting.get(channel.sessionId);
    if (waiters === undefined) return;
    this.waiting.delete(channel.sessionId);
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(channel);
    }
  }

  /** The listener closed: every waiter is rejected with `error`. */
  rejectAll(error: SpindleError): void {
    for (const waiters of this.waiting.values()) {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(error);
      }
    }
    this.waiting.clear();
  }
}
