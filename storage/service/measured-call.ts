// One wrapper for every storage-node RPC handler (the Storage and KvStore services): a signal for
// "the caller went away or the node is closing", request metrics by method and result, the call
// counted in flight (the node drains them when it closes), and failures logged by severity.
//
// Work cut short by the node shutting down fails with RPC_UNAVAILABLE, so the caller tries another
// replica or the new head instead of giving up.
import type { Logger } from 'pino';
import { ErrorCode, SpindleError, asSpindleError } from '../../common/errors.js';
import type { CallContext } from '../../common/rpc.js';
import type { StorageMetrics } from '../metrics.js';

/** Calls in flight, and a way to wait until there are none. */
export class InFlightCalls {
  private count = 0;
  private waiters: Array<() => void> = [];

  get size(): number {
    return this.count;
  }

  enter(): void {
    this.count++;
  }

  leave(): void {
    this.count--;
    if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves when no call is in flight. */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export interface MeasuredCallDeps {
  readonly logger: Logger;
  readonly metrics?: StorageMetrics;
  /** Aborted when the node closes: in-flight work stops waiting. */
  readonly closing: AbortSignal;
  readonly inFlight?: InFlightCalls;
}

/** Wraps handlers of one service; `what` names its requests in log lines ("storage", "KV-cache"). */
export function measuredCalls(deps: MeasuredCallDeps, what: string) {
  const { metrics, logger } = deps;
  return <Req, Res>(
    method: string,
    handler: (request: Req, signal: AbortSignal, context: CallContext) => Promise<Res>,
  ) =>
    async (request: Req, context: CallContext): Promise<Res> => {
      const stop = metrics?.requestSeconds.startTimer({ method });
      // One signal for both (not AbortSignal.any, which keeps a reference per call on the
      // long-lived closing signal).
      const controller = new AbortController();
      const abort = () => controller.abort();
      if (context.signal.aborted || deps.closing.aborted) controller.abort();
      context.signal.addEventListener('abort', abort, { once: true });
      deps.closing.addEventListener('abort', abort, { once: true });
      deps.inFlight?.enter();
      try {
        const response = await handler(request, controller.signal, context);
        metrics?.requests.inc({ method, result: 'ok' });
        return response;
      } catch (err) {
        let error = asSpindleError(err);
        if (deps.closing.aborted && !context.signal.aborted) {
          error = new SpindleError(ErrorCode.RPC_UNAVAILABLE, `storage node is shutting down (${error.message})`, {
            cause: err,
          });
        }
        metrics?.requests.inc({ method, result: error.codeName });
        if (error.codeName === 'INTERNAL' || error.codeName === 'IO_ERROR') {
          logger.error({ method, err }, `${what} request failed`);
        } else {
          logger.debug({ method, code: error.codeName, message: error.message }, `${what} request refused`);
        }
        throw error;
      } finally {
        context.signal.removeEventListener('abort', abort);
        deps.closing.removeEventListener('abort', abort);
        deps.inFlight?.leave();
        stop?.();
      }
    };
}
