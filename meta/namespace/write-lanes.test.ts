// Write lanes: one holder per key, FIFO, several keys taken without deadlock; and the namespace
// behaviour they exist for — concurrent creates and removes in one directory do not conflict, and
// their outcome is the same as one at a time.
import { describe, expect, it } from 'vitest';
import type { OptimisticEngine } from '../kv/optimistic-engine.js';
import { InodeType, OpenRequest } from '../../proto/index.js';
import { directoryKey } from './path.js';
import { codeOf, createNamespaceFixture, fsApi, p } from './testing/fixtures.js';
import { WriteLanes } from './write-lanes.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('WriteLanes', () => {
  it('lets one holder per key in, in arrival order, and forgets a lane nobody holds', async () => {
    const lanes = new WriteLanes();
    const order: string[] = [];
    const first = await lanes.acquire(['/d']);
    const second = lanes.acquire(['/d']).then((release) => (order.push('second'), release));
    const third = lanes.acquire(['/d']).then((release) => (order.push('third'), release));
    const other = await lanes.acquire(['/e']); // another directory is not held up
    await tick();
    expect(order).toEqual([]);
    first();
    first(); // twice is harmless
    const releaseSecond = await second;
    await tick();
    expect(order).toEqual(['second']);
    releaseSecond();
    (await third)();
    other();
    expect(lanes.held).toBe(0);
  });

  it('takes several lanes in one order, so crossing renames do not wait for each other forever', async () => {
    const lanes = new WriteLanes();
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const release = await lanes.acquire(i % 2 === 0 ? ['/a', '/b'] : ['/b', '/a', '/b']);
        await tick();
        release();
        return i;
      }),
    );
    expect(results).toHaveLength(20);
    expect(lanes.held).toBe(0);
  });

  it('keys a path by the spelling of its directory', () => {
    expect(directoryKey(p('/a/b'))).toBe('//a');
    expect(directoryKey(p('/a/b/'))).toBe('//a');
    expect(directoryKey(p('/f'))).toBe('/');
    expect(directoryKey(p('c', 7))).toBe('7/');
    expect(directoryKey(p('x/c', 7))).toBe('7/x');
  });
});

describe('mutations of one directory in flight together', () => {
  it('creates and removes 64 files at once with no transaction conflict, same result as one at a time', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d');
    const engine = kv as OptimisticEngine;
    const before = engine.stats().conflicts;
    const created = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        ns.open(
          OpenRequest.fromPartial({
            at: p(`/d/f${i}`),
            create: true,
            exclusive: true,
            tag: { clientId: 't', requestId: i + 1 },
          }),
        ),
      ),
    );
    expect(created.every((r) => r.created && r.inode?.type === InodeType.FILE)).toBe(true);
    expect(new Set(created.map((r) => r.inode!.ino)).size).toBe(64);
    const dir = await fs.stat('/d');
    expect(dir.size).toBe(64);
    expect((await fs.ls('/d')).length).toBe(64);
    // Exclusive creates of names that exist fail each on its own.
    const again = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        codeOf(ns.open(OpenRequest.fromPartial({ at: p(`/d/f${i}`), create: true, exclusive: true }))),
      ),
    );
    expect(again).toEqual(Array(8).fill('EXISTS'));
    await Promise.all(Array.from({ length: 64 }, (_, i) => fs.unlink(`/d/f${i}`)));
    expect((await fs.stat('/d')).size).toBe(0);
    expect(engine.stats().conflicts - before).toBe(0);
  });
});
