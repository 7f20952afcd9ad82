// captureBytes: copies in pieces within the pool's bound, and every piece comes back to the pool
// whether the writer takes all pieces, stops early, fails, or never starts (the save's begin failed).
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { startAsyncSave } from './async-save.js';
import { captureBytes } from './capture.js';
import { CAPTURE_PIECE_BYTES } from './constants.js';
import { StagingPool } from './staging-pool.js';

function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4093) bytes[i] = i % 251;
  return bytes;
}

describe('captureBytes', () => {
  it('holds at most the pool in copies until the writer releases them, reusing its buffers', async () => {
    const pool = new StagingPool(2, CAPTURE_PIECE_BYTES);
    const data = pattern(5 * CAPTURE_PIECE_BYTES + 1);
    const capture = captureBytes(data, pool, Promise.resolve());
    let captured = false;
    void capture.captured.then(() => {
      captured = true;
    });
    await sleep(20);
    expect(captured).toBe(false);
    expect(pool.free).toBe(0);
    const copies: Buffer[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for await (const piece of capture.pieces) {
      expect(pool.allocatedPieces).toBeLessThanOrEqual(2);
      copies.push(Buffer.from(piece.bytes));
      buffers.add(piece.bytes.buffer);
      piece.release();
    }
    capture.discard();
    await capture.captured;
    expect(Buffer.concat(copies).equals(data)).toBe(true);
    expect(copies).toHaveLength(6);
    expect(buffers.size).toBeLessThanOrEqual(2);
    expect(pool.free).toBe(2);
  });

  it('lets other callbacks run between pieces (the copy yields to the event loop)', async () => {
    const pool = new StagingPool(8, CAPTURE_PIECE_BYTES);
    const capture = captureBytes(pattern(8 * CAPTURE_PIECE_BYTES), pool, Promise.resolve());
    let ranDuringCopy = false;
    setImmediate(() => {
      ranDuringCopy = pool.free > 0;
    });
    await capture.captured;
    expect(ranDuringCopy).toBe(true);
    capture.discard();
    await sleep(0);
    expect(pool.free).toBe(8);
  });

  it('gives the writer its first piece only once the copy is done while the shard fits the pool', async () => {
    const pool = new StagingPool(4, CAPTURE_PIECE_BYTES);
    const data = pattern(3 * CAPTURE_PIECE_BYTES + 5);
    const capture = captureBytes(data, pool, Promise.resolve());
    let captured = false;
    void capture.captured.then(() => {
      captured = true;
    });
    const copies: Buffer[] = [];
    for await (const piece of capture.pieces) {
      expect(captured).toBe(true);
      copies.push(Buffer.from(piece.bytes));
      piece.release();
    }
    capture.discard();
    expect(Buffer.concat(copies).equals(data)).toBe(true);
    expect(pool.free).toBe(4);
  });

  it('gives every piece back when the writer stops early or never starts', async () => {
    const pool = new StagingPool(2, CAPTURE_PIECE_BYTES);
    const capture = captureBytes(pattern(6 * CAPTURE_PIECE_BYTES), pool, Promise.resolve());
    for await (const piece of capture.pieces) {
      piece.release();
      break;
    }
    capture.discard();
    await capture.captured;
    const unread = captureBytes(pattern(4 * CAPTURE_PIECE_BYTES), pool, capture.captured);
    unread.discard();
    await unread.captured;
    await sleep(0);
    expect(pool.free).toBe(2);
    expect(pool.allocatedPieces).toBeLessThanOrEqual(2);
  });

  it('gives every piece back when the save fails before writing (begin rejects)', async () => {
    const pool = new StagingPool(3, CAPTURE_PIECE_BYTES);
    const failure = new SpindleError(ErrorCode.EXISTS, 'step 7 is already committed');
    const save = startAsyncSave(
      () => Promise.reject(failure),
      pool,
      { a: pattern(2 * CAPTURE_PIECE_BYTES), b: pattern(3 * CAPTURE_PIECE_BYTES) },
      {},
    );
    await expect(save.committed).rejects.toBe(failure);
    await expect(save.captured).rejects.toBe(failure);
    // The copies go on after the failure (the caller's bytes are read to the end), then come back.
    for (let i = 0; i < 100 && pool.free < 3; i++) await sleep(5);
    expect(pool.free).toBe(3);
  });
});
