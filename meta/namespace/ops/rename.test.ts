import { describe, expect, it } from 'vitest';
import { InodeType } from '../../../proto/index.js';
import { listGcQueue } from '../gc-queue.js';
import { codeOf, createNamespaceFixture, dumpStore, fsApi } from '../testing/fixtures.js';

async function setup() {
  const fixture = await createNamespaceFixture();
  const fs = fsApi(fixture.ns);
  await fs.mkdirp('/src/sub');
  await fs.create('/src/file');
  await fs.mkdirp('/dst/full/x');
  await fs.mkdir('/dst/empty');
  await fs.create('/dst/file');
  return { ...fixture, fs };
}

describe('rename', () => {
  it('moves a file within a directory and across directories, updating both parents', async () => {
    const { fs, clock } = await setup();
    const file = await fs.stat('/src/file');
    clock.advance(10);
    await fs.rename('/src/file', '/src/renamed');
    expect((await fs.stat('/src/renamed')).ino).toBe(file.ino);
    expect(await codeOf(fs.stat('/src/file'))).toBe('NOT_FOUND');
    await fs.rename('/src/renamed', '/dst/moved');
    expect(await fs.ls('/src')).toEqual(['sub']);
    expect(await fs.ls('/dst')).toEqual(['empty', 'file', 'full', 'moved']);
    const src = await fs.stat('/src');
    const dst = await fs.stat('/dst');
    expect(src).toMatchObject({ size: 1, mtimeUs: clock.nowUs(), ctimeUs: clock.nowUs() });
    expect(dst).toMatchObject({ size: 4, mtimeUs: clock.nowUs() });
    expect((await fs.stat('/dst/moved')).ctimeUs).toBe(clock.nowUs());
  });

  it('moves a directory: its parent id and both parents nlink follow', async () => {
    const { fs } = await setup();
    const sub = await fs.stat('/src/sub');
    const dstBefore = await fs.stat('/dst');
    await fs.rename('/src/sub', '/dst/sub');
    expect(await fs.stat('/dst/sub')).toMatchObject({ ino: sub.ino, parentIno: dstBefore.ino });
    expect((await fs.stat('/src')).nlink).toBe(2);
    expect((await fs.stat('/dst')).nlink).toBe(dstBefore.nlink + 1);
    expect((await fs.stat('/dst/sub/..')).ino).toBe(dstBefore.ino);
  });

  it('file over file replaces it and queues the replaced file for GC', async () => {
    const { fs, kv } = await setup();
    const src = await fs.stat('/src/file');
    const victim = await fs.stat('/dst/file');
    const response = await fs.rename('/src/file', '/dst/file');
    expect(response.inode?.ino).toBe(src.ino);
    expect((await fs.stat('/dst/file')).ino).toBe(src.ino);
    expect((await listGcQueue(kv, 10)).map((e) => e.ino)).toEqual([victim.ino]);
    expect((await fs.stat('/dst')).size).toBe(3);
  });

  it('replacing a file that has another hard link only drops one link', async () => {
    const { fs, kv } = await setup();
    const victim = await fs.stat('/dst/file');
    await fs.link('/dst/file', '/dst/file2');
    await fs.rename('/src/file', '/dst/file');
    expect(await fs.stat('/dst/file2')).toMatchObject({ ino: victim.ino, nlink: 1 });
    expect(await listGcQueue(kv, 10)).toEqual([]);
  });

  it('directory over an empty directory replaces it', async () => {
    const { fs, ns } = await setup();
    const sub = await fs.stat('/src/sub');
    const empty = await fs.stat('/dst/empty');
    const dstNlink = (await fs.stat('/dst')).nlink;
    await fs.rename('/src/sub', '/dst/empty');
    expect((await fs.stat('/dst/empty')).ino).toBe(sub.ino);
    expect((await ns.batchStat({ paths: [], inos: [empty.ino] })).results[0]?.status?.code).not.toBe(0);
    expect((await fs.stat('/dst')).nlink).toBe(dstNlink);
    expect((await fs.stat('/src')).nlink).toBe(2);
  });

  it('refuses the POSIX error cases and changes nothing', async () => {
    const { fs, kv } = await setup();
    await fs.symlink('/src/link', 'file');
    const before = await dumpStore(kv);
    const cases: Array<[string, string, string, boolean?]> = [
      ['/src/sub', '/dst/full', 'NOT_EMPTY'],
      ['/src/file', '/dst/empty', 'IS_DIRECTORY'],
      ['/src/sub', '/dst/file', 'NOT_DIRECTORY'],
      ['/src', '/src/sub/inner', 'RENAME_INTO_SELF'],
      ['/src', '/src/new', 'RENAME_INTO_SELF'],
      ['/dst', '/dst/full/x/y', 'RENAME_INTO_SELF'],
      ['/src/file', '/dst/file', 'EXISTS', true],
      ['/src/missing', '/dst/new', 'NOT_FOUND'],
      ['/src/file', '/nowhere/new', 'NOT_FOUND'],
      ['/src/file', '/dst/file/new', 'NOT_DIRECTORY'],
      ['/src/file', '/src/sub/new/', 'NOT_DIRECTORY'],
      ['/', '/x', 'BUSY'],
      ['/dst', '/', 'BUSY'],
    ];
    for (const [from, to, code, noReplace] of cases) {
      expect(`${from} -> ${to}: ${await codeOf(fs.rename(from, to, { noReplace: noReplace ?? false }))}`).toBe(
        `${from} -> ${to}: ${code}`,
      );
    }
    expect(await dumpStore(kv)).toEqual(before);
  });

  it('a directory over its own ancestor is ENOTEMPTY (the ancestor holds it)', async () => {
    const { fs } = await setup();
    expect(await codeOf(fs.rename('/dst/full/x', '/dst/full'))).toBe('NOT_EMPTY');
  });

  it('renaming to the same inode is a no-op (same name, or two hard links)', async () => {
    const { fs, kv } = await setup();
    await fs.link('/src/file', '/src/alias');
    const before = await dumpStore(kv);
    await fs.rename('/src/file', '/src/file');
    await fs.rename('/src/file', '/src/alias');
    expect(await dumpStore(kv)).toEqual(before);
    expect(await fs.ls('/src')).toEqual(['alias', 'file', 'sub']);
  });

  it('moves a symlink itself, not its target', async () => {
    const { fs } = await setup();
    const link = await fs.symlink('/src/link', 'sub');
    await fs.rename('/src/link', '/dst/link');
    expect(await fs.lstat('/dst/link')).toMatchObject({ ino: link.ino, type: InodeType.SYMLINK });
    expect((await fs.stat('/src/sub')).type).toBe(InodeType.DIRECTORY);
  });

  it('a symlink over a directory is EISDIR; a dir into a symlinked subtree is caught via real parents', async () => {
    const { fs } = await setup();
    await fs.symlink('/src/link', 'sub');
    expect(await codeOf(fs.rename('/src/link', '/dst/empty'))).toBe('IS_DIRECTORY');
    await fs.symlink('/shortcut', '/src/sub');
    expect(await codeOf(fs.rename('/src', '/shortcut/inner'))).toBe('RENAME_INTO_SELF');
  });
});
