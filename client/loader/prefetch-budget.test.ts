import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.js';
import { PrefetchBudget } from './prefetch-budget.js';

const settledSoon = async (p: Promise<unknown>) => {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
};

describe('PrefetchBudget', () => {
  it('holds a request that does not fit until bytes are released, in order', async () => {
    const budget = new PrefetchBudget(100);
    await budget.acquire(60);
    const second = budget.acquire(50);
    const third = budget.acquire(10);
    expect(await settledSoon(second)).toBe(false);
    expect(await settledSoon(third)).toBe(false); // waits behind the second, though it would fit
    budget.release(60);
    await second;
    await third;
    expect(budget.heldBytes).toBe(60);
  });

  it('lets one request larger than the budget through when nothing is held', async () => {
    const budget = new PrefetchBudget(100);
    await budget.acquire(500);
    expect(await settledSoon(budget.acquire(1))).toBe(false);
    budget.release(500);
    expect(budget.heldBytes).toBe(1);
  });

  it('rejects a waiter whose signal aborts and holds nothing for it', async () => {
    const budget = new PrefetchBudget(10);
    await budget.acquire(10);
    const controller = new AbortController();
    const waiting = budget.acquire(5, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
    budget.release(10);
    expect(budget.heldBytes).toBe(0);
  });
});
