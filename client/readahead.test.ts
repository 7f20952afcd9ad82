// Readahead with a fake fetch over an in-memory file: when it starts, what it keeps (bounded),
// what a seek drops and aborts, failed blocks, and the known-length limit.
import { describe, expect, it } from 'vitest';
import { Readahead } from './readahead.js';

const BLOCK = 1024;

function file(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 10)) & 0xff;
  return bytes;
}

function harness(length: number, windowBytes = 4 * BLOCK) {
  const content = file(length);
  const fetches: Array<{ position: number; length: number; signal: AbortSignal }> = [];
  let failAt: number | undefined;
  const readahead = new Readahead({
    windowBytes,
    blockBytes: BLOCK,
    fetch: async (position, target, signal) => {
      fetches.push({ position, length: target.length, signal });
      await new Promise((resolve) => setImmediate(resolve));
      if (position === failAt) throw new Error('replica gone');
      const bytes = content.subarray(position, Math.min(length, position + target.length));
      bytes.copy(target);
      return bytes.length;
    },
  });
  return { content, fetches, readahead, failNext: (position: number) => (failAt = position) };
}

describe('Readahead', () => {
  it('starts after two reads in sequence; serves the next from blocks fetched ahead, within the window', async () => {
    const { content, fetches, readahead } = harness(64 * BLOCK);
    const size = 64 * BLOCK;
    const read = async (position: number, length: number) => {
      const target = Buffer.alloc(length);
      const served = readahead.read(position, target, size);
      return { served: served === undefined ? undefined : await served, target };
    };
    expect((await read(0, 300)).served).toBeUndefined();
    expect(fetches).toHaveLength(0);
    for (let position = 300; position < 20 * BLOCK; position += 300) {
      const { served, target } = await read(position, 300);
      expect(served).toBe(300);
      expect(target.equals(content.subarray(position, position + 300))).toBe(true);
      // Never more than the window ahead plus the block being read.
      expect(readahead.heldBytes).toBeLessThanOrEqual(4 * BLOCK + 2 * BLOCK);
    }
    // Each block fetched once.
    expect(new Set(fetches.map((f) => f.position)).size).toBe(fetches.length);
    expect(readahead.readsServed).toBeGreaterThan(50);
  });

  it('drops and aborts its blocks on a seek, and starts again only after a new sequence', async () => {
    const { fetches, readahead } = harness(64 * BLOCK);
    const size = 64 * BLOCK;
    const target = Buffer.alloc(BLOCK);
    readahead.read(0, target, size);
    await readahead.read(BLOCK, target, size);
    await readahead.read(2 * BLOCK, target, size);
    expect(readahead.heldBytes).toBeGreaterThan(0);
    const signals = fetches.map((f) => f.signal);
    expect(readahead.read(40 * BLOCK, target, size)).toBeUndefined();
    expect(readahead.heldBytes).toBe(0);
    expect(signals.every((signal) => signal.aborted)).toBe(true);
    expect(readahead.read(41 * BLOCK, target, size)).toBeUndefined();
    expect(readahead.read(42 * BLOCK, target, size)).toBeDefined();
  });

  it('leaves a read whose block failed to the caller, and never reads past the known length', async () => {
    const { fetches, readahead, failNext, content } = harness(10 * BLOCK);
    const target = Buffer.alloc(BLOCK);
    readahead.read(0, target, 10 * BLOCK);
    failNext(2 * BLOCK);
    expect(await readahead.read(BLOCK, target, 10 * BLOCK)).toBe(BLOCK);
    expect(await readahead.read(2 * BLOCK, target, 10 * BLOCK)).toBeUndefined();
    // The next read goes on (its block was fetched and is fine).
    expect(await readahead.read(3 * BLOCK, target, 10 * BLOCK)).toBe(BLOCK);
    expect(target.equals(content.subarray(3 * BLOCK, 4 * BLOCK))).toBe(true);
    expect(Math.max(...fetches.map((f) => f.position + f.length))).toBeLessThanOrEqual(10 * BLOCK);
    // A read reaching past the known length takes the normal path (which asks meta).
    expect(readahead.read(4 * BLOCK, Buffer.alloc(7 * BLOCK), 10 * BLOCK)).toBeUndefined();
  });

  it('stands aside, holding nothing, while the caller keeps other reads in flight', async () => {
    const { fetches, readahead } = harness(64 * BLOCK);
    const target = Buffer.alloc(BLOCK);
    readahead.read(0, target, 64 * BLOCK);
    await readahead.read(BLOCK, target, 64 * BLOCK);
    expect(readahead.heldBytes).toBeGreaterThan(0);
    expect(readahead.read(2 * BLOCK, target, 64 * BLOCK, 3)).toBeUndefined();
    expect(readahead.heldBytes).toBe(0);
    const before = fetches.length;
    expect(readahead.read(3 * BLOCK, target, 64 * BLOCK, 3)).toBeUndefined();
    expect(fetches).toHaveLength(before);
    // Still in sequence: alone again, it reads ahead at once.
    expect(await readahead.read(4 * BLOCK, target, 64 * BLOCK, 0)).toBe(BLOCK);
  });

  it('does nothing with a window of 0', () => {
    const { fetches, readahead } = harness(10 * BLOCK, 0);
    const target = Buffer.alloc(100);
    for (let i = 0; i < 5; i++) expect(readahead.read(i * 100, target, 10 * BLOCK)).toBeUndefined();
    expect(fetches).toHaveLength(0);
  });
});
