// BatchOpen: each item behaves exactly as its own Open — its own status, its own idempotency tag
// (a retried batch replays the applied items), nothing changed by a failed item.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../common/errors.js';
import { InodeType, OpenRequest } from '../../../proto/index.js';
import type { OptimisticEngine } from '../../kv/optimistic-engine.js';
import { OPEN_BATCH_MAX } from '../constants.js';
import { codeOf, createNamespaceFixture, fsApi, p } from '../testing/fixtures.js';

const create = (path: string, requestId: number, extra: Partial<OpenRequest> = {}) =>
  OpenRequest.fromPartial({
    at: p(path),
    create: true,
    exclusive: true,
    mode: 0o640,
    tag: { clientId: 'batch', requestId },
    ...extra,
  });

describe('batch open', () => {
  it('creates every file, and an existing name fails only its own item with EEXIST', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d');
    const existing = (await fs.create('/d/taken')).inode!;
    const { results } = await ns.batchOpen({
      requests: [
        create('/d/a', 1),
        create('/d/taken', 2),
        create('/d/b', 3),
        create('/missing/c', 4),
        create('/d/a', 5),
      ],
    });
    expect(results.map((r) => r.status?.code)).toEqual([
      ErrorCode.OK,
      ErrorCode.EXISTS,
      ErrorCode.OK,
      ErrorCode.NOT_FOUND,
      ErrorCode.EXISTS,
    ]);
    expect(results[1]?.status?.message).toMatch(/taken.*already exists/);
    expect(results[1]?.response).toBeUndefined();
    expect(results[0]?.response).toMatchObject({ created: true, inode: { type: InodeType.FILE, mode: 0o640 } });
    expect(await fs.stat('/d/a')).toEqual(results[0]?.response?.inode);
    expect(await fs.stat('/d/b')).toEqual(results[2]?.response?.inode);
    expect((await fs.stat('/d/taken')).ino).toBe(existing.ino);
    expect((await fs.ls('/d')).sort()).toEqual(['a', 'b', 'taken']);
    expect((await fs.stat('/d')).size).toBe(3);
  });

  it('answers a retried batch (same tags) with the first outcome of each item, without creating twice', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d');
    await fs.create('/d/x');
    const requests = [create('/d/a', 11), create('/d/x', 12), create('/d/b', 13)];
    const first = await ns.batchOpen({ requests });
    const again = await ns.batchOpen({ requests });
    expect(again).toEqual(first);
    expect(again.results.map((r) => r.status?.code)).toEqual([ErrorCode.OK, ErrorCode.EXISTS, ErrorCode.OK]);
    expect(again.results[0]?.response?.created).toBe(true);
    expect((await fs.stat('/d')).size).toBe(3);
    // Single opens with the same tags replay the same answers.
    expect(await ns.open(requests[0]!)).toEqual(first.results[0]?.response);
    expect(await codeOf(ns.open(requests[1]!))).toBe('EXISTS');
  });

  it('opens existing files without creating, and refuses a bad item on its own', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const file = (await fs.create('/f')).inode!;
    const { results } = await ns.batchOpen({
      requests: [
        OpenRequest.fromPartial({ at: p('/f') }),
        OpenRequest.fromPartial({ create: true }),
        OpenRequest.fromPartial({ at: p('/nope') }),
      ],
    });
    expect(results.map((r) => r.status?.code)).toEqual([ErrorCode.OK, ErrorCode.INVALID_ARGUMENT, ErrorCode.NOT_FOUND]);
    expect(results[0]?.response).toMatchObject({ created: false, inode: { ino: file.ino } });
    expect(results[1]?.status?.message).toMatch(/'at'/);
  });

  it('runs its exclusive creates as one transaction, as if one after another: a name twice is made once', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d');
    await fs.mkdirp('/e');
    await fs.create('/d/warm'); // the process holds a lease of inode ids now
    const engine = kv as OptimisticEngine;
    const before = engine.stats().commits;
    const { results } = await ns.batchOpen({
      requests: [create('/d/a', 21), create('/e/a', 22), create('/d/a', 23), create('/d/b', 24), create('/e/a/x', 25)],
    });
    expect(results.map((r) => r.status?.code)).toEqual([
      ErrorCode.OK,
      ErrorCode.OK,
      ErrorCode.EXISTS,
      ErrorCode.OK,
      ErrorCode.NOT_DIRECTORY,
    ]);
    // One commit for the whole group (successes and the recorded errors alike).
    expect(engine.stats().commits - before).toBe(1);
    expect(await fs.stat('/d/a')).toEqual(results[0]?.response?.inode);
    expect(await fs.stat('/e/a')).toEqual(results[1]?.response?.inode);
    expect((await fs.stat('/d')).size).toBe(3);
    expect((await fs.stat('/e')).size).toBe(1);
    expect((await ns.statFs()).inodes).toBe(1 + 2 + 4);
    // The recorded errors replay: the same tags give the same answers even after the names changed.
    await fs.unlink('/d/a');
    const again = await ns.batchOpen({ requests: [create('/d/a', 23), create('/e/a/x', 25)] });
    expect(again.results.map((r) => r.status?.code)).toEqual([ErrorCode.EXISTS, ErrorCode.NOT_DIRECTORY]);
    expect(await codeOf(fs.stat('/d/a'))).toBe('NOT_FOUND');
  });

  it('mixes grouped creates with plain opens and truncating creates, each answered as alone', async () => {
    const { ns, storage } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const old = (await fs.create('/old')).inode!;
    await fs.sync(old.ino, { lengthHint: 100, wrote: true });
    const { results } = await ns.batchOpen({
      requests: [
        OpenRequest.fromPartial({
          at: p('/old'),
          create: true,
          truncate: true,
          tag: { clientId: 'batch', requestId: 31 },
        }),
        create('/new', 32),
        OpenRequest.fromPartial({ at: p('/old') }),
        OpenRequest.fromPartial({ at: p('/new2'), create: true, tag: { clientId: 'batch', requestId: 33 } }),
      ],
    });
    expect(results.map((r) => r.status?.code)).toEqual([0, 0, 0, 0]);
    expect(results[0]?.response).toMatchObject({ created: false, inode: { ino: old.ino, size: 0 } });
    expect(storage.calls.some((c) => c.op === 'truncateFile' && c.ino === old.ino)).toBe(true);
    expect(results[1]?.response?.created).toBe(true);
    expect(results[3]?.response?.created).toBe(true);
    expect((await fs.ls('/')).sort()).toEqual(['new', 'new2', 'old']);
  });

  it(`refuses more than OPEN_BATCH_MAX (${OPEN_BATCH_MAX}) opens in one call, creating nothing`, async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const requests = Array.from({ length: OPEN_BATCH_MAX + 1 }, (_, i) => create(`/f${i}`, i + 1));
    expect(await codeOf(ns.batchOpen({ requests }))).toBe('INVALID_ARGUMENT');
    expect(await fs.ls('/')).toEqual([]);
  });
});
