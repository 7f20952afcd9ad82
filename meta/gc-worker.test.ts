import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ManualClock } from '../common/clock.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { InodeType, type Inode, type Layout } from '../proto/index.js';
import { GcWorker } from './gc-worker.js';
import type { KvEngine } from './kv/engine.js';
import { createMemoryEngine } from './kv/memory-engine.js';
import { listGcQueue } from './namespace/gc-queue.js';
import { encodeGcRecord, gcOrderKey, gcRecordKey } from './namespace/schema.js';
import type { StoragePort } from './storage-port.js';

const layout: Layout = {
  chunkSizeBytes: 65_536,
  stripeWidth: 2,
  chainTableId: 1,
  chainTableVersion: 1,
  chainBase: 0,
  shuffleSeed: 7,
};

function inode(ino: number, fileLayout: Layout | undefined = layout): Inode {
  return {
    ino,
    type: InodeType.FILE,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 100,
    nlink: 0,
    atimeUs: 0,
    mtimeUs: 0,
    ctimeUs: 0,
    layout: fileLayout,
    symlinkTarget: '',
    truncateVersion: 0,
    parentIno: 0,
  };
}

async function enqueue(kv: KvEngine, ino: number, queuedAtUs: number, fileLayout?: Layout): Promise<void> {
  await kv.transaction(async (txn) => {
    txn.put(gcRecordKey(ino), encodeGcRecord({ queuedAtUs, inode: inode(ino, fileLayout) }));
    txn.put(gcOrderKey(queuedAtUs, ino), new Uint8Array());
  });
}

class FakeStorage implements StoragePort {
  removed: Array<{ ino: number; from: number }> = [];
  failing = new Set<number>();
  async removeChunks(ino: number, _layout: Layout, fromChunkIndex: number): Promise<void> {
    if (this.failing.has(ino)) throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'storage node unreachable');
    this.removed.push({ ino, from: fromChunkIndex });
  }
  async truncateFile(): Promise<void> {}
  async queryLength(): Promise<number> {
    return 0;
  }
}

const queued = async (kv: KvEngine) => (await listGcQueue(kv, 100)).map((e) => e.ino);

describe('GcWorker', () => {
  const workers: GcWorker[] = [];
  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.close();
  });

  function make(kv: KvEngine, storage: StoragePort, clock: ManualClock, registry?: Registry, batchSize = 2): GcWorker {
    const worker = new GcWorker({ kv, storage, clock, intervalMs: 100, batchSize, delayMs: 1_000, registry });
    workers.push(worker);
    return worker;
  }

  it('removes chunks of due files from chunk 0, then drops their records; younger files wait the delay', async () => {
    const kv = createMemoryEngine();
    const clock = new ManualClock(10_000);
    const storage = new FakeStorage();
    const registry = new Registry();
    const worker = make(kv, storage, clock, registry, 10);
    await enqueue(kv, 11, 8_000_000); // 2 s old
    await enqueue(kv, 12, 9_500_000); // 0.5 s old: not yet
    // Placed nothing:
    await enqueue(kv, 13, 5_000_000, { ...layout, chainTableId: 0, stripeWidth: 0, chunkSizeBytes: 0 });

    expect(await worker.runOnce()).toEqual({ collected: 2, failed: 0, deferred: 0 });
    expect(storage.removed).toEqual([{ ino: 11, from: 0 }]);
    expect(await queued(kv)).toEqual([12]);

    clock.advance(600);
    expect(await worker.runOnce()).toMatchObject({ collected: 1 });
    expect(await queued(kv)).toEqual([]);
    expect(await registry.metrics()).toMatch(/spindle_meta_gc_files_collected_total 3/);
  });

  it('keeps a failing file queued, backed off and not blocking others; collects it once storage recovers', async () => {
    const kv = createMemoryEngine();
    const clock = new ManualClock(100_000);
    const storage = new FakeStorage();
    const registry = new Registry();
    const worker = make(kv, storage, clock, registry, 2);
    storage.failing.add(1);
    storage.failing.add(2);
    for (const ino of [1, 2, 3, 4]) await enqueue(kv, ino, ino);

    expect(await worker.runOnce()).toEqual({ collected: 0, failed: 2, deferred: 0 });
    expect(await queued(kv)).toEqual([1, 2, 3, 4]);
    // The two failing files back off; the next round reaches the others.
    expect(await worker.runOnce()).toEqual({ collected: 2, failed: 0, deferred: 2 });
    expect(await queued(kv)).toEqual([1, 2]);
    expect(await registry.metrics()).toMatch(/spindle_meta_gc_failures_total 2/);

    storage.failing.clear();
    clock.advance(100);
    expect(await worker.runOnce()).toEqual({ collected: 2, failed: 0, deferred: 0 });
    expect(await queued(kv)).toEqual([]);
  });

  it('runs in the background on its clock and stops on close', async () => {
    const kv = createMemoryEngine();
    const clock = new ManualClock(100_000);
    const storage = new FakeStorage();
    const worker = make(kv, storage, clock);
    await enqueue(kv, 5, 1);
    worker.start();
    worker.start();
    for (let i = 0; i < 20 && (await queued(kv)).length > 0; i++) await clock.advanceAsync(100, 50);
    expect(await queued(kv)).toEqual([]);
    await worker.close();
    await worker.close();
    await enqueue(kv, 6, 1);
    await clock.advanceAsync(500, 100);
    expect(await queued(kv)).toEqual([6]);
    expect(clock.pendingSleeps).toBe(0);
  });
});
