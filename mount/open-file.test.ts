// OpenFile's write-back buffer and readahead against an in-memory FileHandle: what reaches
// "storage", in which pieces, and what reads return.
import { describe, expect, it } from 'vitest';
import type { FileHandle } from '../client/file-handle.js';
import { WRITE_BUFFER_BYTES } from './constants.js';
import { BufferPool, OpenFile } from './open-file.js';

const MiB = 1024 * 1024;

/** An in-memory file with the FileHandle methods OpenFile uses; records each storage call. */
class FakeHandle {
  readonly ino = 7;
  /** Readahead blocks are chunks: 1 MiB here, so a few MiB of file make several blocks. */
  readonly chunkSizeBytes = MiB;
  data: Buffer = Buffer.alloc(0);
  syncedLength = 0;
  writes: Array<{ at: number; length: number }> = [];
  reads: Array<{ at: number; length: number }> = [];
  syncs = 0;
  failNextWrite: Error | undefined;
  closed = false;

  get size(): number {
    return this.data.length;
  }

  async writeBytes(bytes: Uint8Array, at: number): Promise<number> {
    await new Promise((r) => setImmediate(r));
    if (this.failNextWrite !== undefined) {
      const err = this.failNextWrite;
      this.failNextWrite = undefined;
      throw err;
    }
    if (at + bytes.length > this.data.length)
      this.data = Buffer.concat([this.data, Buffer.alloc(at + bytes.length - this.data.length)]);
    Buffer.from(bytes).copy(this.data, at);
    this.writes.push({ at, length: bytes.length });
    return bytes.length;
  }

  async readAt(at: number, target: Uint8Array): Promise<number> {
    await new Promise((r) => setImmediate(r));
    this.reads.push({ at, length: target.length });
    const end = Math.min(this.data.length, at + target.length);
    if (end <= at) return 0;
    this.data.copy(target, 0, at, end);
    return end - at;
  }

  async sync(): Promise<void> {
    this.syncs++;
    this.syncedLength = this.data.length;
  }

  async stat(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }
}

function openFile(handle: FakeHandle): OpenFile {
  return new OpenFile(
    1,
    handle as unknown as FileHandle,
    { generation: 0 },
    true,
    new BufferPool(WRITE_BUFFER_BYTES, 4),
  );
}

function pattern(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe('OpenFile write-back buffer', () => {
  it('collects sequential 1 MiB writes into chunk-aligned buffers and syncs the length once', async () => {
    const handle = new FakeHandle();
    const file = openFile(handle);
    const source = pattern(10 * MiB + 5, 1);
    for (let at = 0; at < source.length; at += MiB)
      await file.write(at, source.subarray(at, Math.min(source.length, at + MiB)));
    expect(file.writtenEnd).toBe(source.length);
    expect(handle.syncs).toBe(0);
    await file.sync();
    expect(Buffer.compare(handle.data, source)).toBe(0);
    expect(handle.syncs).toBe(1);
    // Two whole 4 MiB buffers and the tail: three storage writes, each starting on a 4 MiB boundary.
    expect(handle.writes.map((w) => w.at).sort((a, b) => a - b)).toEqual([0, 4 * MiB, 8 * MiB]);
    await file.sync();
    expect(handle.syncs).toBe(1); // nothing new written: no second length report
  });

  it('aligns the first buffer to the next 4 MiB boundary and flushes on a non-contiguous write', async () => {
    const handle = new FakeHandle();
    const file = openFile(handle);
    await file.write(3 * MiB, pattern(2 * MiB, 2));
    await file.write(100, Buffer.from('hello'));
    await file.flushAll();
    const sorted = [...handle.writes].sort((a, b) => a.at - b.at);
    expect(sorted).toEqual([
      { at: 100, length: 5 },
      { at: 3 * MiB, length: MiB },
      { at: 4 * MiB, length: MiB },
    ]);
    expect(handle.data.subarray(100, 105).toString()).toBe('hello');
  });

  it('sends 4 KiB writes as whole chunks, and a partly filled buffer once the writer is idle', async () => {
    const handle = new FakeHandle();
    const idleMs = 50;
    const file = new OpenFile(
      1,
      handle as unknown as FileHandle,
      { generation: 0 },
      true,
      new BufferPool(WRITE_BUFFER_BYTES, 4),
      { idleMs, maxAgeMs: 60_000 },
    );
    const piece = 4096;
    const data = pattern(WRITE_BUFFER_BYTES + 20 * piece, 9);
    for (let at = 0; at < WRITE_BUFFER_BYTES; at += piece) await file.write(at, data.subarray(at, at + piece));
    while (handle.writes.length < 1) await new Promise((r) => setImmediate(r));
    expect(handle.writes).toEqual([{ at: 0, length: WRITE_BUFFER_BYTES }]);
    // A slow steady writer (a piece every idleMs / 2) is not cut into partial chunks...
    for (let at = WRITE_BUFFER_BYTES; at < data.length; at += piece) {
      await file.write(at, data.subarray(at, at + piece));
      await new Promise((r) => setTimeout(r, idleMs / 2));
    }
    expect(handle.writes.length).toBe(1);
    // ...and once it stops (no fsync, no close) the rest goes as one write.
    await new Promise((r) => setTimeout(r, idleMs * 4));
    expect(handle.writes).toEqual([
      { at: 0, length: WRITE_BUFFER_BYTES },
      { at: WRITE_BUFFER_BYTES, length: 20 * piece },
    ]);
    expect(Buffer.compare(handle.data, data)).toBe(0);
    expect(handle.syncs).toBe(0);
  });

  it('sends a buffer that keeps getting writes once it reaches the maximum age', async () => {
    const handle = new FakeHandle();
    const file = new OpenFile(
      1,
      handle as unknown as FileHandle,
      { generation: 0 },
      true,
      new BufferPool(WRITE_BUFFER_BYTES, 4),
      { idleMs: 20, maxAgeMs: 100 },
    );
    for (let i = 0; handle.writes.length === 0 && i < 100; i++) {
      await file.write(i * 10, Buffer.alloc(10, 1));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(handle.writes.length).toBe(1);
    expect(handle.writes[0]!.at).toBe(0);
  });

  it('reports a failed background flush on the next call, once', async () => {
    const handle = new FakeHandle();
    const file = openFile(handle);
    handle.failNextWrite = Object.assign(new Error('chain unreachable'), { code: 'EIO' });
    await file.write(0, pattern(WRITE_BUFFER_BYTES, 3)); // fills the buffer: flush starts in the background
    await expect(file.sync()).rejects.toThrow('chain unreachable');
    await file.write(0, pattern(10, 4));
    await file.sync();
    expect(handle.syncs).toBe(1);
  });

  it('close flushes, syncs and releases the handle', async () => {
    const handle = new FakeHandle();
    const file = openFile(handle);
    await file.write(0, Buffer.from('abc'));
    expect(file.hasPendingWrites).toBe(true);
    await file.close();
    expect(handle.data.toString()).toBe('abc');
    expect(handle.syncedLength).toBe(3);
    expect(handle.closed).toBe(true);
    expect(file.hasPendingWrites).toBe(false);
  });
});

describe('OpenFile readahead', () => {
  it('reads exactly what a random reader asks for', async () => {
    const handle = new FakeHandle();
    handle.data = pattern(8 * MiB, 5);
    const file = openFile(handle);
    const got = await file.read(5 * MiB + 3, 4096);
    expect(Buffer.compare(got, handle.data.subarray(5 * MiB + 3, 5 * MiB + 3 + 4096))).toBe(0);
    const got2 = await file.read(1 * MiB, 4096);
    expect(got2.length).toBe(4096);
    expect(handle.reads).toEqual([
      { at: 5 * MiB + 3, length: 4096 },
      { at: MiB, length: 4096 },
    ]);
  });

  it('prefetches whole blocks ahead of a sequential reader and returns the right bytes to the end', async () => {
    const handle = new FakeHandle();
    handle.data = pattern(6 * MiB + 777, 6);
    const file = openFile(handle);
    const out: Buffer[] = [];
    for (let at = 0; ; at += 128 * 1024) {
      const part = await file.read(at, 128 * 1024);
      if (part.length === 0) break;
      out.push(part);
    }
    expect(Buffer.compare(Buffer.concat(out), handle.data)).toBe(0);
    const blockReads = handle.reads.filter((r) => r.length === handle.chunkSizeBytes);
    // Each block is fetched once, as a whole block.
    expect(new Set(blockReads.map((r) => r.at)).size).toBe(blockReads.length);
    expect(blockReads.length).toBeGreaterThanOrEqual(6);
    expect(handle.reads.length).toBeLessThan(12);
  });

  it('drops prefetched blocks when the file is written through the mount', async () => {
    const handle = new FakeHandle();
    handle.data = pattern(4 * MiB, 7);
    const file = openFile(handle);
    await file.read(0, 4096);
    await file.read(4096, 4096); // sequential: blocks are now cached
    await file.write(8192, Buffer.from('NEW'));
    await file.flushAll();
    const got = await file.read(8192, 3);
    expect(got.toString()).toBe('NEW');
  });
});
