// The memory engine passes the KvEngine conformance suite; a second run puts a backend under the
// same transaction layer whose commits become visible and durable only turns later (like lmdb's
// write thread), so snapshot reads must come from the overlay of committed-but-not-applied writes.
import { runKvConformance } from './testing/conformance.js';
import { MemoryBackend, createMemoryEngine } from './memory-engine.js';
import {
  OptimisticEngine,
  type KvApplyResult,
  type KvBackend,
  type KvBackendCursor,
  type KvWrite,
} from './optimistic-engine.js';

runKvConformance('memory', async () => {
  const engine = createMemoryEngine();
  return { engine, cleanup: () => engine.close() };
});

/** Applies each batch to the inner store a macrotask later, and makes it durable one more later. */
class LaggingBackend implements KvBackend {
  constructor(private readonly inner: MemoryBackend) {}

  get(key: Buffer): Uint8Array | undefined {
    return this.inner.get(key);
  }

  scan(start: Buffer, end: Buffer, reverse: boolean): KvBackendCursor {
    return this.inner.scan(start, end, reverse);
  }

  apply(writes: readonly KvWrite[]): KvApplyResult {
    const visible = new Promise<void>((resolve) =>
      setImmediate(() => {
        this.inner.apply(writes);
        resolve();
      }),
    );
    const durable = visible.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    return { visible, durable };
  }

  async close(): Promise<void> {
    // Keeps the inner store: a reopened engine sees what was durable.
  }
}

runKvConformance('memory with a lagging backend', async () => {
  const store = new MemoryBackend();
  const engine = new OptimisticEngine({ name: 'lagging', backend: new LaggingBackend(store) });
  return {
    engine,
    cleanup: () => engine.close(),
    reopen: async () => new OptimisticEngine({ name: 'lagging', backend: new LaggingBackend(store) }),
  };
});
