// Capturing a shard: copying the caller's buffer into the Checkpoints' staging pool, piece by
// piece, so that training may change the buffer while the copy is written in the background.
//
// Guarantees: `captured` resolves once every byte has been copied (the caller's buffer is no longer
// read); the pieces held at once across every capture sharing `pool` never exceed its piecesMax
// (stagingBytes / CAPTURE_PIECE_BYTES); a piece the writer takes is the writer's to release (once
// its write is done: the pieces go to the file writes as they are, without a second copy), and
// discard() releases every piece the writer never took. The copy yields to the event loop between
// pieces, so that I/O (begin's metadata calls, earlier writes) runs alongside it. The writer gets
// its first piece once the copy is done or has to wait for staging memory: while the shard fits,
// the copy — what the training loop waits for — does not share the CPU with this shard's writes.
import { CAPTURE_PIECE_BYTES } from './constants.js';
import type { StagingPiece, StagingPool } from './staging-pool.js';

export interface Capture {
  /** Resolves once the data has been copied. */
  readonly captured: Promise<void>;
  /** The copied pieces, in order; the taker calls each piece's release() once done with its bytes. */
  readonly pieces: AsyncIterable<StagingPiece>;
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

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Starts copying `data` after `previous` (captures run one after another, so that a later capture
 * cannot hold pieces an earlier one's writer needs).
 */
export function captureBytes(data: Uint8Array, pool: StagingPool, previous: Promise<unknown>): Capture {
  const count = Math.ceil(data.length / CAPTURE_PIECE_BYTES);
  const slots = Array.from({ length: count }, () => deferred<StagingPiece>());
  const writerMayStart = deferred<void>();
  const captured = (async () => {
    await previous.catch(() => undefined);
    for (let index = 0; index < count; index++) {
      let piece = pool.tryAcquire();
      if (piece === undefined) {
        // Staging is full: only writes free it, so the writer starts now.
        writerMayStart.resolve();
        piece = await pool.acquire();
      }
      const from = index * CAPTURE_PIECE_BYTES;
      const source = data.subarray(from, from + CAPTURE_PIECE_BYTES);
      piece.bytes.set(source);
      slots[index]!.resolve({ bytes: piece.bytes.subarray(0, source.length), release: piece.release });
      if (index + 1 < count) await yieldToEventLoop();
    }
  })();
  captured.then(
    () => writerMayStart.resolve(),
    (error: unknown) => {
      writerMayStart.resolve();
      for (const slot of slots) slot.reject(error);
    },
  );
  let next = 0;
  async function* pieces(): AsyncGenerator<StagingPiece> {
    await writerMayStart.promise;
    while (next < count) {
      const piece = await slots[next]!.promise;
      // Taken: from here the piece is the taker's to release.
      next++;
      yield piece;
    }
  }
  const discard = () => {
    // The writer stopped early or never started: give back the pieces it never took.
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
