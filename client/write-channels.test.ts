import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.js';
import { Semaphore } from './semaphore.js';
import { WriteChannelPool } from './write-channels.js';

describe('WriteChannelPool', () => {
  it('hands out distinct channels with increasing seqnums and waits when all are busy', async () => {
    const pool = new WriteChannelPool(2);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(new Set([a.channelId, b.channelId])).toEqual(new Set([1, 2]));
    expect([a.seqnum, b.seqnum]).toEqual([1, 1]);
    let third: { channelId: number; seqnum: number } | undefined;
    const waiting = pool.acquire().then((lease) => (third = lease));
    await Promise.resolve();
    expect(third).toBeUndefined();
    a.release();
    a.release(); // idempotent
    await waiting;
    expect(third).toMatchObject({ channelId: a.channelId, seqnum: 2 });
    expect(pool.lastSeqnum(a.channelId)).toBe(2);
  });
});

describe('Semaphore', () => {
  it('bounds holders and serves waiters in order', async () => {
    const semaphore = new Semaphore(1);
    const order: number[] = [];
    const release = await semaphore.acquire();
    const first = semaphore.acquire().then((r) => {
      order.push(1);
      r();
    });
    const second = semaphore.acquire().then((r) => {
      order.push(2);
      r();
    });
    expect(semaphore.queued).toBe(2);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual([1, 2]);
    expect(semaphore.free).toBe(1);
  });

  it('drops a waiter whose signal aborts', async () => {
    const semaphore = new Semaphore(1);
    const release = await semaphore.acquire();
    const controller = new AbortController();
    const waiting = semaphore.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
    expect(semaphore.queued).toBe(0);
    release();
    expect(semaphore.free).toBe(1);
  });
});
