import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../common/errors.js';
import { REMOVE_BATCH_ENTRIES } from '../constants.js';
import { completeGc, listGcQueue } from '../gc-queue.js';
import { codeOf, createNamespaceFixture, dumpStore, fsApi } from '../testing/fixtures.js';

describe('remove', () => {
  it('unlinks a file: the entry goes, the inode moves to the GC queue in the same transaction', async () => {
    const { ns, kv, clock } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/d');
    const file = (await fs.create('/d/f')).inode!;
    await fs.sync(file.ino, { lengthHint: 12345 });
    clock.advance(7);
    expect(await fs.unlink('/d/f')).toEqual({ removedInodes: 1 });
    expect(await codeOf(fs.stat('/d/f'))).toBe('NOT_FOUND');
    expect(await fs.stat('/d')).toMatchObject({ size: 0, mtimeUs: clock.nowUs() });
    expect(await listGcQueue(kv, 10)).toEqual([
      { ino: file.ino, layout: file.layout, length: 12345, queuedAtUs: clock.nowUs() },
    ]);
  });

  it('keeps an unlinked file usable by inode until the collector completes it', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    await fs.unlink('/f');
    // A writer that still has the file open can report its length; fstat sees nlink 0.
    expect(await fs.sync(file.ino, { lengthHint: 999, wrote: true })).toMatchObject({
      ino: file.ino,
      size: 999,
      nlink: 0,
    });
    const stat = await ns.batchStat({ paths: [], inos: [file.ino] });
    expect(stat.results[0]?.inode).toMatchObject({ nlink: 0, size: 999 });
    expect((await listGcQueue(kv, 10))[0]?.length).toBe(999);
    await completeGc(kv, file.ino);
    expect(await listGcQueue(kv, 10)).toEqual([]);
    expect(await codeOf(fs.sync(file.ino))).toBe('NOT_FOUND');
    await completeGc(kv, file.ino);
  });

  it('lists the GC queue oldest first, bounded by limit and queuedBeforeUs', async () => {
    const { ns, kv, clock } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const inos: number[] = [];
    for (const name of ['c', 'a', 'b']) {
      inos.push((await fs.create(`/${name}`)).inode!.ino);
    }
    const times: number[] = [];
    for (const name of ['b', 'c', 'a']) {
      clock.advance(1);
      times.push(clock.nowUs());
      await fs.unlink(`/${name}`);
    }
    const queue = await listGcQueue(kv, 10);
    expect(queue.map((e) => e.queuedAtUs)).toEqual(times);
    expect(queue.map((e) => e.ino)).toEqual([inos[2], inos[0], inos[1]]);
    expect((await listGcQueue(kv, 2)).map((e) => e.ino)).toEqual([inos[2], inos[0]]);
    expect((await listGcQueue(kv, 10, { queuedBeforeUs: times[1]! })).map((e) => e.ino)).toEqual([inos[2]]);
    expect(await listGcQueue(kv, 0)).toEqual([]);
  });

  it('unlinks a symlink (not its target) and deletes it without queueing', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.create('/f');
    await fs.symlink('/l', 'f');
    expect(await fs.unlink('/l')).toEqual({ removedInodes: 1 });
    expect(await fs.ls('/')).toEqual(['f']);
    expect(await listGcQueue(kv, 10)).toEqual([]);
  });

  it("a symlink to a directory named with a trailing '/' is ENOTDIR, never its target", async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/real');
    await fs.symlink('/link', 'real');
    expect(await codeOf(fs.rmdir('/link/'))).toBe('NOT_DIRECTORY');
    expect(await codeOf(fs.unlink('/link/'))).toBe('NOT_DIRECTORY');
    expect(await codeOf(fs.rmr('/link/'))).toBe('NOT_DIRECTORY');
    expect(await codeOf(fs.rename('/link/', '/moved'))).toBe('NOT_DIRECTORY');
    expect(await fs.ls('/')).toEqual(['link', 'real']);
    // rm -r of the link itself removes the link, not the tree behind it.
    await fs.create('/real/f');
    expect(await fs.rmr('/link')).toEqual({ removedInodes: 1 });
    expect(await fs.ls('/real')).toEqual(['f']);
  });

  it('unlink: EISDIR on a directory; rmdir: ENOTDIR on a file, ENOTEMPTY on a non-empty directory', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d/sub');
    await fs.create('/f');
    const before = await dumpStore(kv);
    expect(await codeOf(fs.unlink('/d'))).toBe('IS_DIRECTORY');
    expect(await codeOf(fs.rmdir('/f'))).toBe('NOT_DIRECTORY');
    expect(await codeOf(fs.rmdir('/d'))).toBe('NOT_EMPTY');
    expect(await codeOf(fs.unlink('/missing'))).toBe('NOT_FOUND');
    expect(await codeOf(fs.unlink('/f/'))).toBe('NOT_DIRECTORY');
    expect(await dumpStore(kv)).toEqual(before);
    const rootNlink = (await fs.stat('/')).nlink;
    expect(await fs.rmdir('/d/sub')).toEqual({ removedInodes: 1 });
    expect(await fs.rmdir('/d/')).toEqual({ removedInodes: 1 });
    expect((await fs.stat('/')).nlink).toBe(rootNlink - 1);
  });

  it('removes a large tree recursively over several transactions, queueing every file', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const fileInos = new Set<number>();
    let inodes = 1;
    await fs.mkdir('/t');
    for (let d = 0; d < 3; d++) {
      await fs.mkdirp(`/t/d${d}/deep/er`);
      inodes += 3;
      for (let f = 0; f < 120; f++) {
        fileInos.add((await fs.create(`/t/d${d}/deep/er/f${f}`)).inode!.ino);
        inodes++;
      }
      await fs.symlink(`/t/d${d}/link`, 'deep');
      inodes++;
    }
    expect(inodes).toBeGreaterThan(REMOVE_BATCH_ENTRIES);
    await fs.create('/keep');
    const result = await fs.rmr('/t');
    expect(result.removedInodes).toBe(inodes);
    expect(await fs.ls('/')).toEqual(['keep']);
    expect(new Set((await listGcQueue(kv, 1000)).map((e) => e.ino))).toEqual(fileInos);
    expect(await ns.statFs()).toMatchObject({ inodes: 2 });
    expect((await fs.stat('/')).nlink).toBe(2);
  });

  it('recursive remove of a file unlinks it; of the root is EBUSY', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.create('/f');
    expect(await fs.unlink('/f', { recursive: true })).toEqual({ removedInodes: 1 });
    await expect(fs.rmr('/')).rejects.toMatchObject({ errorCode: ErrorCode.BUSY });
  });

  it('a tagged recursive remove records the total once it finishes', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/t');
    for (let i = 0; i < REMOVE_BATCH_ENTRIES + 10; i++) await fs.create(`/t/f${i}`);
    const tag = { clientId: 'rm', requestId: 1 };
    const first = await fs.unlink('/t', { recursive: true, tag });
    expect(first.removedInodes).toBe(REMOVE_BATCH_ENTRIES + 11);
    expect(await fs.unlink('/t', { recursive: true, tag })).toEqual(first);
  });
});
