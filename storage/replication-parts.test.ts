// Unit tests of the pieces chain replication is built from: per-chunk locks, the exactly-once
// table, and the routing view (head, successor, predecessor).
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.js';
import { ErrorCode, SpindleError, isSpindleError } from '../common/errors.js';
import { PublicTargetState, type RoutingInfo } from '../proto/index.js';
import { KeyedLocks } from './chunk-locks.js';
import { RoutingView } from './routing-view.js';
import { UpdateDedupe } from './update-dedupe.js';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('KeyedLocks', () => {
  it('runs holders of one key one at a time in arrival order; other keys run in parallel', async () => {
    const locks = new KeyedLocks();
    const order: string[] = [];
    const gate = deferred();
    const first = locks.withLock('a', async () => {
      order.push('a1 start');
      await gate.promise;
      order.push('a1 end');
    });
    const second = locks.withLock('a', async () => {
      order.push('a2');
    });
    const other = locks.withLock('b', async () => {
      order.push('b');
    });
    await other;
    expect(order).toEqual(['a1 start', 'b']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(order).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
    expect(locks.size).toBe(0);
  });

  it('releases after a failure and lets an aborted waiter leave the queue', async () => {
    const locks = new KeyedLocks();
    await expect(locks.withLock('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const gate = deferred();
    const holder = locks.withLock('k', () => gate.promise);
    const controller = new AbortController();
    const waiter = locks.withLock('k', async () => 'never', controller.signal);
    const third = locks.withLock('k', async () => 'third');
    controller.abort();
    await expect(waiter).rejects.toSatisfy((e: unknown) => isSpindleError(e, ErrorCode.CANCELLED));
    gate.resolve();
    await holder;
    expect(await third).toBe('third');
    expect(locks.size).toBe(0);
  });

  it('drain waits for the holders and waiters of the keys with a prefix, not for later ones', async () => {
    const locks = new KeyedLocks();
    const order: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const held = locks.withLock('7/1:0', () => gates[0]!.promise.then(() => order.push('7/1:0 done')));
    const queued = locks.withLock('7/1:0', async () => order.push('7/1:0 queued done'));
    const otherTarget = locks.withLock('71/1:0', () => gates[1]!.promise);
    expect(locks.drain('9/')).toBeUndefined();
    const drained = locks.drain('7/')!.then(() => order.push('drained'));
    const later = locks.withLock('7/2:0', () => gates[2]!.promise);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]);
    gates[0]!.resolve();
    await drained;
    expect(order).toEqual(['7/1:0 done', '7/1:0 queued done', 'drained']);
    gates[1]!.resolve();
    gates[2]!.resolve();
    await Promise.all([held, queued, otherTarget, later]);
    expect(locks.size).toBe(0);
  });
});

describe('UpdateDedupe', () => {
  it('answers a retry from the table, waits for one in flight, refuses older and mismatched ones', async () => {
    const clock = new ManualClock(1_000);
    const dedupe = new UpdateDedupe<string>({ clock });
    let runs = 0;
    const gate = deferred<string>();
    const first = dedupe.run('c/1/1', 5, 'fp', () => {
      runs++;
      return gate.promise;
    });
    const retry = dedupe.run('c/1/1', 5, 'fp', async () => {
      runs++;
      return 'second';
    });
    gate.resolve('first');
    expect(await first).toEqual({ result: 'first', replayed: false });
    expect(await retry).toEqual({ result: 'first', replayed: true });
    expect(runs).toBe(1);
    await expect(dedupe.run('c/1/1', 4, 'fp', async () => 'old')).rejects.toSatisfy((e: unknown) =>
      isSpindleError(e, ErrorCode.DUPLICATE_REQUEST_MISMATCH),
    );
    await expect(dedupe.run('c/1/1', 5, 'other', async () => 'x')).rejects.toSatisfy((e: unknown) =>
      isSpindleError(e, ErrorCode.DUPLICATE_REQUEST_MISMATCH),
    );
    expect((await dedupe.run('c/1/1', 6, 'fp', async () => 'next')).result).toBe('next');
  });

  it('runs a waiting retry itself when the attempt it waited for fails (e.g. its caller cancelled)', async () => {
    const dedupe = new UpdateDedupe<string>({ clock: new ManualClock(0) });
    const gate = deferred<string>();
    const first = dedupe.run('c/1/1', 5, 'fp', () => gate.promise);
    let retryRuns = 0;
    const retry = dedupe.run('c/1/1', 5, 'fp', async () => {
      retryRuns++;
      return 'retry';
    });
    gate.reject(new SpindleError(ErrorCode.CANCELLED, 'first caller went away'));
    await expect(first).rejects.toSatisfy((e: unknown) => isSpindleError(e, ErrorCode.CANCELLED));
    expect(await retry).toEqual({ result: 'retry', replayed: false });
    expect(retryRuns).toBe(1);
    // Its success is now what later retries of seqnum 5 get.
    expect(await dedupe.run('c/1/1', 5, 'fp', async () => 'again')).toEqual({ result: 'retry', replayed: true });
  });

  it('forgets failures, idle channels and the least recently used beyond capacity', async () => {
    const clock = new ManualClock(0);
    const dedupe = new UpdateDedupe<number>({ clock, capacity: 2, idleMs: 1_000 });
    await expect(dedupe.run('a', 1, 'f', async () => Promise.reject(new Error('failed')))).rejects.toThrow('failed');
    expect((await dedupe.run('a', 1, 'f', async () => 1)).replayed).toBe(false);
    await dedupe.run('b', 1, 'f', async () => 2);
    await dedupe.run('a', 1, 'f', async () => 99); // touch a: b is now the oldest
    await dedupe.run('c', 1, 'f', async () => 3);
    expect(dedupe.size).toBe(2);
    expect((await dedupe.run('b', 1, 'f', async () => 22)).replayed).toBe(false);
    clock.advance(1_000);
    expect((await dedupe.run('a', 1, 'f', async () => 11)).result).toBe(11);
  });
});

describe('RoutingView', () => {
  const routing = (
    version: number,
    states: Record<number, PublicTargetState>,
    order = [1000, 2000, 3000],
  ): RoutingInfo => ({
    version,
    nodes: [1, 2, 3].map((nodeId) => ({
      nodeId,
      address: `127.0.0.1:${7400 + nodeId}`,
      hostname: '',
      lastHeartbeatUs: 0,
      alive: true,
    })),
    targets: [1000, 2000, 3000, 2001].map((targetId) => ({
      targetId,
      nodeId: Math.floor(targetId / 1000),
      chainId: targetId === 2001 ? 2 : 1,
      publicState: states[targetId] ?? PublicTargetState.SERVING,
      localState: 1,
      path: '',
      usedBytes: 0,
      capacityBytes: 0,
    })),
    chains: [
      { chainId: 1, chainVersion: version, targetIds: order },
      { chainId: 2, chainVersion: 1, targetIds: [2001] },
    ],
    chainTables: [],
  });

  it('finds head, successor and predecessor, skipping targets that take no writes', () => {
    const view = new RoutingView();
    view.setLocalTargets([2000, 2001]);
    expect(view.update(routing(3, {}))).toBe(true);
    expect(view.update(routing(2, {}))).toBe(false); // older snapshots are ignored
    const chain = view.chain(1)!;
    expect(chain).toMatchObject({ chainVersion: 3, localTargetId: 2000, isHead: false });
    expect(chain.successor).toMatchObject({ targetId: 3000, address: '127.0.0.1:7403' });
    expect(chain.predecessor).toMatchObject({ targetId: 1000 });
    expect(view.chain(2)).toMatchObject({ isHead: true, successor: undefined, predecessor: undefined });
    expect(view.chainOfTarget(2001)).toBe(2);

    view.update(routing(4, { 3000: PublicTargetState.OFFLINE }));
    expect(view.chain(1)!.successor).toBeUndefined();
    view.update(routing(5, { 3000: PublicTargetState.SYNCING }));
    expect(view.chain(1)!.successor).toMatchObject({ targetId: 3000, state: PublicTargetState.SYNCING });
    // The first serving target is the head, even when an offline one is listed before it.
    view.update(routing(6, { 1000: PublicTargetState.OFFLINE }));
    expect(view.chain(1)).toMatchObject({ isHead: true, predecessor: undefined });
    expect(view.chain(77)).toBeUndefined();
  });
});
