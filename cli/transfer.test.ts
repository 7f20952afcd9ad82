// copyBlocks (cli/transfer.ts) over in-memory ends: every byte lands at its offset whatever order
// the lanes finish in, a source that shrinks ends the copy at its new end, and the first failure
// stops the other lanes and is the error the copy rejects with.
import { describe, expect, it } from 'vitest';
import { copyBlocks, type BlockSink, type BlockSource } from './transfer.js';

function memorySource(data: Buffer, delays: (position: number) => number = () => 0): BlockSource {
  return {
    readAt: async (position, target) => {
      await new Promise((resolve) => setTimeout(resolve, delays(position)));
      if (position >= data.length) return 0;
      return data.copy(target, 0, position, Math.min(data.length, position + target.length));
    },
  };
}

function memorySink(into: Buffer, log: number[] = []): BlockSink {
  return {
    writeAt: async (position, bytes) => {
      log.push(position);
      bytes.copy(into, position);
    },
  };
}

const pattern = (length: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 7 + (i >> 8)) & 0xff));

describe('copyBlocks', () => {
  it('copies every byte to its offset, lanes finishing out of order, a partial last block', async () => {
    const data = pattern(10_000);
    const out = Buffer.alloc(10_000);
    const written: number[] = [];
    let seen = 0;
    const copied = await copyBlocks({
      source: memorySource(data, (position) => (position === 0 ? 20 : 0)), // block 0 finishes last
      sink: memorySink(out, written),
      totalBytes: data.length,
      blockBytes: 1024,
      lanes: 3,
      onBytes: (bytes) => (seen += bytes),
    });
    expect(copied).toBe(10_000);
    expect(out.equals(data)).toBe(true);
    expect(seen).toBe(10_000);
    expect(written.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i * 1024));
    expect(written.length).toBe(10);
  });

  it('an empty source copies nothing', async () => {
    const written: number[] = [];
    const copied = await copyBlocks({
      source: memorySource(Buffer.alloc(0)),
      sink: memorySink(Buffer.alloc(0), written),
      totalBytes: 0,
      blockBytes: 4096,
      lanes: 4,
    });
    expect(copied).toBe(0);
    expect(written).toEqual([]);
  });

  it('a source shorter than announced ends the copy at its end', async () => {
    const data = pattern(2_500);
    const out = Buffer.alloc(8_192);
    const copied = await copyBlocks({
      source: memorySource(data),
      sink: memorySink(out),
      totalBytes: 8_192,
      blockBytes: 1024,
      lanes: 2,
    });
    expect(copied).toBe(2_500);
    expect(out.subarray(0, 2_500).equals(data)).toBe(true);
  });

  it('the first failure stops the other lanes and rejects the copy', async () => {
    const data = pattern(64 * 1024);
    const reads: number[] = [];
    const source: BlockSource = {
      readAt: async (position, target) => {
        reads.push(position);
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (position === 2048) throw new Error('disk on fire');
        return data.copy(target, 0, position, position + target.length);
      },
    };
    await expect(
      copyBlocks({
        source,
        sink: memorySink(Buffer.alloc(data.length)),
        totalBytes: data.length,
        blockBytes: 1024,
        lanes: 2,
      }),
    ).rejects.toThrow('disk on fire');
    expect(reads.length).toBeLessThan(8); // 64 blocks were there to read
  });

  it('an aborted signal stops the copy', async () => {
    const controller = new AbortController();
    const data = pattern(16 * 1024);
    const sink: BlockSink = {
      writeAt: async (position) => {
        if (position === 0) controller.abort(new Error('stop'));
      },
    };
    await expect(
      copyBlocks({
        source: memorySource(data),
        sink,
        totalBytes: data.length,
        blockBytes: 1024,
        lanes: 1,
        signal: controller.signal,
      }),
    ).rejects.toThrow('stop');
  });
});
