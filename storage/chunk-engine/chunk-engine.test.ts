import { spawn } from 'node:child_process';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { entryArgv } from '../../cluster/index.js';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { UpdateType } from '../../proto/index.js';
import { CRC_SEGMENT_BYTES } from '../constants.js';
import { BlockAllocator, blocksPerFile, classForLength } from './block-allocator.js';
import { BLOCK_IO_ENV } from './block-io.js';
import { ChunkEngine } from './chunk-engine.js';
import { blockIoBackendsUnderTest } from './testing/backends.js';
import { decodeChunkKey, encodeChunkKey, inoKeyRange } from './chunk-key.js';

const KiB = 1024;

function bytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await expect(promise).rejects.toSatisfy((err: unknown) => isSpindleError(err, code));
}

describe('chunk keys', () => {
  it('encodes ino ‖ index big-endian so one file is one ordered range', () => {
    const key = encodeChunkKey(0x0102030405, 7);
    expect(key.toString('hex')).toBe('0000000102030405' + '0000000000000007');
    expect(decodeChunkKey(key)).toEqual({ ino: 0x0102030405, index: 7 });
    const big = encodeChunkKey(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    expect(decodeChunkKey(big)).toEqual({ ino: Number.MAX_SAFE_INTEGER, index: Number.MAX_SAFE_INTEGER });
    const { start, end } = inoKeyRange(5, 2);
    expect(Buffer.compare(start, encodeChunkKey(5, 2))).toBe(0);
    expect(Buffer.compare(encodeChunkKey(5, 2 ** 40), end)).toBe(-1);
    expect(Buffer.compare(encodeChunkKey(6, 0), end)).toBe(0);
    expect(Buffer.compare(encodeChunkKey(4, 2 ** 40), start)).toBe(-1);
  });
});

describe('block allocator', () => {
  it('reuses the lowest freed block and defers freeing while a reader holds it', () => {
    const allocator = new BlockAllocator();
    const a = allocator.allocate(16);
    const b = allocator.allocate(16);
    const c = allocator.allocate(16);
    expect([a.blockNo, b.blockNo, c.blockNo]).toEqual([0, 1, 2]);
    allocator.retain(b);
    allocator.free(b);
    expect(allocator.allocate(16).blockNo).toBe(3);
    allocator.release(b);
    expect(allocator.allocate(16).blockNo).toBe(1);
    allocator.free(a);
    expect(allocator.allocate(16).blockNo).toBe(0);
    expect(allocator.usedBlocks(16)).toBe(4);
  });

  it('grows past many words and picks size classes by length', () => {
    const allocator = new BlockAllocator();
    for (let i = 0; i < 5000; i++) expect(allocator.allocate(16).blockNo).toBe(i);
    allocator.free({ classLog2: 16, blockNo: 4097 });
    expect(allocator.allocate(16).blockNo).toBe(4097);
    expect(classForLength(0)).toBe(16);
    expect(classForLength(64 * KiB)).toBe(16);
    expect(classForLength(64 * KiB + 1)).toBe(17);
    expect(classForLength(64 * KiB * KiB)).toBe(26);
    expect(() => classForLength(64 * KiB * KiB + 1)).toThrow();
    expect(blocksPerFile(16)).toBe(16384);
    expect(blocksPerFile(26)).toBe(16);
  });

  it('refuses two chunks claiming one block', () => {
    const allocator = new BlockAllocator();
    allocator.markUsed({ classLog2: 20, blockNo: 3 });
    expect(() => allocator.markUsed({ classLog2: 20, blockNo: 3 })).toThrow(/two chunks/);
  });
});

// Every test below runs once per block I/O backend (block-io.ts), chosen through $SPINDLE_BLOCK_IO
// so that reopened engines and the crash test's child process use the same one.
describe.each(blockIoBackendsUnderTest())('ChunkEngine with $kind block I/O', ({ kind: backend, skip }) => {
  let savedMode: string | undefined;
  beforeAll(() => {
    savedMode = process.env[BLOCK_IO_ENV];
    process.env[BLOCK_IO_ENV] = backend;
  });
  afterAll(() => {
    if (savedMode === undefined) delete process.env[BLOCK_IO_ENV];
    else process.env[BLOCK_IO_ENV] = savedMode;
  });
  if (skip !== undefined) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }

  let dir: string;
  let engine: ChunkEngine;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spindle-chunk-engine-'));
    engine = await ChunkEngine.open({ dir });
    // The suite must really run on the backend it names.
    expect(engine.blockIo.kind).toBe(backend);
  });

  afterEach(async () => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function write(ino: number, index: number, offset: number, data: Buffer, chainVersion = 1) {
    const version = (engine.committed(ino, index)?.commitVersion ?? 0) + 1;
    const pending = await engine.applyUpdate(ino, index, version, { type: UpdateType.WRITE, offset, data });
    const info = await engine.commit(ino, index, version, chainVersion);
    return { pending, info: info! };
  }

  describe('ChunkEngine', () => {
    it('writes, commits and reads back with a CRC32C of the whole chunk', async () => {
      const data = bytes(100 * KiB, 1);
      const { pending, info } = await write(7, 0, 0, data);
      expect(pending).toEqual({ version: 1, length: data.length, crc32c: crc32c(data), removed: false });
      expect(info).toMatchObject({
        commitVersion: 1,
        updateVersion: 1,
        chainVersion: 1,
        length: data.length,
        crc32c: crc32c(data),
      });
      const read = await engine.read(7, 0, 0, 1 << 20);
      expect(read.chunkLength).toBe(data.length);
      expect(read.commitVersion).toBe(1);
      expect(Buffer.compare(read.data, data)).toBe(0);
      const part = await engine.read(7, 0, 70 * KiB, 10);
      expect(Buffer.compare(part.data, data.subarray(70 * KiB, 70 * KiB + 10))).toBe(0);
      expect((await engine.read(7, 0, 200 * KiB, 10)).data.length).toBe(0);
      expect(engine.usedBytes()).toBe(data.length);
      expect(engine.chunkCount()).toBe(1);
    });

    it('gives every read the CRC32C of the bytes it returns (whole segments combined, edges computed)', async () => {
      const data = bytes(300 * KiB + 123, 2);
      await write(8, 0, 0, data);
      // Whole chunk; segment-aligned ranges; unaligned starts and ends; one inside a segment; the tail.
      for (const [offset, length] of [
        [0, 1 << 20],
        [64 * KiB, 128 * KiB],
        [1, 200 * KiB],
        [10 * KiB, 4 * KiB],
        [256 * KiB, 1 << 20],
        [300 * KiB, 123],
        [70 * KiB, 0],
      ]) {
        const read = await engine.read(8, 0, offset!, length!);
        expect(read.dataCrc32c, `range ${offset}+${length}`).toBe(crc32c(read.data));
      }
    });

    it('small reads served through reused scratch buffers each keep their own bytes', async () => {
      const contents = [0, 1, 2, 3].map((i) => bytes(200 * KiB, 40 + i));
      for (const [i, data] of contents.entries()) await write(30 + i, 0, 0, data);
      // Many concurrent 4 KiB reads (a scratch buffer each), held until all are done.
      const reads = Array.from({ length: 64 }, (_, k) => ({ i: k % 4, offset: (k * 12_289) % (196 * KiB) }));
      const results = await Promise.all(reads.map(({ i, offset }) => engine.read(30 + i, 0, offset, 4 * KiB)));
      results.forEach((result, k) => {
        const { i, offset } = reads[k]!;
        expect(result.data.equals(contents[i]!.subarray(offset, offset + 4 * KiB)), `read ${k}`).toBe(true);
        expect(result.dataCrc32c).toBe(crc32c(result.data));
      });
      // And again, now that the scratch buffers are being reused.
      const again = await Promise.all(reads.map(({ i, offset }) => engine.read(30 + i, 0, offset, 4 * KiB)));
      again.forEach((result, k) => expect(result.data.equals(results[k]!.data)).toBe(true));
    });

    it('a missing chunk is CHUNK_NOT_FOUND', async () => {
      await expectCode(engine.read(1, 1, 0, 10), ErrorCode.CHUNK_NOT_FOUND);
    });

    it('copy-on-write: the old bytes stay readable until the commit, then the old block is freed', async () => {
      const v1 = bytes(200 * KiB, 2);
      await write(1, 0, 0, v1);
      const oldBlock = engine.committed(1, 0)!.block;
      const patch = bytes(1000, 3);
      const pending = await engine.applyUpdate(1, 0, 2, { type: UpdateType.WRITE, offset: 5000, data: patch });
      const expected = Buffer.from(v1);
      patch.copy(expected, 5000);
      expect(pending.crc32c).toBe(crc32c(expected));
      // Pending: readers see version 1 exactly.
      const during = await engine.read(1, 0, 0, v1.length);
      expect(during.commitVersion).toBe(1);
      expect(Buffer.compare(during.data, v1)).toBe(0);
      expect(engine.info(1, 0)).toMatchObject({ commitVersion: 1, updateVersion: 2 });
      await engine.commit(1, 0, 2, 1);
      const after = await engine.read(1, 0, 0, v1.length);
      expect(after.commitVersion).toBe(2);
      expect(Buffer.compare(after.data, expected)).toBe(0);
      const newBlock = engine.committed(1, 0)!.block;
      expect(newBlock).not.toEqual(oldBlock);
      expect(engine.isBlockUsed(oldBlock)).toBe(false);
      expect(engine.isBlockUsed(newBlock)).toBe(true);
    });

    it('appends in place past the committed length without exposing them before commit', async () => {
      const a = bytes(10 * KiB, 4);
      const b = bytes(100 * KiB, 5);
      await write(2, 0, 0, a);
      const block = engine.committed(2, 0)!.block;
      expect(block.classLog2).toBe(16);
      await engine.applyUpdate(2, 0, 2, { type: UpdateType.WRITE, offset: a.length, data: b.subarray(0, 30 * KiB) });
      expect((await engine.read(2, 0, 0, 1 << 20)).data.length).toBe(a.length);
      await engine.commit(2, 0, 2, 1);
      expect(engine.committed(2, 0)!.block).toEqual(block); // same block: written in place
      // Growing beyond the 64 KiB block moves the chunk to a larger class.
      await write(2, 0, 40 * KiB, b);
      const expected = Buffer.concat([a, b.subarray(0, 30 * KiB)]);
      const full = Buffer.alloc(40 * KiB + b.length);
      expected.copy(full);
      b.copy(full, 40 * KiB);
      const read = await engine.read(2, 0, 0, 1 << 20);
      expect(Buffer.compare(read.data, full)).toBe(0);
      expect(engine.committed(2, 0)!.crc32c).toBe(crc32c(full));
      expect(engine.committed(2, 0)!.block.classLog2).toBe(18);
      // Every segment verifies (the in-place path computed segment CRCs incrementally).
      for (let at = 0; at < full.length; at += 7 * KiB) {
        const part = await engine.read(2, 0, at, 3 * KiB);
        expect(Buffer.compare(part.data, full.subarray(at, at + 3 * KiB))).toBe(0);
      }
    });

    it('an append with a gap fills zeros even over stale bytes of an aborted update', async () => {
      await write(3, 0, 0, bytes(1000, 6));
      await engine.applyUpdate(3, 0, 2, { type: UpdateType.WRITE, offset: 1000, data: Buffer.alloc(5000, 0xee) });
      engine.abort(3, 0);
      await write(3, 0, 4000, Buffer.from('tail'));
      const read = await engine.read(3, 0, 0, 1 << 20);
      expect(read.data.length).toBe(4004);
      expect(read.data.subarray(1000, 4000).every((x) => x === 0)).toBe(true);
      expect(read.data.subarray(4000).toString()).toBe('tail');
    });

    it('truncates down and up, replaces, and removes', async () => {
      const data = bytes(150 * KiB, 7);
      await write(4, 1, 0, data);
      let version = 2;
      await engine.applyUpdate(4, 1, version, { type: UpdateType.TRUNCATE, offset: 1000, data: Buffer.alloc(0) });
      await engine.commit(4, 1, version++, 1);
      expect(Buffer.compare((await engine.read(4, 1, 0, 1 << 20)).data, data.subarray(0, 1000))).toBe(0);
      await engine.applyUpdate(4, 1, version, { type: UpdateType.TRUNCATE, offset: 3000, data: Buffer.alloc(0) });
      await engine.commit(4, 1, version++, 1);
      const grown = (await engine.read(4, 1, 0, 1 << 20)).data;
      expect(grown.length).toBe(3000);
      expect(grown.subarray(1000).every((x) => x === 0)).toBe(true);
      await engine.applyUpdate(4, 1, version, { type: UpdateType.TRUNCATE, offset: 0, data: Buffer.alloc(0) });
      await engine.commit(4, 1, version++, 1);
      expect((await engine.read(4, 1, 0, 10)).chunkLength).toBe(0);
      expect(engine.allocatedBytes()).toBe(0);
      await engine.applyUpdate(4, 1, version, { type: UpdateType.REPLACE, offset: 0, data: Buffer.from('replaced') });
      await engine.commit(4, 1, version++, 1);
      expect((await engine.read(4, 1, 0, 100)).data.toString()).toBe('replaced');
      await engine.applyUpdate(4, 1, version, { type: UpdateType.REMOVE, offset: 0, data: Buffer.alloc(0) });
      expect((await engine.read(4, 1, 0, 100)).data.toString()).toBe('replaced'); // removal pending
      expect(await engine.commit(4, 1, version, 1)).toBeUndefined();
      await expectCode(engine.read(4, 1, 0, 100), ErrorCode.CHUNK_NOT_FOUND);
      expect(engine.allocatedBytes()).toBe(0);
      expect(engine.chunkCount()).toBe(0);
    });

    it('detects corrupted bytes on read (CHUNK_CORRUPT) only in the damaged segment', async () => {
      const data = bytes(3 * CRC_SEGMENT_BYTES, 8);
      await write(5, 0, 0, data);
      const block = engine.committed(5, 0)!.block;
      const files = await readdir(join(dir, 'data'));
      expect(files).toEqual([`c${block.classLog2}-0.dat`]);
      const fh = await open(join(dir, 'data', files[0]!), 'r+');
      const position = block.blockNo * 2 ** block.classLog2 + CRC_SEGMENT_BYTES + 17;
      await fh.write(Buffer.from([data[CRC_SEGMENT_BYTES + 17]! ^ 0xff]), 0, 1, position);
      await fh.close();
      await expectCode(engine.read(5, 0, 0, data.length), ErrorCode.CHUNK_CORRUPT);
      await expectCode(engine.read(5, 0, CRC_SEGMENT_BYTES + 100, 10), ErrorCode.CHUNK_CORRUPT);
      // Segments 0 and 2 are intact and still readable.
      expect(Buffer.compare((await engine.read(5, 0, 10, 100)).data, data.subarray(10, 110))).toBe(0);
      expect((await engine.read(5, 0, 2 * CRC_SEGMENT_BYTES, 100)).data.length).toBe(100);
      // A partial write on top of corrupt bytes refuses to spread them.
      await expectCode(
        engine.applyUpdate(5, 0, 2, { type: UpdateType.WRITE, offset: 0, data: Buffer.from('x') }),
        ErrorCode.CHUNK_CORRUPT,
      );
    });

    it('a crash between the data write and the metadata commit leaves the old version', async () => {
      const v1 = bytes(80 * KiB, 9);
      await write(6, 0, 0, v1);
      await engine.applyUpdate(6, 0, 2, { type: UpdateType.WRITE, offset: 0, data: bytes(80 * KiB, 10) });
      await engine.applyUpdate(6, 1, 1, { type: UpdateType.WRITE, offset: 0, data: bytes(10, 11) });
      // "Crash": the process goes away without committing (close drops pending state, like a restart).
      await engine.close();
      engine = await ChunkEngine.open({ dir });
      const read = await engine.read(6, 0, 0, 1 << 20);
      expect(read.commitVersion).toBe(1);
      expect(Buffer.compare(read.data, v1)).toBe(0);
      await expectCode(engine.read(6, 1, 0, 10), ErrorCode.CHUNK_NOT_FOUND);
      expect(engine.info(6, 0)).toMatchObject({ commitVersion: 1, updateVersion: 1 });
    });

    it('restart rebuilds the free-block map from committed metadata', async () => {
      for (let i = 0; i < 5; i++) await write(8, i, 0, bytes(100 * KiB, 20 + i));
      await write(8, 1, 0, bytes(100 * KiB, 30)); // moves chunk 1 to a new block, frees its old one
      const before = [0, 1, 2, 3, 4].map((i) => engine.committed(8, i)!.block);
      const allocated = engine.allocatedBytes();
      await engine.close();
      engine = await ChunkEngine.open({ dir });
      expect(engine.allocatedBytes()).toBe(allocated);
      expect(engine.chunkCount()).toBe(5);
      expect(engine.usedBytes()).toBe(5 * 100 * KiB);
      for (const block of before) expect(engine.isBlockUsed(block)).toBe(true);
      // A new chunk takes the freed block, not one in use.
      await write(9, 0, 0, bytes(100 * KiB, 40));
      const fresh = engine.committed(9, 0)!.block;
      expect(before.some((b) => b.classLog2 === fresh.classLog2 && b.blockNo === fresh.blockNo)).toBe(false);
      expect(fresh.blockNo).toBeLessThanOrEqual(5);
      for (let i = 0; i < 5; i++) {
        const expected = i === 1 ? bytes(100 * KiB, 30) : bytes(100 * KiB, 20 + i);
        expect(Buffer.compare((await engine.read(8, i, 0, 1 << 20)).data, expected)).toBe(0);
      }
    });

    it('range operations: list, last chunk, dump paging, remove', async () => {
      for (const index of [0, 1, 5, 9]) await write(10, index, 0, bytes(100 + index, index));
      await write(11, 0, 0, bytes(10, 1));
      await write(9, 3, 0, bytes(10, 1));
      await engine.applyUpdate(10, 12, 1, { type: UpdateType.WRITE, offset: 0, data: Buffer.from('p') });
      expect(engine.listChunks(10, 2).map((c) => c.index)).toEqual([5, 9, 12]);
      expect(engine.lastChunk(10)).toEqual({ index: 9, length: 109, commitVersion: 1 });
      expect(engine.lastChunk(12)).toBeUndefined();
      const page1 = engine.dump({ limit: 3 });
      expect(page1.hasMore).toBe(true);
      expect(page1.chunks.map((c) => `${c.ino}:${c.index}`)).toEqual(['9:3', '10:0', '10:1']);
      const page2 = engine.dump({ limit: 3, after: { ino: 10, index: 1 } });
      expect(page2.chunks.map((c) => `${c.ino}:${c.index}`)).toEqual(['10:5', '10:9', '11:0']);
      expect(page2.hasMore).toBe(false);
      const only10 = engine.dump({ limit: 100, ino: 10, after: { ino: 10, index: 0 } });
      expect(only10.chunks.map((c) => c.index)).toEqual([1, 5, 9]);
      expect(only10.chunks[0]).toMatchObject({
        commitVersion: 1,
        updateVersion: 1,
        length: 101,
        crc32c: crc32c(bytes(101, 1)),
      });
      expect(await engine.removeNow(10, 5)).toBe(true);
      expect(await engine.removeNow(10, 5)).toBe(false);
      expect(await engine.removeNow(10, 12)).toBe(false); // pending only: dropped
      expect(engine.listChunks(10, 0).map((c) => c.index)).toEqual([0, 1, 9]);
    });

    it('a reader holding the old block is not overtaken by a write that would reuse it', async () => {
      const v1 = bytes(64 * KiB, 50);
      await write(12, 0, 0, v1);
      // Start a read, then commit two rewrites before it finishes: the second would reuse block 0
      // if the read did not hold it.
      const reading = engine.read(12, 0, 0, v1.length);
      await write(12, 0, 0, bytes(64 * KiB, 51));
      await write(12, 0, 0, bytes(64 * KiB, 52));
      const read = await reading;
      expect(read.commitVersion).toBe(1);
      expect(Buffer.compare(read.data, v1)).toBe(0);
    });

    it('refuses a chunk beyond the largest block', async () => {
      await expectCode(
        engine.applyUpdate(13, 0, 1, { type: UpdateType.TRUNCATE, offset: 64 * KiB * KiB + 1, data: Buffer.alloc(0) }),
        ErrorCode.INVALID_ARGUMENT,
      );
    });

    it('a process killed with a pending update leaves the committed version and a consistent free map', async () => {
      await engine.close();
      const child = spawn(process.execPath, entryArgv('test/fixtures/storage-crash-child.ts', [dir]), {
        cwd: PACKAGE_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise((r) => child.on('exit', r));
      try {
        await new Promise<void>((ok, fail) => {
          const timer = setInterval(() => {
            if (out.includes('pending')) {
              clearInterval(timer);
              ok();
            }
          }, 20);
          child.on('exit', () => {
            clearInterval(timer);
            fail(new Error(`child exited early: ${err}`));
          });
        });
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      engine = await ChunkEngine.open({ dir });
      const read = await engine.read(1, 0, 0, 1 << 20);
      expect(read.commitVersion).toBe(1);
      expect(read.data.length).toBe(100_000);
      expect(read.data.every((x) => x === 0x11)).toBe(true);
      await expectCode(engine.read(1, 1, 0, 10), ErrorCode.CHUNK_NOT_FOUND);
      expect(engine.allocatedBytes()).toBe(128 * KiB);
      await write(1, 0, 0, Buffer.alloc(100_000, 0x44));
      await write(1, 2, 0, Buffer.alloc(100_000, 0x55));
      expect((await engine.read(1, 0, 0, 1 << 20)).data.every((x) => x === 0x44)).toBe(true);
      expect((await engine.read(1, 2, 0, 1 << 20)).data.every((x) => x === 0x55)).toBe(true);
    });
  });
});
