// BatchOpen: each item behaves exactly as its own Open — its own status, its own idempotency tag
// (a retried batch replays the applied items), nothing changed by a failed item.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../common/errors.js';
import { InodeType, OpenRequest } from '../../../proto/index.js';
import { OPEN_BATCH_MAX } from '../constants.js';
import { codeOf, createNamespaceFixture, fsApi, p } from '../test-fixtures.js';

const create = (path: string, requestId: number, extra: Partial<OpenRequest> = {}) =>
  OpenRequest.fromPartial({ at: p(path), create: true, exclusive: true, mode: 0o640, tag: { clientId: 'batch', requestId }, ...extra });

describe('batch open', () => {
  it('creates every file, and an existing name fails only its own item with EEXIST', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d');
    const existing = (await fs.create('/d/taken')).inode!;
    const { results } = await ns.batchOpen({
      requests: [create('/d/a', 1), create('/d/taken', 2), create('/d/b', 3), create('/missing/c', 4), create('/d/a', 5)],
    });
    expect(results.map((r) => r.status?.code)).toEqual([ErrorCode.OK, ErrorCode.EXISTS, ErrorCode.OK, ErrorCode.NOT_FOUND, ErrorCode.EXISTS]);
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
      requests: [OpenRequest.fromPartial({ at: p('/f') }), OpenRequest.fromPartial({ create: true }), OpenRequest.fromPartial({ at: p('/nope') })],
    });
    expect(results.map((r) => r.status?.code)).toEqual([ErrorCode.OK, ErrorCode.INVALID_ARGUMENT, ErrorCode.NOT_FOUND]);
    expect(results[0]?.response).toMatchObject({ created: false, inode: { ino: file.ino } });
    expect(results[1]?.status?.message).toMatch(/'at'/);
  });

  it(`refuses more than OPEN_BATCH_MAX (${OPEN_BATCH_MAX}) opens in one call, creating nothing`, async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const requests = Array.from({ length: OPEN_BATCH_MAX + 1 }, (_, i) => create(`/f${i}`, i + 1));
    expect(await codeOf(ns.batchOpen({ requests }))).toBe('INVALID_ARGUMENT');
    expect(await fs.ls('/')).toEqual([]);
  });
});
