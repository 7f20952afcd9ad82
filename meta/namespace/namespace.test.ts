import { describe, expect, it } from 'vitest';
import { ROOT_INO } from '../../common/constants.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { InodeType } from '../../proto/index.js';
import { createNamespaceFixture, dumpStore, p } from './test-fixtures.js';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SpindleError) return err.codeName;
    throw err;
  }
  return 'OK';
}

describe('Namespace basics', () => {
  it('creates the root directory once', async () => {
    const { ns } = await createNamespaceFixture();
    await ns.init();
    const { inode } = await ns.stat({ at: p('/'), followSymlink: true });
    expect(inode).toMatchObject({ ino: ROOT_INO, type: InodeType.DIRECTORY, mode: 0o755, nlink: 2, size: 0, parentIno: ROOT_INO });
    expect(inode?.layout).toMatchObject({ chunkSizeBytes: 64 * 1024, stripeWidth: 4, chainTableId: 1 });
  });

  it('creates, stats and lists a file', async () => {
    const { ns } = await createNamespaceFixture();
    await ns.mkdirs({ at: p('/a/b'), mode: 0o700, recursive: true, uid: 5, gid: 6 });
    const opened = await ns.open({ at: p('/a/b/f'), create: true, exclusive: false, truncate: false, mode: 0o600, uid: 5, gid: 6 });
    expect(opened.created).toBe(true);
    expect(opened.inode).toMatchObject({ type: InodeType.FILE, mode: 0o600, nlink: 1, size: 0 });
    expect(opened.inode?.layout).toMatchObject({ chunkSizeBytes: 64 * 1024, stripeWidth: 4, chainTableId: 1, chainTableVersion: 1 });
    const again = await ns.open({ at: p('/a/b/f'), create: true, exclusive: false, truncate: false, mode: 0, uid: 0, gid: 0 });
    expect(again.created).toBe(false);
    expect(again.inode?.ino).toBe(opened.inode?.ino);
    const listing = await ns.readDir({ at: p('/a/b'), afterName: '', limit: 0, withAttributes: true });
    expect(listing.entries.map((e) => [e.name, e.type])).toEqual([['f', InodeType.FILE]]);
    expect(listing.entries[0]?.inode?.ino).toBe(opened.inode?.ino);
    const dir = await ns.stat({ at: p('/a/b'), followSymlink: false });
    expect(dir.inode).toMatchObject({ size: 1, nlink: 2 });
    const a = await ns.stat({ at: p('/a'), followSymlink: false });
    expect(a.inode).toMatchObject({ size: 1, nlink: 3 });
    expect(await codeOf(ns.stat({ at: p('/a/missing'), followSymlink: false }))).toBe('NOT_FOUND');
  });

  it('rejects a bad name without changing anything', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const before = await dumpStore(kv);
    expect(await codeOf(ns.open({ at: p('/x\0y'), create: true, exclusive: false, truncate: false, mode: 0, uid: 0, gid: 0 }))).toBe('INVALID_NAME');
    expect(await dumpStore(kv)).toEqual(before);
    void ErrorCode;
  });
});
