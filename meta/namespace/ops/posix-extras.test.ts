// Namespace-level checks of the issue-17 operations (the mount's tests drive them through the
// kernel; these pin the rules themselves): advisory locks and their session lease, RENAME_EXCHANGE,
// the sticky-bit rule, extended attributes and special files.
import { describe, expect, it } from 'vitest';
import { InodeType, LockKind, type LockRequest, LockType } from '../../../proto/index.js';
import { LOCK_SESSION_LEASE_MS } from '../constants.js';
import { codeOf, createNamespaceFixture, dumpStore, fsApi, p } from '../testing/fixtures.js';

function lockRequest(over: Partial<LockRequest>): LockRequest {
  return {
    ino: 100,
    session: 's1',
    owner: 1,
    kind: LockKind.LOCK_POSIX,
    type: LockType.LOCK_WRITE,
    start: 0,
    end: Number.MAX_SAFE_INTEGER,
    test: false,
    pid: 7,
    ...over,
  };
}

describe('advisory locks', () => {
  it('byte ranges: owners conflict on overlapping writes, share reads, and unlock splits a range', async () => {
    const { ns } = await createNamespaceFixture();
    const lock = (over: Partial<LockRequest>) => ns.lock(lockRequest(over)).then((r) => r.granted);
    expect(await lock({ start: 0, end: 99 })).toBe(true);
    expect(await lock({ session: 's2', start: 50, end: 60 })).toBe(false);
    expect(await lock({ session: 's2', start: 100, end: 200 })).toBe(true);
    // The owner unlocks the middle of its range: the rest stays locked.
    expect(await lock({ type: LockType.LOCK_UNLOCK, start: 40, end: 59 })).toBe(true);
    expect(await lock({ session: 's2', start: 45, end: 55 })).toBe(true);
    expect(await lock({ session: 's2', owner: 2, start: 30, end: 30 })).toBe(false);
    expect(await lock({ session: 's2', owner: 2, start: 60, end: 60 })).toBe(false);
    // F_GETLK reports the conflicting lock and changes nothing.
    const probe = await ns.lock(lockRequest({ session: 's3', start: 0, end: 5, test: true }));
    expect(probe).toMatchObject({ granted: false, conflict: { session: 's1', start: 0, end: 39, pid: 7 } });
    // Shared locks of different owners coexist; flock locks never meet fcntl ones.
    expect(await lock({ ino: 101, type: LockType.LOCK_READ })).toBe(true);
    expect(await lock({ ino: 101, session: 's2', type: LockType.LOCK_READ })).toBe(true);
    expect(await lock({ ino: 101, session: 's3', type: LockType.LOCK_WRITE })).toBe(false);
    expect(await lock({ ino: 101, session: 's3', kind: LockKind.LOCK_FLOCK })).toBe(true);
  });

  it("a session's locks lapse when it is not renewed within the lease, and go at once when it ends", async () => {
    const { ns, clock } = await createNamespaceFixture();
    expect((await ns.lock(lockRequest({}))).granted).toBe(true);
    clock.advance(LOCK_SESSION_LEASE_MS - 1000);
    await ns.renewLockSession({ session: 's1', end: false });
    clock.advance(LOCK_SESSION_LEASE_MS - 1000);
    expect((await ns.lock(lockRequest({ session: 's2' }))).granted).toBe(false);
    clock.advance(1001);
    expect((await ns.lock(lockRequest({ session: 's2' }))).granted).toBe(true);
    expect((await ns.lock(lockRequest({ ino: 5, session: 's2' }))).granted).toBe(true);
    await ns.renewLockSession({ session: 's2', end: true });
    expect((await ns.lock(lockRequest({ ino: 5, session: 's3' }))).granted).toBe(true);
  });

  it('refuses an empty range or session before touching the store', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const before = await dumpStore(kv);
    expect(await codeOf(ns.lock(lockRequest({ start: 10, end: 5 })))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(ns.lock(lockRequest({ session: '' })))).toBe('INVALID_ARGUMENT');
    expect(await dumpStore(kv)).toEqual(before);
  });
});

describe('rename: exchange, no-replace on hard links, sticky directories', () => {
  it('RENAME_EXCHANGE swaps a file and a directory across parents, nlinks and parent ids follow', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/a/dir');
    await fs.mkdirp('/b');
    await fs.create('/b/file');
    const dir = await fs.stat('/a/dir');
    const file = await fs.stat('/b/file');
    const [a, b] = [await fs.stat('/a'), await fs.stat('/b')];
    await fs.rename('/a/dir', '/b/file', { exchange: true });
    expect((await fs.stat('/a/dir')).ino).toBe(file.ino);
    expect(await fs.stat('/b/file')).toMatchObject({ ino: dir.ino, parentIno: b.ino });
    expect((await fs.stat('/a')).nlink).toBe(a.nlink - 1);
    expect((await fs.stat('/b')).nlink).toBe(b.nlink + 1);
    expect(await codeOf(fs.rename('/a/dir', '/b/none', { exchange: true }))).toBe('NOT_FOUND');
    // A directory may not be swapped into its own subtree.
    await fs.mkdirp('/b/file/inner');
    expect(await codeOf(fs.rename('/b/file', '/b/file/inner', { exchange: true }))).toBe('RENAME_INTO_SELF');
  });

  it('RENAME_NOREPLACE onto another hard link of the same file is EEXIST', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.create('/f');
    await fs.link('/f', '/g');
    expect(await codeOf(fs.rename('/f', '/g', { noReplace: true }))).toBe('EXISTS');
    expect(await codeOf(fs.rename('/f', '/g'))).toBe('OK');
  });

  it('in a sticky directory only root, the owner of the entry or of the directory moves or removes it', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/tmp', { mode: 0o1777, uid: 10 });
    await fs.create('/tmp/alice', { uid: 20 });
    await fs.create('/tmp/bob', { uid: 30 });
    expect(await codeOf(fs.unlink('/tmp/alice', { callerUid: 30 }))).toBe('PERMISSION_DENIED');
    expect(await codeOf(fs.rename('/tmp/bob', '/tmp/alice', { callerUid: 30 }))).toBe('PERMISSION_DENIED');
    expect(await codeOf(fs.rename('/tmp/alice', '/tmp/x', { callerUid: 30 }))).toBe('PERMISSION_DENIED');
    expect(await codeOf(fs.rename('/tmp/alice', '/tmp/a2', { callerUid: 20 }))).toBe('OK');
    expect(await codeOf(fs.unlink('/tmp/a2', { callerUid: 10 }))).toBe('OK');
    expect(await codeOf(fs.unlink('/tmp/bob', { callerUid: 0 }))).toBe('OK');
  });
});

describe('extended attributes and special files', () => {
  it('set/get/list/remove with create-only and replace-only, and they go with the inode', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    const set = (name: string, value: string, extra = {}) =>
      ns.setXattr({ at: p('/f'), name, value: Buffer.from(value), createOnly: false, replaceOnly: false, ...extra });
    await set('user.a', '1');
    expect(await codeOf(set('user.a', '2', { createOnly: true }))).toBe('EXISTS');
    expect(await codeOf(set('user.b', '2', { replaceOnly: true }))).toBe('NO_ATTRIBUTE');
    expect(await codeOf(set('system.x', '2'))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(set('user.big', 'x'.repeat(64 * 1024 + 1)))).toBe('ATTRIBUTE_TOO_LARGE');
    await set('user.b', '');
    expect((await ns.getXattr({ at: p('/f'), name: 'user.a' })).value.toString()).toBe('1');
    expect((await ns.listXattr({ at: p('/f'), followSymlink: false })).names).toEqual(['user.a', 'user.b']);
    await ns.removeXattr({ at: p('/f'), name: 'user.a' });
    expect(await codeOf(ns.getXattr({ at: p('/f'), name: 'user.a' }))).toBe('NO_ATTRIBUTE');
    await fs.unlink('/f');
    const keys = (await dumpStore(kv)).filter((entry) => entry.startsWith(Buffer.from('XATR').toString('hex')));
    expect(keys, `no attribute of inode ${file.ino} is left`).toEqual([]);
  });

  it('special files: typed inodes with rdev, exact mode, hard links, unlinked at once', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const make = (path: string, type: InodeType, rdev = 0) =>
      ns.makeNode({ at: p(path), type, mode: 0o600, uid: 1, gid: 2, rdev }).then((r) => r.inode!);
    expect(await make('/fifo', InodeType.FIFO)).toMatchObject({ type: InodeType.FIFO, mode: 0o600, layout: undefined });
    expect(await make('/dev', InodeType.BLOCK_DEVICE, 0x0701)).toMatchObject({ rdev: 0x0701 });
    expect(await codeOf(make('/bad', InodeType.FILE))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(make('/fifo', InodeType.SOCKET))).toBe('EXISTS');
    await fs.link('/fifo', '/fifo2');
    expect((await fs.stat('/fifo2')).nlink).toBe(2);
    expect(await codeOf(fs.open('/fifo'))).toBe('INVALID_ARGUMENT');
    await fs.unlink('/fifo');
    await fs.unlink('/fifo2');
    expect(await codeOf(fs.stat('/fifo2'))).toBe('NOT_FOUND');
    // Mode 0 is kept when the caller says so (the mount does).
    expect((await fs.create('/zero', { mode: 0, exactMode: true })).inode!.mode).toBe(0);
    expect((await fs.create('/default', { mode: 0 })).inode!.mode).toBe(0o644);
  });
});
