// BatchRename and BatchRemove: each item behaves exactly as its own Rename or Remove — its own
// status (ENOENT, EEXIST, EACCES, a bad name fail only that item), its own idempotency record
// (a retried batch, or a single call with an item's tag, gets the first outcome), the caller's
// permissions checked per item, items applied in request order, nothing changed by a failed item.
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../common/auth/principal.js';
import { ErrorCode } from '../../../common/errors.js';
import { RemoveRequest, RenameRequest } from '../../../proto/index.js';
import { RENAME_REMOVE_BATCH_MAX } from '../constants.js';
import { codeOf, createNamespaceFixture, dumpStore, fsApi, p } from '../testing/fixtures.js';

const rename = (from: string, to: string, requestId: number, extra: Partial<RenameRequest> = {}) =>
  RenameRequest.fromPartial({ from: p(from), to: p(to), tag: { clientId: 'batch', requestId }, ...extra });
const unlink = (path: string, requestId: number, extra: Partial<RemoveRequest> = {}) =>
  RemoveRequest.fromPartial({ at: p(path), tag: { clientId: 'batch', requestId }, ...extra });
const codes = (results: ReadonlyArray<{ status?: { code: number } }>) =>
  results.map((result) => ErrorCode[result.status?.code ?? -1]);

const bob: Principal = { role: 'client', user: 'bob', uid: 1002, gid: 1002 };

describe('batch rename', () => {
  it('renames every item, in order; ENOENT, EEXIST and a bad name fail only their own item', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d');
    const a = (await fs.create('/d/a')).inode!;
    await fs.create('/d/b');
    await fs.create('/d/taken');
    const { results } = await ns.batchRename({
      requests: [
        rename('/d/a', '/d/a2', 1),
        rename('/d/a2', '/d/a3', 2), // sees the first item's result
        rename('/d/missing', '/d/x', 3),
        rename('/d/b', '/d/taken', 4, { noReplace: true }),
        rename('/d/b', '/d/bad\u0000name', 5),
        rename('/d/b', `/d/${'n'.repeat(300)}`, 6),
        rename('/d/b', '/d/b2', 7),
      ],
    });
    expect(codes(results)).toEqual(['OK', 'OK', 'NOT_FOUND', 'EXISTS', 'INVALID_NAME', 'NAME_TOO_LONG', 'OK']);
    expect(results[0]?.response?.inode?.ino).toBe(a.ino);
    expect(results[2]?.response).toBeUndefined();
    expect(results[3]?.status?.message).toMatch(/taken.*already exists/);
    expect((await fs.ls('/d')).sort()).toEqual(['a3', 'b2', 'taken']);
    expect((await fs.stat('/d/a3')).ino).toBe(a.ino);
    expect((await fs.stat('/d')).size).toBe(3);
  });

  it('checks the caller per item: a client may rename in its own directory, not in root-owned ones', async () => {
    const { ns } = await createNamespaceFixture();
    await ns.mkdirs({ tag: undefined, at: p('/home/bob'), mode: 0o755, recursive: true, uid: 1002, gid: 1002 });
    const fs = fsApi(ns);
    await fs.mkdirp('/root-only');
    await fs.create('/root-only/f');
    await fs.create('/home/bob/f', { uid: 1002, gid: 1002 });
    const before = await fs.ls('/root-only');
    const { results } = await ns.batchRename(
      { requests: [rename('/root-only/f', '/root-only/g', 1), rename('/home/bob/f', '/home/bob/g', 2)] },
      { principal: bob },
    );
    expect(codes(results)).toEqual(['PERMISSION_DENIED', 'OK']);
    expect(await fs.ls('/root-only')).toEqual(before);
    expect(await fs.ls('/home/bob')).toEqual(['g']);
  });

  it('answers a retried batch, and a single call with an item tag, with the first outcome', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d');
    await fs.create('/d/a');
    const requests = [rename('/d/a', '/d/b', 11), rename('/d/missing', '/d/c', 12)];
    const first = await ns.batchRename({ requests });
    await fs.create('/d/missing'); // a re-run would now succeed: a replay must not
    const again = await ns.batchRename({ requests });
    expect(again).toEqual(first);
    expect(codes(first.results)).toEqual(['OK', 'NOT_FOUND']);
    // The records are Rename's own: the single call with the same tag and request gets them too.
    expect(await ns.rename(requests[0]!)).toEqual(first.results[0]?.response);
    expect(await codeOf(ns.rename(requests[1]!))).toBe('NOT_FOUND');
    expect((await fs.ls('/d')).sort()).toEqual(['b', 'missing']);
  });

  it(`refuses more than ${RENAME_REMOVE_BATCH_MAX} renames in one call, changing nothing`, async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.create('/f');
    const before = await dumpStore(kv);
    const requests = Array.from({ length: RENAME_REMOVE_BATCH_MAX + 1 }, (_, i) => rename('/f', `/g${i}`, i + 1));
    expect(await codeOf(ns.batchRename({ requests }))).toBe('INVALID_ARGUMENT');
    expect(await dumpStore(kv)).toEqual(before);
  });
});

describe('batch remove', () => {
  it('unlinks, rmdirs and removes trees per item; each error is its own item', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d/empty');
    await fs.mkdirp('/d/full/sub');
    await fs.mkdirp('/d/tree/x/y');
    await fs.create('/d/tree/x/y/z');
    await fs.create('/d/f');
    await fs.create('/d/g');
    const { results } = await ns.batchRemove({
      requests: [
        unlink('/d/f', 1),
        unlink('/d/f', 2), // already gone by the first item
        unlink('/d/empty', 3), // a directory, removed as a file
        unlink('/d/empty', 4, { directory: true }),
        unlink('/d/full', 5, { directory: true }),
        unlink('/d/tree', 6, { directory: true, recursive: true }),
        unlink('/d/g/', 7),
        unlink('/d/bad\u0000', 8),
        unlink('/d/g', 9),
      ],
    });
    expect(codes(results)).toEqual([
      'OK',
      'NOT_FOUND',
      'IS_DIRECTORY',
      'OK',
      'NOT_EMPTY',
      'OK',
      'NOT_DIRECTORY',
      'INVALID_NAME',
      'OK',
    ]);
    expect(results[0]?.response?.removedInodes).toBe(1);
    expect(results[5]?.response?.removedInodes).toBe(4);
    expect((await fs.ls('/d')).sort()).toEqual(['full']);
    expect((await fs.stat('/d')).size).toBe(1);
  });

  it('denies a client what it may not remove, and removes what it may, in one batch', async () => {
    const { ns } = await createNamespaceFixture();
    await ns.mkdirs({ tag: undefined, at: p('/home/bob'), mode: 0o755, recursive: true, uid: 1002, gid: 1002 });
    const fs = fsApi(ns);
    await fs.create('/root-file');
    await fs.create('/home/bob/f', { uid: 1002, gid: 1002 });
    const { results } = await ns.batchRemove(
      { requests: [unlink('/root-file', 1), unlink('/home/bob/f', 2)] },
      { principal: bob },
    );
    expect(codes(results)).toEqual(['PERMISSION_DENIED', 'OK']);
    expect((await fs.stat('/root-file')).nlink).toBe(1);
    expect(await fs.ls('/home/bob')).toEqual([]);
  });

  it('a rename batch racing a remove batch over the same names: each name moved or removed, once', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/src');
    await fs.mkdirp('/dst');
    const count = 48;
    for (let i = 0; i < count; i++) await fs.create(`/src/f${i}`);
    const batches = (offset: number) => Array.from({ length: 4 }, (_, b) => b * 12 + offset);
    // Two rename batches and two remove batches, interleaved, each over all the names.
    const renames = batches(0).map((base) =>
      ns.batchRename({
        requests: Array.from({ length: count }, (_, i) => rename(`/src/f${i}`, `/dst/f${i}`, 1000 * base + i + 1)),
      }),
    );
    const removes = batches(1).map((base) =>
      ns.batchRemove({ requests: Array.from({ length: count }, (_, i) => unlink(`/src/f${i}`, 1000 * base + i + 1)) }),
    );
    const [renamed, removed] = await Promise.all([Promise.all(renames), Promise.all(removes)]);
    const dst = new Set(await fs.ls('/dst'));
    expect(await fs.ls('/src')).toEqual([]);
    for (let i = 0; i < count; i++) {
      const movedBy = renamed.filter((r) => r.results[i]?.status?.code === ErrorCode.OK).length;
      const removedBy = removed.filter((r) => r.results[i]?.status?.code === ErrorCode.OK).length;
      // Exactly one batch got each name; every other item found it gone.
      expect(movedBy + removedBy, `f${i}`).toBe(1);
      expect(dst.has(`f${i}`), `f${i}`).toBe(movedBy === 1);
      for (const r of [...renamed, ...removed]) expect(r.results[i]?.status?.code).toBeOneOf([0, ErrorCode.NOT_FOUND]);
    }
    expect((await fs.stat('/src')).size).toBe(0);
    expect((await fs.stat('/dst')).size).toBe(dst.size);
  });
});
