// The pump takes a message from its source only once the previous one was handed over, waits for
// 'drain' when the stream's buffer is full, and stops at once when the caller cancels.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { type MessageSink, pumpMessages } from './message-pump.js';

/** A sink whose write callbacks run only when the test says so. */
class ManualSink extends EventEmitter implements MessageSink<number> {
  readonly written: number[] = [];
  readonly callbacks: Array<(error?: Error | null) => void> = [];
  full = false;

  write(message: number, callback: (error?: Error | null) => void): boolean {
    this.written.push(message);
    this.callbacks.push(callback);
    return !this.full;
  }
}

function source(count: number): { next: () => Promise<number | undefined>; taken: () => number } {
  let taken = 0;
  return {
    next: async () => (taken < count ? taken++ : undefined),
    taken: () => taken,
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('pumpMessages', () => {
  it('takes the next message only after the previous write completed', async () => {
    const sink = new ManualSink();
    const messages = source(3);
    const done = pumpMessages(messages.next, sink, new AbortController().signal);
    await settle();
    expect(sink.written).toEqual([0]);
    expect(messages.taken()).toBe(1);
    sink.callbacks[0]?.();
    await settle();
    expect(sink.written).toEqual([0, 1]);
    expect(messages.taken()).toBe(2);
    sink.callbacks[1]?.();
    await settle();
    sink.callbacks[2]?.();
    await done;
    expect(sink.written).toEqual([0, 1, 2]);
  });

  it("waits for 'drain' when the stream's buffer is full", async () => {
    const sink = new ManualSink();
    sink.full = true;
    const messages = source(2);
    const done = pumpMessages(messages.next, sink, new AbortController().signal);
    await settle();
    sink.callbacks[0]?.();
    await settle();
    expect(messages.taken()).toBe(1);
    sink.full = false;
    sink.emit('drain');
    await settle();
    expect(sink.written).toEqual([0, 1]);
    sink.callbacks[1]?.();
    await done;
    expect(sink.listenerCount('drain')).toBe(0);
  });

  it("sees a 'drain' emitted right after the write's callback, as a Writable does", async () => {
    const sink = new ManualSink();
    sink.full = true;
    const messages = source(2);
    const done = pumpMessages(messages.next, sink, new AbortController().signal);
    await settle();
    sink.full = false;
    sink.callbacks[0]?.();
    sink.emit('drain');
    await settle();
    expect(sink.written).toEqual([0, 1]);
    sink.callbacks[1]?.();
    await done;
  });

  it('rejects with CANCELLED when the caller cancels while a write is pending, taking nothing more', async () => {
    const sink = new ManualSink();
    const messages = source(5);
    const controller = new AbortController();
    const done = pumpMessages(messages.next, sink, controller.signal);
    await settle();
    controller.abort();
    const error = await done.catch((err: unknown) => err);
    expect(error).toBeInstanceOf(SpindleError);
    expect((error as SpindleError).errorCode).toBe(ErrorCode.CANCELLED);
    expect(messages.taken()).toBe(1);
  });

  it("passes a failed write's error on", async () => {
    const sink = new ManualSink();
    const done = pumpMessages(source(2).next, sink, new AbortController().signal);
    await settle();
    sink.callbacks[0]?.(new Error('stream destroyed'));
    await expect(done).rejects.toThrow('stream destroyed');
  });
});
