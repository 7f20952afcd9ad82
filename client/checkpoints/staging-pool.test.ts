// StagingPool: never more than piecesMax buffers, the same buffers lent again, waiters served in
// order as pieces come back, a waiter dropped when its signal aborts.
import { describe, expect, it } from 'vitest';
import { StagingPool } from './staging-pool.js';

describe('StagingPool', () => {
  it('lends at most piecesMax buffers and reuses the ones given back', async () => {
    const pool = new StagingPool(2, 1024);
    const first = await pool.acquire();
    const second = await pool.acquire();
    expect(pool.free).toBe(0);
    let third: Buffer | undefined;
    const waiting = pool.acquire().then((piece) => {
      third = piece.bytes;
      return piece;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(third).toBeUndefined();
    expect(pool.allocatedPieces).toBe(2);
    first.release();
    first.release(); // idempotent: the buffer goes back once
    const lent = await waiting;
    expect(third).toBe(first.bytes);
    expect(pool.free).toBe(0);
    lent.release();
    second.release();
    expect(pool.free).toBe(2);
    const again = await pool.acquire();
    expect([first.bytes, second.bytes]).toContain(again.bytes);
    expect(pool.allocatedPieces).toBe(2);
  });

  it('prepare() allocates every piece once, touched', async () => {
    const pool = new StagingPool(3, 4096);
    pool.prepare();
    pool.prepare();
    expect(pool.allocatedPieces).toBe(3);
    const piece = await pool.acquire();
    expect(piece.bytes.length).toBe(4096);
    expect(piece.bytes.every((byte) => byte === 0)).toBe(true);
  });

  it('drops a waiter whose signal aborts, and refuses bad sizes', async () => {
    const pool = new StagingPool(1, 16);
    const held = await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toThrow(/cancelled while waiting for staging memory/);
    held.release();
    expect(pool.free).toBe(1);
    expect(() => new StagingPool(0, 16)).toThrow(/at least 1 piece/);
    expect(() => new StagingPool(1, 0)).toThrow(/pieceBytes/);
  });
});
