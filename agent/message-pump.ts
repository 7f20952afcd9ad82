// Writes a stream's messages no faster than the caller receives them. Guarantees: the next message
// is taken from its source only after the previous one has been handed to HTTP/2 (its write
// callback ran) and, when the stream's buffer was full, after 'drain' — so nothing reads ahead of
// the gRPC stream beyond what the source itself buffers (the loader's prefetch); once `signal` is
// aborted (the caller cancelled) no further message is taken or written and the pump rejects with
// CANCELLED instead of waiting for a callback that may never come.
import { ErrorCode, SpindleError } from '../common/errors.js';

/** What the pump needs of a grpc-js ServerWritableStream. */
export interface MessageSink<T> {
  write(message: T, callback: (error?: Error | null) => void): boolean;
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
}

/** Sends `next()`'s messages until it returns undefined; see the file comment. */
export async function pumpMessages<T>(
  next: () => Promise<T | undefined>,
  sink: MessageSink<T>,
  signal: AbortSignal,
): Promise<void> {
  for (;;) {
    throwIfCancelled(signal);
    const message = await next();
    if (message === undefined) return;
    throwIfCancelled(signal);
    // The 'drain' listener goes on before the write's callback can run: a Writable emits 'drain'
    // right after the callback that emptied its buffer, before our continuation would.
    let drained: Promise<void> | undefined;
    let onDrain = () => {};
    const written = new Promise<void>((resolve, reject) => {
      const flowing = sink.write(message, (error) => (error ? reject(error) : resolve()));
      if (!flowing) {
        drained = new Promise<void>((resolveDrain) => {
          onDrain = resolveDrain;
          sink.once('drain', onDrain);
        });
      }
    });
    try {
      await untilCancelled(written, signal);
      if (drained !== undefined) await untilCancelled(drained, signal);
    } finally {
      sink.removeListener('drain', onDrain);
    }
  }
}

function cancelled(): SpindleError {
  return new SpindleError(ErrorCode.CANCELLED, 'the caller cancelled the stream');
}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw cancelled();
}

/** `work`, or CANCELLED as soon as `signal` aborts. */
function untilCancelled(work: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
