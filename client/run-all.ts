// Runs the chunk requests of one operation together (one per chunk or per chain) and fails the
// operation on the first failure. Guarantees: on a failure the other tasks are aborted, and the
// first error is thrown only once every task settled — nothing of the operation runs behind it.
import { setMaxListeners } from 'node:events';

/**
 * Runs tasks concurrently (their own semaphores bound them); on the first failure the others are
 * aborted, and the first error is thrown once every task settled (nothing left running behind).
 */
export async function runAll<T>(tasks: Array<(signal: AbortSignal) => Promise<T>>, signal: AbortSignal): Promise<T[]> {
  const controller = new AbortController();
  const linked = AbortSignal.any([signal, controller.signal]);
  setMaxListeners(0, linked);
  let first: unknown;
  let failed = false;
  const results = await Promise.allSettled(
    tasks.map((task) =>
      task(linked).catch((err: unknown) => {
        if (!failed) {
          failed = true;
          first = err;
          controller.abort();
        }
        throw err;
      }),
    ),
  );
  if (failed) throw first;
  return results.map((result) => (result as PromiseFulfilledResult<T>).value);
}
