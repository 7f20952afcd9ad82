// A signal that follows the caller's and may carry any number of listeners: the client's read path
// adds one abort listener per chunk read in flight, so one call of many large or concurrent reads
// would otherwise trip Node's MaxListenersExceededWarning on the caller's own signal.
//
// Guarantees: the linked signal aborts (with the same reason) when the caller's does, or at once if
// it already has; unlink() removes the one listener this put on the caller's signal.
import { setMaxListeners } from 'node:events';

export interface LinkedSignal {
  readonly signal: AbortSignal | undefined;
  unlink(): void;
}

export function linkSignal(signal: AbortSignal | undefined): LinkedSignal {
  if (signal === undefined) return { signal: undefined, unlink: () => {} };
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const onAbort = () => controller.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return { signal: controller.signal, unlink: () => signal.removeEventListener('abort', onAbort) };
}
