import { describe, expect, it } from 'vitest';
import { NAME_MAX_BYTES, PATH_MAX_BYTES, ROOT_INO } from '../../common/constants.js';
import { InodeType, OpenRequest } from '../../proto/index.js';
import { SYMLINK_FOLLOW_MAX } from './constants.js';
import { codeOf, createNamespaceFixture, dumpStore, fsApi, p } from './testing/fixtures.js';

describe('path resolution', () => {
  it('resolves paths relative to parent_ino, and the empty path names parent_ino itself', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const dir = await fs.mkdirp('/a/b');
    const file = (await ns.open(OpenRequest.fromPartial({ at: p('c', dir.ino), create: true }))).inode!;
    expect((await fs.stat('/a/b/c')).ino).toBe(file.ino);
    expect((await ns.stat({ at: p('', dir.ino), followSymlink: false })).inode?.ino).toBe(dir.ino);
    expect((await ns.stat({ at: p('../b/./c', dir.ino), followSymlink: false })).inode?.ino).toBe(file.ino);
    // An absolute path ignores parent_ino; parent_ino 0 means the root.
    expect((await ns.stat({ at: p('/a/b', file.ino), followSymlink: false })).inode?.ino).toBe(dir.ino);
    expect((await ns.stat({ at: p('a/b', 0), followSymlink: false })).inode?.ino).toBe(dir.ino);
  });

  it('handles ., .., repeated and trailing slashes physically', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const b = await fs.mkdirp('/a/b');
    expect((await fs.stat('//a///b/')).ino).toBe(b.ino);
    expect((await fs.stat('/a/./b/.')).ino).toBe(b.ino);
    expect((await fs.stat('/a/b/../..')).ino).toBe(ROOT_INO);
    expect((await fs.stat('/..')).ino).toBe(ROOT_INO);
    // '..' after a symlink to a directory goes to that directory's real parent.
    await fs.mkdirp('/x/y');
    await fs.symlink('/a/ylink', '/x/y');
    expect((await fs.stat('/a/ylink/..')).ino).toBe((await fs.stat('/x')).ino);
  });

  it('ENOTDIR through a file, ENOENT for a missing component or inode', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    expect(await codeOf(fs.stat('/f/x'))).toBe('NOT_DIRECTORY');
    expect(await codeOf(fs.stat('/f/'))).toBe('NOT_DIRECTORY');
    expect(await codeOf(ns.stat({ at: p('x', file.ino), followSymlink: false }))).toBe('NOT_DIRECTORY');
    expect(await codeOf(fs.stat('/missing/x'))).toBe('NOT_FOUND');
    expect(await codeOf(ns.stat({ at: p('x', 987_654), followSymlink: false }))).toBe('NOT_FOUND');
  });

  it('follows intermediate symlinks (relative and absolute) and the last one only for stat', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/data/v1');
    const file = (await fs.create('/data/v1/f')).inode!;
    await fs.symlink('/data/current', 'v1');
    await fs.symlink('/abs', '/data/current');
    await fs.symlink('/data/v1/self', '.');
    expect((await fs.stat('/data/current/f')).ino).toBe(file.ino);
    expect((await fs.stat('/abs/f')).ino).toBe(file.ino);
    expect((await fs.stat('/abs/self/self/f')).ino).toBe(file.ino);
    expect((await fs.lstat('/abs')).type).toBe(InodeType.SYMLINK);
    expect((await fs.stat('/abs')).type).toBe(InodeType.DIRECTORY);
    // A trailing slash follows a final symlink even for lstat.
    expect((await fs.lstat('/abs/')).type).toBe(InodeType.DIRECTORY);
    await fs.symlink('/dangling', '/nowhere/at/all');
    expect(await codeOf(fs.stat('/dangling'))).toBe('NOT_FOUND');
    expect((await fs.lstat('/dangling')).type).toBe(InodeType.SYMLINK);
  });

  it('ELOOP on symlink cycles and on chains longer than the bound', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.symlink('/loop1', 'loop2');
    await fs.symlink('/loop2', 'loop1');
    expect(await codeOf(fs.stat('/loop1'))).toBe('SYMLINK_LOOP');
    expect(await codeOf(fs.stat('/loop1/x'))).toBe('SYMLINK_LOOP');
    expect((await fs.lstat('/loop1')).type).toBe(InodeType.SYMLINK);
    const target = (await fs.create('/t')).inode!;
    // A chain of exactly SYMLINK_FOLLOW_MAX links resolves; one more is ELOOP.
    await fs.symlink('/s0', 't');
    for (let i = 1; i < SYMLINK_FOLLOW_MAX; i++) await fs.symlink(`/s${i}`, `s${i - 1}`);
    expect((await fs.stat(`/s${SYMLINK_FOLLOW_MAX - 1}`)).ino).toBe(target.ino);
    await fs.symlink(`/s${SYMLINK_FOLLOW_MAX}`, `s${SYMLINK_FOLLOW_MAX - 1}`);
    expect(await codeOf(fs.stat(`/s${SYMLINK_FOLLOW_MAX}`))).toBe('SYMLINK_LOOP');
  });

  it('refuses bad names and paths in every mutating call, leaving the store unchanged', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/d');
    await fs.create('/d/f');
    const before = await dumpStore(kv);
    const long = 'n'.repeat(NAME_MAX_BYTES + 1);
    const cases: Array<[string, () => Promise<unknown>, string]> = [
      ['NUL in a created name', () => fs.create('/d/a\0b'), 'INVALID_NAME'],
      ['over-long name', () => fs.create(`/d/${long}`), 'NAME_TOO_LONG'],
      ['over-long multibyte name', () => fs.mkdir(`/d/${'é'.repeat(128)}`), 'NAME_TOO_LONG'],
      ['over-long path', () => fs.mkdirp(`/${'a/'.repeat(PATH_MAX_BYTES / 2 + 1)}`), 'NAME_TOO_LONG'],
      ['create "."', () => fs.create('/d/.'), 'IS_DIRECTORY'],
      ['mkdir ".."', () => fs.mkdir('/d/..'), 'EXISTS'],
      ['mkdir empty', () => fs.mkdir(''), 'EXISTS'],
      ['symlink named ..', () => fs.symlink('/d/..', 'x'), 'EXISTS'],
      ['rename from .', () => fs.rename('/d/.', '/e'), 'BUSY'],
      ['rename to ..', () => fs.rename('/d/f', '/d/..'), 'BUSY'],
      ['rename root', () => fs.rename('/', '/e'), 'BUSY'],
      ['rename over root', () => fs.rename('/d', '/'), 'BUSY'],
      ['unlink root', () => fs.unlink('/'), 'BUSY'],
      ['rmdir root recursively', () => fs.rmr('/'), 'BUSY'],
      ['rmdir .', () => fs.rmdir('/d/.'), 'INVALID_ARGUMENT'],
      ['link with NUL', () => fs.link('/d/f', '/d/g\0'), 'INVALID_NAME'],
      [
        'unknown parent inode',
        () => ns.open(OpenRequest.fromPartial({ at: p('x', 777_777), create: true })),
        'NOT_FOUND',
      ],
      ['missing at', () => ns.open(OpenRequest.fromPartial({ create: true })), 'INVALID_ARGUMENT'],
      [
        'negative parent ino',
        () => ns.open(OpenRequest.fromPartial({ at: { parentIno: -1, path: 'x' }, create: true })),
        'INVALID_ARGUMENT',
      ],
      ['bad mode', () => fs.create('/d/m', { mode: 0o177777 }), 'INVALID_ARGUMENT'],
    ];
    for (const [what, call, code] of cases) {
      expect(`${what}: ${await codeOf(call())}`).toBe(`${what}: ${code}`);
    }
    expect(await dumpStore(kv)).toEqual(before);
  });
});
