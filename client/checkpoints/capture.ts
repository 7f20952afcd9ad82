// Capturing a shard: copying the caller's buffer into bounded staging memory, piece by piece, so
// that training may change the buffer while the copy is written in the background.
//
// Guarantees: `captured` resolves once every byte has been copied (the caller's buffer is no longer
// read); the pieces held at once across every capture sharing `budget` never exceed its permits
// (stagingBytes / CAPTURE_PIECE_BYTES); a piece's permit is released once the writer has taken it.
import type { Semaphore } from '../semaphore.js';
import { CAPTURE_PIECE_BYTES } from './constants.js';

export interface Capture {
  /** Resolves once the data has been copied. */
  readonly captured: Promise<void>;
  /** The copied pieces, in order; each piece's permit is released when the next is asked for. */
  readonly pieces: AsyncIterable<Uint8Array>;
  /** Releases the pieces the writer has not taken (call once the writer is done, in any case). */
  readonly discard: () => void;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  // Whoever reads the piece sees the failure; an unread piece must not crash the process.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * Starts copying `data` after `previous` (captures run one after another, so that a later capture
 * cannot hold permits an earlier one's writer needs).
 */
export function captureBytes(data: Uint8Array, budget: Semaphore, previous: Promise<unknown>): Capture {
  const count = Math.ceil(data.length / CAPTURE_PIECE_BYTES);
  const slots = Array.from({ length: count }, () => deferred<{ bytes: Uint8Array; release: () => void }>());
  const captured = (async () => {
    await previous.catch(() => undefined);
    for (let index = 0; index < count; index++) {
      const release = await budget.acquire();
      const from = index * CAPTURE_PIECE_BYTES;
      slots[index]!.resolve({ bytes: Buffer.from(data.subarray(from, from + CAPTURE_PIECE_BYTES)), release });
    }
  })();
  captured.catch((error: unknown) => {
    for (const slot of slots) slot.reject(error);
  });
  let next = 0;
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (; next < count; next++) {
      const piece = await slots[next]!.promise;
      try {
        yield piece.bytes;
      } finally {
        piece.release();
      }
    }
  }
  const discard = () => {
    // The writer stopped early or never started: give back the permits of the pieces it never took.
    const from = next;
    next = count;
    for (let index = from; index < count; index++) {
      slots[index]!.promise.then(
        (piece) => piece.release(),
        () => undefined,
      );
    }
  };
  return { captured, pieces: pieces(), discard };
}
