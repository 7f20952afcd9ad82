// The transaction layer's own guarantees, with a backend whose visibility and durability the test
// releases by hand: acks wait for durability (in seq order), reads see committed writes the backend
// has not applied yet, the overlay empties once nobody needs it, a backend failure fails the
// engine, and close() waits for pending flushes.
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { KV_TXN_WRITES_MAX } from './constants.js';
import { MemoryBackend } from './memory-engine.js';
import {
  OptimisticEngine,
  type KvApplyResult,
  type KvBackend,
  type KvBackendCursor,
  type KvWrite,
} from './optimistic-engine.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface PendingBatch {
  writes: readonly KvWrite[];
  visible: Deferred;
  durable: Deferred;
}

/** Holds every batch until the test makes it visible (applied to the inner store) and durable. */
class ManualBackend implements KvBackend {
  readonly inner = new MemoryBackend();
  readonly batches: PendingBatch[] = [];
  closed = false;

  get(key: Buffer): Uint8Array | undefined {
    return this.inner.get(key);
  }

  scan(start: Buffer, end: Buffer, reverse: boolean): KvBackendCursor {
    return this.inner.scan(start, end, reverse);
  }

  apply(writes: readonly KvWrite[]): KvApplyResult {
    const batch = { writes, visible: deferred(), durable: deferred() };
    this.batches.push(batch);
    return { visible: batch.visible.promise, durable: batch.durable.promise };
  }

  makeVisible(index: number): void {
    const batch = this.batches[index]!;
    this.inner.apply(batch.writes);
    batch.visible.resolve();
  }

  makeDurable(index: number): void {
    this.batches[index]!.durable.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function text(value: string): Buffer {
  return Buffer.from(value);
}

function str(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value).toString();
}

function track<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { settled: () => done, promise };
}

describe('OptimisticEngine', () => {
  it('acknowledges a commit only when it is durable, and reads see it before the backend applies it', async () => {
    const backend = new ManualBackend();
    const engine = new OptimisticEngine({ name: 'manual', backend });
    const first = track(engine.transaction(async (txn) => txn.put(text('a'), text('1'))));
    await flush();
    expect(backend.batches.length).toBe(1);
    expect(first.settled()).toBe(false);

    // A later transaction reads the committed-but-unapplied write from the overlay.
    const second = track(
      engine.transaction(async (txn) => {
        const a = await txn.get(text('a'));
        const pairs = await txn.getRange(text('a'), text('z'));
        txn.put(text('b'), text(`${str(a)}+1`));
        return { a: str(a), keys: pairs.map((pair) => str(pair.key)) };
      }),
    );
    await flush();
    expect(backend.batches.length).toBe(2);

    backend.makeVisible(0);
    backend.makeVisible(1);
    await flush();
    expect(first.settled()).toBe(false); // visible is not durable

    // Durability is acknowledged in seq order: batch 1 durable alone does not ack it.
    backend.makeDurable(1);
    await flush();
    expect(second.settled()).toBe(false);
    backend.makeDurable(0);
    await first.promise;
    expect(await second.promise).toEqual({ a: '1', keys: ['a'] });
    expect(engine.stats().overlayKeys).toBe(0);
    await engine.close();
  });

  it('calls onCommitted once at the commit point, before durability; not for a conflict or a failure', async () => {
    const backend = new ManualBackend();
    const engine = new OptimisticEngine({ name: 'manual', backend });
    const events: string[] = [];
    let runs = 0;
    let gate!: () => void;
    const inside = new Promise<void>((resolve) => (gate = resolve));
    const writer = track(
      engine.transaction(
        async (txn) => {
          runs++;
          await txn.get(text('k'));
          if (runs === 1) await inside; // a concurrent writer commits k meanwhile: this attempt conflicts
          txn.put(text('k'), text(`w${runs}`));
        },
        { onCommitted: () => events.push(`committed after ${runs} runs`) },
      ),
    );
    await flush();
    const other = engine.transaction(async (txn) => txn.put(text('k'), text('other')), {
      onCommitted: () => events.push('other'),
    });
    // The blind write committed; its ack waits for durability, but onCommitted came at once.
    await flush();
    expect(events).toEqual(['other']);
    gate();
    await flush();
    expect(events).toEqual(['other', 'committed after 2 runs']);
    expect(writer.settled()).toBe(false); // committed, not yet durable
    backend.makeVisible(0);
    backend.makeVisible(1);
    backend.makeDurable(0);
    backend.makeDurable(1);
    await other;
    await writer.promise;
    const failed = engine.transaction(
      async (txn) => {
        txn.put(text('x'), text('1'));
        throw new Error('body failed');
      },
      { onCommitted: () => events.push('failed one') },
    );
    await expect(failed).rejects.toThrow('body failed');
    expect(events).toEqual(['other', 'committed after 2 runs']);
    await engine.close();
  });

  it('makes a read-only transaction wait until the snapshot it read is durable', async () => {
    const backend = new ManualBackend();
    const engine = new OptimisticEngine({ name: 'manual', backend });
    void engine.transaction(async (txn) => txn.put(text('k'), text('v')));
    await flush();
    const reader = track(engine.transaction((txn) => txn.get(text('k')), { readOnly: true }));
    await flush();
    expect(reader.settled()).toBe(false);
    backend.makeVisible(0);
    backend.makeDurable(0);
    expect(str(await reader.promise)).toBe('v');
    await engine.close();
  });

  it('keeps old versions for running snapshots and drops them afterwards', async () => {
    const backend = new ManualBackend();
    const engine = new OptimisticEngine({ name: 'manual', backend });
    const release = deferred();
    const seenByOldSnapshot = engine.transaction(
      async (txn) => {
        await release.promise;
        return str(await txn.get(text('k')));
      },
      { readOnly: true },
    );
    const writer = engine.transaction(async (txn) => txn.put(text('k'), text('new')));
    await flush();
    backend.makeVisible(0);
    backend.makeDurable(0);
    await writer;
    // Applied and durable, but an older snapshot still runs: the version chain stays.
    expect(engine.stats().overlayKeys).toBe(1);
    release.resolve();
    expect(await seenByOldSnapshot).toBeUndefined();
    expect(engine.stats().overlayKeys).toBe(0);
    expect(str(await engine.transaction((txn) => txn.get(text('k')), { readOnly: true }))).toBe('new');
    await engine.close();
  });

  it('fails every pending and later transaction with IO_ERROR when the backend fails', async () => {
    const backend = new ManualBackend();
    const engine = new OptimisticEngine({ name: 'manual', backend });
    const pending = engine.transaction(async (txn) => txn.put(text('k'), text('v')));
    await flush();
    backend.batches[0]!.visible.reject(new Error('disk on fire'));
    const error = await pending.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(SpindleError);
    expect((error as SpindleError).errorCode).toBe(ErrorCode.IO_ERROR);
    await expect(engine.transaction(async (txn) => txn.get(text('k')))).rejects.toMatchObject({
      errorCode: ErrorCode.IO_ERROR,
    });
    await engine.close();
    expect(backend.closed).toBe(true);
  });

  it('waits for pending commits on close, then refuses work', async () => {
    const backend = new ManualBackend();
    const engine = new OptimisticEngine({ name: 'manual', backend });
    const commit = engine.transaction(async (txn) => txn.put(text('k'), text('v')));
    await flush();
    const closing = track(engine.close());
    await flush();
    expect(closing.settled()).toBe(false);
    expect(backend.closed).toBe(false);
    await expect(engine.transaction(async (txn) => txn.get(text('k')))).rejects.toMatchObject({
      errorCode: ErrorCode.CANCELLED,
    });
    backend.makeVisible(0);
    backend.makeDurable(0);
    await commit;
    await closing.promise;
    expect(backend.closed).toBe(true);
    expect(engine.close()).toBe(engine.close());
  });

  it('runs re-tries one at a time so a hot counter needs no more than one retry each', async () => {
    const engine = new OptimisticEngine({ name: 'memory', backend: new MemoryBackend(), txnRetriesMax: 1 });
    const attempts: number[] = [];
    await Promise.all(
      Array.from({ length: 30 }, () => {
        let attempt = 0;
        return engine.transaction(async (txn) => {
          attempt++;
          attempts.push(attempt);
          const value = Number(str(await txn.get(text('n'))) ?? '0');
          txn.put(text('n'), text(String(value + 1)));
        });
      }),
    );
    expect(str(await engine.transaction((txn) => txn.get(text('n')), { readOnly: true }))).toBe('30');
    expect(Math.max(...attempts)).toBe(2);
    await engine.close();
  });

  it('refuses a transaction object used after its transaction finished', async () => {
    const engine = new OptimisticEngine({ name: 'memory', backend: new MemoryBackend() });
    let leaked: { get(key: Uint8Array): Promise<unknown>; put(key: Uint8Array, value: Uint8Array): void } | undefined;
    await engine.transaction(async (txn) => {
      leaked = txn;
    });
    await expect(leaked!.get(text('k'))).rejects.toMatchObject({ errorCode: ErrorCode.INVALID_ARGUMENT });
    expect(() => leaked!.put(text('k'), text('v'))).toThrow(SpindleError);
    await engine.close();
  });

  it('expires a snapshot that pins the overlay past its limit, and re-runs that transaction', async () => {
    const backend = new ManualBackend();
    const engine = new OptimisticEngine({ name: 'manual', backend, overlayKeysMax: 5 });
    const release = deferred();
    const seen: Array<string | undefined> = [];
    const stuck = engine.transaction(
      async (txn) => {
        seen.push(str(await txn.get(text('k0'))));
        if (seen.length === 1) await release.promise;
        return str(await txn.get(text('k1')));
      },
      { readOnly: true },
    );
    await flush();
    for (let i = 0; i < 10; i++) {
      const commit = engine.transaction(async (txn) => txn.put(text(`k${i}`), text(`v${i}`)));
      await flush();
      backend.makeVisible(i);
      backend.makeDurable(i);
      await commit;
    }
    expect(engine.stats().overlayKeys).toBeLessThanOrEqual(5);
    release.resolve();
    expect(await stuck).toBe('v1');
    expect(seen).toEqual([undefined, 'v0']);
    expect(engine.stats().overlayKeys).toBe(0);
    await engine.close();
  });

  it('refuses more than KV_TXN_WRITES_MAX writes in one transaction', async () => {
    const engine = new OptimisticEngine({ name: 'memory', backend: new MemoryBackend() });
    const error = await engine
      .transaction(async (txn) => {
        for (let i = 0; i <= KV_TXN_WRITES_MAX; i++) txn.put(text(`w${i}`), text('x'));
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toMatchObject({ errorCode: ErrorCode.INVALID_ARGUMENT });
    // Rewriting a key already written does not count twice.
    await engine.transaction(async (txn) => {
      for (let i = 0; i < KV_TXN_WRITES_MAX; i++) txn.put(text(`w${i}`), text('x'));
      txn.put(text('w0'), text('y'));
    });
    await engine.close();
  });

  it('rejects out-of-range txnRetriesMax', () => {
    expect(() => new OptimisticEngine({ name: 'x', backend: new MemoryBackend(), txnRetriesMax: 1.5 })).toThrow(
      SpindleError,
    );
  });
});
