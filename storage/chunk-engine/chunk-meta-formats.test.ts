// Chunk-metadata formats (chunk-meta.ts) and the decoded-metadata cache (chunk-meta-cache.ts), on a
// real engine: lmdb and block files in a temporary directory.
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { UpdateType } from '../../proto/index.js';
import { CRC_SEGMENT_BYTES, CRC_SEGMENT_BYTES_FORMAT_1 } from '../constants.js';
import { ChunkEngine } from './chunk-engine.js';
import { decodeChunkMeta, encodeChunkMeta, encodeChunkMetaFormat1, type CommittedChunkMeta } from './chunk-meta.js';
import { recordFormats, rewriteAsFormat1 } from './testing/format-1.js';

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

describe('chunk metadata records', () => {
  const meta: CommittedChunkMeta = {
    commitVersion: 2 ** 40 + 3,
    chainVersion: 9,
    length: 200 * KiB,
    crc32c: 0xdeadbeef,
    block: { classLog2: 18, blockNo: 5 },
    segmentBytes: CRC_SEGMENT_BYTES_FORMAT_1,
    segmentCrcs: Uint32Array.from([1, 0xffffffff, 3, 0x80000000]),
    updatedUs: 1_700_000_000_000_000,
  };

  it('round-trips format 2 with any segment size, and reads format 1 as 64 KiB segments', () => {
    expect(decodeChunkMeta(encodeChunkMeta(meta))).toEqual(meta);
    const small = { ...meta, segmentBytes: 4 * KiB, segmentCrcs: Uint32Array.from({ length: 50 }, (_, i) => i * 7) };
    expect(decodeChunkMeta(encodeChunkMeta(small))).toEqual(small);
    const format1 = encodeChunkMetaFormat1(meta);
    expect(format1[0]).toBe(1);
    expect(format1.readUInt32BE(40 + 4)).toBe(0xffffffff); // big-endian table, as format 1 wrote it
    expect(decodeChunkMeta(format1)).toEqual(meta);
  });

  it('refuses unknown formats and tables that do not fit the length (CHUNK_CORRUPT)', () => {
    const unknown = encodeChunkMeta(meta);
    unknown[0] = 3;
    expect(() => decodeChunkMeta(unknown)).toThrow(/unknown format 3/);
    const wrongSize = encodeChunkMeta(meta);
    wrongSize[2] = 12; // 4 KiB segments would need 50 CRCs for 200 KiB
    expect(() => decodeChunkMeta(wrongSize)).toThrow(/bad segment table/);
    expect(() => encodeChunkMeta({ ...meta, segmentBytes: 50 * KiB })).toThrow(/power of two/);
  });
});

describe('chunk engine with format-1 and format-2 chunks', () => {
  let dir: string;
  let engine: ChunkEngine;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spindle-chunk-formats-'));
    engine = await ChunkEngine.open({ dir });
  });

  afterEach(async () => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function update(ino: number, index: number, type: UpdateType, offset: number, data: Buffer) {
    const version = (engine.committed(ino, index)?.commitVersion ?? 0) + 1;
    await engine.applyUpdate(ino, index, version, { type, offset, data });
    return engine.commit(ino, index, version, 1);
  }

  /** Flips one byte of a chunk's committed bytes on disk. */
  async function damage(ino: number, index: number, at: number): Promise<void> {
    const block = engine.committed(ino, index)!.block;
    const files = (await readdir(join(dir, 'data'))).filter((f) => f.startsWith(`c${block.classLog2}-`));
    const fh = await open(join(dir, 'data', files[0]!), 'r+');
    try {
      const position = block.blockNo * 2 ** block.classLog2 + at;
      const one = Buffer.alloc(1);
      await fh.read(one, 0, 1, position);
      await fh.write(Buffer.from([one[0]! ^ 0xff]), 0, 1, position);
    } finally {
      await fh.close();
    }
  }

  async function reopen(): Promise<void> {
    await engine.close();
    engine = await ChunkEngine.open({ dir });
  }

  it('new chunks have one CRC per 4 KiB: a damaged byte fails only the 4 KiB around it', async () => {
    const data = bytes(64 * KiB, 1);
    await update(1, 0, UpdateType.WRITE, 0, data);
    expect(engine.committed(1, 0)!.segmentBytes).toBe(CRC_SEGMENT_BYTES);
    expect(engine.committed(1, 0)!.segmentCrcs.length).toBe(16);
    await damage(1, 0, 5 * 4 * KiB + 100);
    await expectCode(engine.read(1, 0, 5 * 4 * KiB, 4 * KiB), ErrorCode.CHUNK_CORRUPT);
    await expect(engine.read(1, 0, 0, data.length)).rejects.toThrow(/at byte 20480/);
    await expectCode(engine.read(1, 0, 16 * KiB, 8 * KiB), ErrorCode.CHUNK_CORRUPT);
    for (const at of [4 * KiB, 6 * 4 * KiB]) {
      const read = await engine.read(1, 0, at, 4 * KiB);
      expect(Buffer.compare(read.data, data.subarray(at, at + 4 * KiB))).toBe(0);
      expect(read.dataCrc32c).toBe(crc32c(read.data));
    }
  });

  it('reads, appends to and migrates chunks left in format 1 (64 KiB segments)', async () => {
    const a = bytes(200 * KiB, 2);
    const b = bytes(90 * KiB, 3);
    await update(2, 0, UpdateType.WRITE, 0, a);
    await update(2, 1, UpdateType.WRITE, 0, b);
    await engine.close();
    expect(await rewriteAsFormat1(dir)).toBe(2);
    expect([...(await recordFormats(dir)).values()].map((r) => r.format)).toEqual([1, 1]);
    engine = await ChunkEngine.open({ dir });
    expect(engine.committed(2, 0)!.segmentBytes).toBe(CRC_SEGMENT_BYTES_FORMAT_1);

    // Reads of every shape verify against the 64 KiB segments and give the CRC of what they return.
    for (const [offset, length] of [
      [0, a.length],
      [4 * KiB, 4 * KiB],
      [60 * KiB, 8 * KiB],
      [65 * KiB, 130 * KiB],
      [192 * KiB, 100 * KiB],
    ] as const) {
      const read = await engine.read(2, 0, offset, length);
      expect(Buffer.compare(read.data, a.subarray(offset, offset + length))).toBe(0);
      expect(read.dataCrc32c).toBe(crc32c(read.data));
    }

    // An append in place keeps the chunk's 64 KiB segments (the record is now format 2).
    const tail = bytes(30 * KiB, 4);
    await update(2, 1, UpdateType.WRITE, b.length, tail);
    expect(engine.committed(2, 1)!.segmentBytes).toBe(CRC_SEGMENT_BYTES_FORMAT_1);
    const appended = Buffer.concat([b, tail]);
    expect(Buffer.compare((await engine.read(2, 1, 0, appended.length)).data, appended)).toBe(0);
    expect((await engine.read(2, 1, 90 * KiB, 20 * KiB)).dataCrc32c).toBe(
      crc32c(appended.subarray(90 * KiB, 110 * KiB)),
    );

    // A damaged byte fails its whole 64 KiB segment and nothing else.
    await damage(2, 0, 64 * KiB + 17);
    await expectCode(engine.read(2, 0, 120 * KiB, 4 * KiB), ErrorCode.CHUNK_CORRUPT);
    expect(Buffer.compare((await engine.read(2, 0, 0, 4 * KiB)).data, a.subarray(0, 4 * KiB))).toBe(0);
    await reopen();
    // A rewrite (copy-on-write of the whole chunk) migrates it to 4 KiB segments.
    await update(2, 0, UpdateType.REPLACE, 0, a);
    expect(engine.committed(2, 0)!.segmentBytes).toBe(CRC_SEGMENT_BYTES);
    await engine.close();
    expect(await recordFormats(dir)).toEqual(
      new Map([
        ['2:0', { format: 2, segmentBytes: CRC_SEGMENT_BYTES }],
        ['2:1', { format: 2, segmentBytes: CRC_SEGMENT_BYTES_FORMAT_1 }],
      ]),
    );
    engine = await ChunkEngine.open({ dir });
    expect(engine.committed(2, 0)!.segmentBytes).toBe(CRC_SEGMENT_BYTES);
    expect(engine.committed(2, 1)!.segmentBytes).toBe(CRC_SEGMENT_BYTES_FORMAT_1);
    expect(Buffer.compare((await engine.read(2, 0, 0, a.length)).data, a)).toBe(0);
  });

  it('a damaged format-1 chunk copied over the wire keeps its 64 KiB segments on the receiver', async () => {
    const a = bytes(200 * KiB, 7);
    await update(4, 0, UpdateType.WRITE, 0, a);
    await engine.close();
    await rewriteAsFormat1(dir);
    engine = await ChunkEngine.open({ dir });
    await damage(4, 0, 70 * KiB);
    const copy = (await engine.readForCopy(4, 0))!;
    expect(copy.damaged?.segmentBytes).toBe(CRC_SEGMENT_BYTES_FORMAT_1);
    const otherDir = await mkdtemp(join(tmpdir(), 'spindle-chunk-formats-'));
    const other = await ChunkEngine.open({ dir: otherDir });
    try {
      // DamagedChunk on the wire has no segment size: the receiver infers it from the CRC count.
      const { crc32c: chunkCrc, segmentCrcs } = copy.damaged!;
      await other.applyDamagedCopy(4, 0, 1, copy.data, { crc32c: chunkCrc, segmentCrcs: Array.from(segmentCrcs) });
      await other.commit(4, 0, 1, 1);
      expect(other.committed(4, 0)!.segmentBytes).toBe(CRC_SEGMENT_BYTES_FORMAT_1);
      await expectCode(other.read(4, 0, 64 * KiB, 4 * KiB), ErrorCode.CHUNK_CORRUPT);
      expect(Buffer.compare((await other.read(4, 0, 130 * KiB, 4 * KiB)).data, a.subarray(130 * KiB, 134 * KiB))).toBe(
        0,
      );
      await expectCode(
        other.applyDamagedCopy(4, 0, 2, copy.data, { crc32c: chunkCrc, segmentCrcs: [1, 2] }),
        ErrorCode.INVALID_ARGUMENT,
      );
    } finally {
      await other.close();
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('the decoded-metadata cache follows every commit, removal and immediate removal', async () => {
    const v1 = bytes(8 * KiB, 5);
    const v2 = bytes(12 * KiB, 6);
    await expectCode(engine.read(3, 0, 0, 10), ErrorCode.CHUNK_NOT_FOUND); // absence is cached too
    await update(3, 0, UpdateType.WRITE, 0, v1);
    expect(Buffer.compare((await engine.read(3, 0, 0, 100 * KiB)).data, v1)).toBe(0);
    // Reads during a commit may cache what lmdb held before it; the commit's result wins.
    const version = engine.committed(3, 0)!.commitVersion + 1;
    await engine.applyUpdate(3, 0, version, { type: UpdateType.REPLACE, offset: 0, data: v2 });
    const committing = engine.commit(3, 0, version, 1);
    const during = await engine.read(3, 0, 0, 100 * KiB);
    expect([v1.length, v2.length]).toContain(during.data.length);
    await committing;
    expect(Buffer.compare((await engine.read(3, 0, 0, 100 * KiB)).data, v2)).toBe(0);
    expect(engine.committed(3, 0)!.commitVersion).toBe(version);
    // Removal through an update, then a new chunk, then an immediate removal.
    await update(3, 0, UpdateType.REMOVE, 0, Buffer.alloc(0));
    await expectCode(engine.read(3, 0, 0, 10), ErrorCode.CHUNK_NOT_FOUND);
    await update(3, 0, UpdateType.WRITE, 0, v1);
    expect((await engine.read(3, 0, 0, 100 * KiB)).data.length).toBe(v1.length);
    expect(await engine.removeNow(3, 0)).toBe(true);
    await expectCode(engine.read(3, 0, 0, 10), ErrorCode.CHUNK_NOT_FOUND);
    expect(engine.committed(3, 0)).toBeUndefined();
    // A truncate and an append, each read back at once.
    await update(3, 0, UpdateType.WRITE, 0, v2);
    await update(3, 0, UpdateType.TRUNCATE, 5 * KiB, Buffer.alloc(0));
    expect((await engine.read(3, 0, 0, 100 * KiB)).data.length).toBe(5 * KiB);
    await update(3, 0, UpdateType.WRITE, 5 * KiB, v1);
    const read = await engine.read(3, 0, 0, 100 * KiB);
    expect(Buffer.compare(read.data, Buffer.concat([v2.subarray(0, 5 * KiB), v1]))).toBe(0);
  });
});
