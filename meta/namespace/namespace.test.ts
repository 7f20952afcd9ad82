import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE_MAX_BYTES, FILE_SIZE_MAX_BYTES, ROOT_INO } from '../../common/constants.js';
import { ErrorCode } from '../../common/errors.js';
import { fileChains } from '../../common/placement.js';
import { InodeType } from '../../proto/index.js';
import { codeOf, createNamespaceFixture, dumpStore, fsApi, p } from './testing/fixtures.js';
import { unpackDirEntries } from '../../common/packed-dir-entries.js';

describe('init', () => {
  it('creates the root directory once, with the default layout', async () => {
    const { ns } = await createNamespaceFixture();
    await ns.init();
    const root = await fsApi(ns).stat('/');
    expect(root).toMatchObject({
      ino: ROOT_INO,
      type: InodeType.DIRECTORY,
      mode: 0o755,
      nlink: 2,
      size: 0,
      parentIno: ROOT_INO,
    });
    expect(root.layout).toMatchObject({ chunkSizeBytes: 64 * 1024, stripeWidth: 4, chainTableId: 1 });
  });
});

describe('open', () => {
  it('creates a file with O_CREAT and opens it again without creating', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/a/b');
    const opened = await fs.create('/a/b/f', { mode: 0o600, uid: 5, gid: 6 });
    expect(opened.created).toBe(true);
    expect(opened.inode).toMatchObject({
      type: InodeType.FILE,
      mode: 0o600,
      uid: 5,
      gid: 6,
      nlink: 1,
      size: 0,
      truncateVersion: 0,
    });
    const again = await fs.create('/a/b/f');
    expect(again.created).toBe(false);
    expect(again.inode?.ino).toBe(opened.inode?.ino);
    const plain = await fs.open('/a/b/f');
    expect(plain.inode?.ino).toBe(opened.inode?.ino);
    expect((await fs.stat('/a/b')).size).toBe(1);
  });

  it('fails with ENOENT without O_CREAT, and when the parent is missing', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    expect(await codeOf(fs.open('/nope'))).toBe('NOT_FOUND');
    expect(await codeOf(fs.create('/no/such/dir/f'))).toBe('NOT_FOUND');
  });

  it('O_EXCL fails with EEXIST on an existing file and on an existing symlink', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.create('/f');
    expect(await codeOf(fs.create('/f', { exclusive: true }))).toBe('EXISTS');
    await fs.symlink('/dangling', '/nowhere');
    expect(await codeOf(fs.create('/dangling', { exclusive: true }))).toBe('EXISTS');
  });

  it('O_CREAT through a dangling symlink creates its target', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/d');
    await fs.symlink('/link', 'd/target');
    const opened = await fs.create('/link');
    expect(opened.created).toBe(true);
    expect((await fs.stat('/d/target')).ino).toBe(opened.inode?.ino);
    expect((await fs.lstat('/link')).type).toBe(InodeType.SYMLINK);
  });

  it('O_TRUNC cuts an existing file to 0, bumps the truncate version and cuts storage after the commit', async () => {
    const { ns, storage } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const { inode } = await fs.create('/f');
    await fs.sync(inode!.ino, { lengthHint: 1000 });
    const opened = await fs.open('/f', { truncate: true });
    expect(opened.inode).toMatchObject({ size: 0, truncateVersion: 1 });
    expect(storage.calls).toEqual([{ op: 'truncateFile', ino: inode!.ino, layout: inode!.layout, arg: 0 }]);
  });

  it('opening a directory is allowed read-only, EISDIR with O_CREAT or O_TRUNC', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/d');
    expect((await fs.open('/d')).inode?.type).toBe(InodeType.DIRECTORY);
    expect(await codeOf(fs.open('/d', { truncate: true }))).toBe('IS_DIRECTORY');
    expect(await codeOf(fs.create('/d'))).toBe('IS_DIRECTORY');
    // Linux: open("newdir/", O_CREAT) is EISDIR; a file named with a trailing slash is ENOTDIR.
    expect(await codeOf(fs.create('/newdir/'))).toBe('IS_DIRECTORY');
    await fs.create('/f');
    expect(await codeOf(fs.open('/f/'))).toBe('NOT_DIRECTORY');
  });

  it('refuses to create before a chain table exists (ROUTING_NOT_READY, retryable), then succeeds', async () => {
    const { ns, cluster, kv } = await createNamespaceFixture({ chains: 0 });
    const fs = fsApi(ns);
    const before = await dumpStore(kv);
    await expect(fs.create('/f')).rejects.toMatchObject({ errorCode: ErrorCode.ROUTING_NOT_READY, retryable: true });
    expect(await dumpStore(kv)).toEqual(before);
    cluster.addTable(1, 3);
    const opened = await fs.create('/f');
    // The root's stripe (4 in the test preset) is capped at the 3 chains of the table.
    expect(opened.inode?.layout).toMatchObject({ stripeWidth: 3, chainTableVersion: 1 });
  });

  it('gives new files the latest chain table version, round-robin chain bases and placeable seeds', async () => {
    const { ns, cluster } = await createNamespaceFixture({ chains: 8 });
    const fs = fsApi(ns);
    const bases: number[] = [];
    const seeds = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const layout = (await fs.create(`/f${i}`)).inode!.layout!;
      bases.push(layout.chainBase);
      seeds.add(layout.shuffleSeed);
      expect(fileChains(layout, cluster.latestChainTable(1)!.chainIds)).toHaveLength(4);
    }
    // Stripe 4 over 8 chains: consecutive files start 4 chains apart.
    for (let i = 1; i < bases.length; i++) expect(bases[i]).toBe((bases[i - 1]! + 4) % 8);
    expect(seeds.size).toBe(4);
    cluster.addTable(1, 8);
    expect((await fs.create('/g')).inode?.layout?.chainTableVersion).toBe(2);
  });

  it('inherits the directory layout set with SetLayout', async () => {
    const { ns } = await createNamespaceFixture({ chains: 8 });
    const fs = fsApi(ns);
    await fs.mkdir('/big');
    await fs.setlayout('/big', { chunkSizeBytes: 1 << 20, stripeWidth: 2 });
    await fs.mkdir('/big/sub');
    const layout = (await fs.create('/big/sub/f')).inode!.layout!;
    expect(layout).toMatchObject({ chunkSizeBytes: 1 << 20, stripeWidth: 2, chainTableId: 1 });
    expect((await fs.create('/other')).inode?.layout?.chunkSizeBytes).toBe(64 * 1024);
  });
});

describe('mkdirs', () => {
  it('creates one directory; EEXIST when it exists; ENOENT when the parent is missing', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const d = await fs.mkdir('/d', { mode: 0o711 });
    expect(d).toMatchObject({ type: InodeType.DIRECTORY, mode: 0o711, nlink: 2, size: 0, parentIno: ROOT_INO });
    expect((await fs.stat('/')).nlink).toBe(3);
    expect(await codeOf(fs.mkdir('/d'))).toBe('EXISTS');
    expect(await codeOf(fs.mkdir('/x/y'))).toBe('NOT_FOUND');
    expect(await codeOf(fs.mkdir('/'))).toBe('EXISTS');
  });

  it('mkdir -p creates missing parents and succeeds on an existing directory', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const leaf = await fs.mkdirp('/a/b/c/d');
    expect((await fs.stat('/a/b/c/d')).ino).toBe(leaf.ino);
    expect((await fs.mkdirp('/a/b/c/d')).ino).toBe(leaf.ino);
    expect((await fs.mkdirp('/a/b')).ino).toBe((await fs.stat('/a/b')).ino);
    expect((await fs.stat('/a/b/c')).parentIno).toBe((await fs.stat('/a/b')).ino);
    expect((await fs.mkdirp('/')).ino).toBe(ROOT_INO);
  });

  it('mkdir -p fails on a file in the way (EEXIST at the end, ENOTDIR in the middle) and creates nothing', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.create('/f');
    const before = await dumpStore(kv);
    expect(await codeOf(fs.mkdirp('/f'))).toBe('EXISTS');
    expect(await codeOf(fs.mkdirp('/f/x/y'))).toBe('NOT_DIRECTORY');
    expect(await codeOf(fs.mkdirp('/new/f2/../x\0'))).toBe('INVALID_NAME');
    expect(await dumpStore(kv)).toEqual(before);
  });

  it('mkdir -p follows symlinks to directories', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/real');
    await fs.symlink('/alias', '/real');
    await fs.mkdirp('/alias/x/y');
    expect((await fs.stat('/real/x/y')).type).toBe(InodeType.DIRECTORY);
    expect((await fs.mkdirp('/alias')).ino).toBe((await fs.stat('/real')).ino);
  });
});

describe('stat and batch stat', () => {
  it('stat follows a final symlink, lstat does not', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    const link = await fs.symlink('/l', 'f');
    expect((await fs.stat('/l')).ino).toBe(file.ino);
    expect(await fs.lstat('/l')).toMatchObject({ ino: link.ino, type: InodeType.SYMLINK, size: 1, symlinkTarget: 'f' });
  });

  it('batch stat answers each path and inode with its own status', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    const dir = await fs.mkdir('/d');
    const { results } = await ns.batchStat({ paths: [p('/f'), p('/missing'), p('/f/x')], inos: [dir.ino, 999_999] });
    expect(results.map((r) => r.status?.code)).toEqual([
      0,
      ErrorCode.NOT_FOUND,
      ErrorCode.NOT_DIRECTORY,
      0,
      ErrorCode.NOT_FOUND,
    ]);
    expect(results[0]?.inode?.ino).toBe(file.ino);
    expect(results[3]?.inode?.ino).toBe(dir.ino);
    expect(results[1]?.status?.message).toMatch(/missing/);
  });

  it('batch stat with no_follow describes a final symlink itself, like lstat', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    const link = await fs.symlink('/l', 'f');
    await fs.symlink('/dangling', 'nowhere');
    const follow = await ns.batchStat({ paths: [p('/l'), p('/dangling')], inos: [] });
    expect(follow.results.map((r) => [r.status?.code, r.inode?.ino])).toEqual([
      [0, file.ino],
      [ErrorCode.NOT_FOUND, undefined],
    ]);
    const noFollow = await ns.batchStat({ paths: [p('/l'), p('/dangling'), p('/f')], inos: [], noFollow: true });
    expect(noFollow.results.map((r) => r.status?.code)).toEqual([0, 0, 0]);
    expect(noFollow.results[0]?.inode).toEqual(await fs.lstat('/l'));
    expect(noFollow.results[0]?.inode?.ino).toBe(link.ino);
    expect(noFollow.results[2]?.inode).toEqual(await fs.stat('/f'));
  });

  it('batch stat refuses more entries than batchStatMax', async () => {
    const { ns, config } = await createNamespaceFixture();
    const paths = Array.from({ length: config.batchStatMax + 1 }, () => p('/'));
    expect(await codeOf(ns.batchStat({ paths, inos: [] }))).toBe('INVALID_ARGUMENT');
  });
});

describe('readdir', () => {
  it('pages through a directory in byte order with after_name and the server cap', async () => {
    const { ns, config } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/d');
    const names = ['b', 'a', 'Z', 'é', '10', '9', 'aa', 'a b', 'zz', '_', '~', 'ü', 'A', '1', '0', 'x', 'y'];
    for (const name of names) await fs.create(`/d/${name}`);
    const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(await fs.ls('/d')).toEqual(expected);

    const first = await ns.readDir({ at: p('/d'), afterName: '', limit: 3, withAttributes: false });
    expect(unpackDirEntries(first).map((e) => e.name)).toEqual(expected.slice(0, 3));
    expect(first.hasMore).toBe(true);
    const capped = await ns.readDir({ at: p('/d'), afterName: '', limit: 1000, withAttributes: false });
    expect(unpackDirEntries(capped)).toHaveLength(config.readDirPageMax);
    const rest = await ns.readDir({ at: p('/d'), afterName: expected.at(-3)!, limit: 10, withAttributes: true });
    const restEntries = unpackDirEntries(rest);
    expect(restEntries.map((e) => e.name)).toEqual(expected.slice(-2));
    expect(rest.hasMore).toBe(false);
    expect(rest.attributes.map((inode) => inode.ino)).toEqual(restEntries.map((e) => e.ino));
    expect(restEntries.every((e) => e.type === InodeType.FILE)).toBe(true);
    // after_name need not exist.
    const fromMiddle = await ns.readDir({ at: p('/d'), afterName: 'ab', limit: 2, withAttributes: false });
    expect(unpackDirEntries(fromMiddle).map((e) => e.name)).toEqual(
      expected.filter((n) => Buffer.compare(Buffer.from(n), Buffer.from('ab')) > 0).slice(0, 2),
    );
  });

  it('lists an empty directory, refuses files and bad after_name', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/e');
    await fs.create('/f');
    const empty = await ns.readDir({ at: p('/e'), afterName: '', limit: 0, withAttributes: false });
    expect(empty).toMatchObject({ hasMore: false, attributes: [] });
    expect(unpackDirEntries(empty)).toEqual([]);
    expect(await codeOf(ns.readDir({ at: p('/f'), afterName: '', limit: 0, withAttributes: false }))).toBe(
      'NOT_DIRECTORY',
    );
    expect(await codeOf(ns.readDir({ at: p('/e'), afterName: 'a/b', limit: 0, withAttributes: false }))).toBe(
      'INVALID_NAME',
    );
  });
});

describe('symlink and readlink', () => {
  it('stores the target verbatim; EEXIST on an existing name; EINVAL readlink of a non-symlink', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.symlink('/l', '../some/where/../x');
    expect(await fs.readlink('/l')).toBe('../some/where/../x');
    expect(await codeOf(fs.symlink('/l', 'y'))).toBe('EXISTS');
    await fs.create('/f');
    expect(await codeOf(fs.readlink('/f'))).toBe('NOT_SYMLINK');
    expect(await codeOf(fs.symlink('/m', ''))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(fs.symlink('/m', 'a\0b'))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(fs.symlink('/m', 'x'.repeat(5000)))).toBe('NAME_TOO_LONG');
  });
});

describe('hard links', () => {
  it('adds a name and counts links; unlinking one name keeps the file', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    await fs.mkdir('/d');
    const linked = await fs.link('/f', '/d/g');
    expect(linked).toMatchObject({ ino: file.ino, nlink: 2 });
    expect((await fs.stat('/d/g')).ino).toBe(file.ino);
    await fs.unlink('/f');
    expect(await fs.stat('/d/g')).toMatchObject({ ino: file.ino, nlink: 1 });
  });

  it('EPERM for directories, EEXIST for an existing name, ENOENT for a missing source', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/d');
    await fs.create('/f');
    expect(await codeOf(fs.link('/d', '/d2'))).toBe('PERMISSION_DENIED');
    expect(await codeOf(fs.link('/f', '/d'))).toBe('EXISTS');
    expect(await codeOf(fs.link('/missing', '/x'))).toBe('NOT_FOUND');
  });
});

describe('truncate', () => {
  it('shrinks (cutting storage after the commit) and extends (no storage call)', async () => {
    const { ns, storage } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    await fs.sync(file.ino, { lengthHint: 10_000 });
    const shrunk = await fs.truncate('/f', 100);
    expect(shrunk).toMatchObject({ size: 100, truncateVersion: 1 });
    expect(storage.calls).toEqual([{ op: 'truncateFile', ino: file.ino, layout: file.layout, arg: 100 }]);
    const grown = await fs.truncate('/f', 1 << 30);
    expect(grown).toMatchObject({ size: 1 << 30, truncateVersion: 2 });
    expect(storage.calls).toHaveLength(1);
  });

  it('EISDIR on directories, INVALID_ARGUMENT past the largest file size', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/d');
    await fs.create('/f');
    expect(await codeOf(fs.truncate('/d', 0))).toBe('IS_DIRECTORY');
    expect(await codeOf(fs.truncate('/f', FILE_SIZE_MAX_BYTES + 1))).toBe('INVALID_ARGUMENT');
  });

  it('reports a storage failure after the commit, and the retry with the same tag cuts again', async () => {
    const { ns, storage } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    await fs.sync(file.ino, { lengthHint: 5000 });
    storage.failNext = 1;
    const tag = { clientId: 'c1', requestId: 9 };
    expect(await codeOf(fs.truncate('/f', 10, { tag }))).toBe('RPC_UNAVAILABLE');
    expect((await fs.stat('/f')).size).toBe(10);
    await fs.truncate('/f', 10, { tag });
    expect(storage.calls.filter((c) => c.op === 'truncateFile').map((c) => c.arg)).toEqual([10]);
    // Now recorded: a further retry replays without another storage call.
    await fs.truncate('/f', 10, { tag });
    expect(storage.calls).toHaveLength(1);
  });
});

describe('setattr and setlayout', () => {
  it('changes mode, owner and times, and ctime', async () => {
    const { ns, clock } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    await fs.symlink('/l', 'f');
    clock.advance(5);
    const changed = await fs.setattr('/l', { mode: 0o4711, uid: 7, gid: 8, atimeUs: 11, mtimeUs: 22 });
    expect(changed).toMatchObject({ ino: file.ino, mode: 0o4711, uid: 7, gid: 8, atimeUs: 11, mtimeUs: 22 });
    expect(changed.ctimeUs).toBe(file.ctimeUs + 5000);
    const onLink = await fs.setattr('/l', { noFollow: true, uid: 3 });
    expect(onLink).toMatchObject({ type: InodeType.SYMLINK, uid: 3 });
    expect(await codeOf(fs.setattr('/f', { mode: 0o10000 }))).toBe('INVALID_ARGUMENT');
    expect((await fs.stat('/f')).mode).toBe(0o4711);
  });

  it('validates layouts: power-of-two chunk size in bounds, stripe within table, table exists, dirs only', async () => {
    const { ns, kv } = await createNamespaceFixture({ chains: 6 });
    const fs = fsApi(ns);
    await fs.mkdir('/d');
    await fs.create('/f');
    const before = await dumpStore(kv);
    expect(await codeOf(fs.setlayout('/d', { chunkSizeBytes: 3 << 20 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(fs.setlayout('/d', { chunkSizeBytes: 1024 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(fs.setlayout('/d', { chunkSizeBytes: CHUNK_SIZE_MAX_BYTES * 2 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(fs.setlayout('/d', { stripeWidth: 7 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(fs.setlayout('/d', { chainTableId: 2 }))).toBe('CHAIN_TABLE_NOT_FOUND');
    expect(await codeOf(fs.setlayout('/f', { stripeWidth: 2 }))).toBe('NOT_DIRECTORY');
    expect(await dumpStore(kv)).toEqual(before);
    const d = await fs.setlayout('/d', { stripeWidth: 6, chunkSizeBytes: CHUNK_SIZE_MAX_BYTES });
    expect(d.layout).toMatchObject({ stripeWidth: 6, chunkSizeBytes: CHUNK_SIZE_MAX_BYTES, chainTableId: 1 });
    // Zeros keep the current values.
    expect((await fs.setlayout('/d', {})).layout).toMatchObject({
      stripeWidth: 6,
      chunkSizeBytes: CHUNK_SIZE_MAX_BYTES,
    });
  });
});

describe('statfs', () => {
  it('reports capacity from the cluster and inode count and used bytes from the namespace', async () => {
    const { ns, cluster } = await createNamespaceFixture();
    const fs = fsApi(ns);
    cluster.capacityValue = { capacityBytes: 1000, freeBytes: 400 };
    expect(await ns.statFs()).toEqual({ capacityBytes: 1000, freeBytes: 400, usedBytes: 0, inodes: 1 });
    await fs.mkdir('/d');
    const a = (await fs.create('/d/a')).inode!;
    const b = (await fs.create('/d/b')).inode!;
    await fs.sync(a.ino, { lengthHint: 300 });
    await fs.sync(b.ino, { lengthHint: 50 });
    expect(await ns.statFs()).toMatchObject({ usedBytes: 350, inodes: 4 });
    await fs.truncate('/d/a', 100);
    await fs.unlink('/d/b');
    expect(await ns.statFs()).toMatchObject({ usedBytes: 100, inodes: 3 });
    await fs.rmr('/d');
    expect(await ns.statFs()).toMatchObject({ usedBytes: 0, inodes: 1 });
  });
});

describe('sync', () => {
  it('keeps the largest length, ignores hints older than a truncate, updates mtime when written', async () => {
    const { ns, clock } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    expect((await fs.sync(file.ino, { lengthHint: 500 })).size).toBe(500);
    expect((await fs.sync(file.ino, { lengthHint: 200 })).size).toBe(500);
    await fs.truncate('/f', 10);
    expect((await fs.sync(file.ino, { lengthHint: 900, truncateVersion: 0 })).size).toBe(10);
    expect((await fs.sync(file.ino, { lengthHint: 900, truncateVersion: 1 })).size).toBe(900);
    clock.advance(3);
    const written = await fs.sync(file.ino, { wrote: true });
    expect(written.mtimeUs).toBe(clock.nowUs());
    expect(await codeOf(fs.sync(424242))).toBe('NOT_FOUND');
    expect(await codeOf(fs.sync(file.ino, { lengthHint: FILE_SIZE_MAX_BYTES + 1 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(fs.sync(0))).toBe('INVALID_ARGUMENT');
    await fs.mkdir('/d');
    expect(await codeOf(fs.sync((await fs.stat('/d')).ino))).toBe('IS_DIRECTORY');
  });

  it('recompute_length adopts the length storage reports, never shrinking', async () => {
    const { ns, storage } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    storage.lengths.set(file.ino, 4321);
    expect((await fs.sync(file.ino, { recomputeLength: true })).size).toBe(4321);
    storage.lengths.set(file.ino, 100);
    expect((await fs.sync(file.ino, { recomputeLength: true })).size).toBe(4321);
    expect(storage.calls.filter((c) => c.op === 'queryLength')).toHaveLength(2);
  });
});
