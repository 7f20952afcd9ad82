import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlockFiles } from './block-files.js';
import type { BlockIo } from './block-io.js';
import { FsBlockIo } from './fs-block-io.js';
import { blockIoBackendsUnderTest } from './testing/backends.js';
import { UringBlockIo } from './uring-block-io.js';

function pattern(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

function ioOf(kind: BlockIo['kind']): BlockIo {
  return kind === 'uring' ? new UringBlockIo() : new FsBlockIo();
}

describe.each(blockIoBackendsUnderTest())('$kind block I/O', ({ kind, skip }) => {
  if (skip !== undefined) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }

  describe('BlockFiles with direct writes', () => {
    let dir: string;
    let files: BlockFiles;

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'spindle-block-files-'));
      files = await BlockFiles.open(dir, { direct: true, io: ioOf(kind) });
      expect(files.ioKind).toBe(kind);
      expect(files.directWrites).toBe(true);
    });

    afterEach(async () => {
      await files.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('reads back whole-block writes of any length, then appends in place and rewrites', async () => {
      const block = { classLog2: 20, blockNo: 3 };
      const first = pattern(300_001, 1); // not a multiple of the alignment: padded inside the block
      await files.write(block, 0, first);
      await files.sync(block);
      expect(Buffer.compare(await files.read(block, 0, first.length), first)).toBe(0);
      // An append past the length (unaligned: buffered) lands after the direct write's bytes.
      const tail = pattern(5_000, 2);
      await files.write(block, first.length, tail);
      await files.sync(block);
      expect(Buffer.compare(await files.read(block, 0, first.length + tail.length), Buffer.concat([first, tail]))).toBe(
        0,
      );
      // A later whole-block write replaces what the page cache held for the range.
      const second = pattern(1 << 20, 3);
      await files.write(block, 0, second);
      await files.sync(block);
      expect(Buffer.compare(await files.read(block, 0, second.length), second)).toBe(0);
      // Neighbouring blocks are untouched.
      const neighbour = { classLog2: 20, blockNo: 4 };
      expect((await files.read(neighbour, 0, 4096)).every((b) => b === 0)).toBe(true);
    });

    it('reads unaligned ranges of any size inside a block, and zeros past what was written', async () => {
      const block = { classLog2: 20, blockNo: 1 };
      const data = pattern(700_000, 4);
      await files.write(block, 0, data);
      await files.sync(block);
      for (const [offset, length] of [
        [12_345, 500_000],
        [4096, 65_536],
        [1, 3],
        [699_990, 10],
        [65_535, 70_000],
      ] as const) {
        expect(Buffer.compare(await files.read(block, offset, length), data.subarray(offset, offset + length))).toBe(0);
      }
      // Straddling the end of what was written: the rest reads as zeros (large and small reads).
      const across = await files.read(block, 600_000, 200_000);
      expect(Buffer.compare(across.subarray(0, 100_000), data.subarray(600_000))).toBe(0);
      expect(across.subarray(100_000).every((b) => b === 0)).toBe(true);
      const into = Buffer.alloc(300_000, 0xee);
      expect(await files.read(block, 500_000, 250_000, into)).toBe(into);
      expect(Buffer.compare(into.subarray(0, 200_000), data.subarray(500_000))).toBe(0);
      expect(into.subarray(200_000, 250_000).every((b) => b === 0)).toBe(true);
      expect(into.subarray(250_000).every((b) => b === 0xee)).toBe(true);
    });

    it('runs concurrent writes to different blocks with their own bounce buffers', async () => {
      const blocks = Array.from({ length: 6 }, (_, i) => ({ classLog2: 18, blockNo: i }));
      const datas = blocks.map((_, i) => pattern(200_000 + i * 4_097, 10 + i));
      await Promise.all(blocks.map((block, i) => files.write(block, 0, datas[i]!)));
      for (const [i, block] of blocks.entries()) {
        expect(Buffer.compare(await files.read(block, 0, datas[i]!.length), datas[i]!)).toBe(0);
      }
    });
  });
});
