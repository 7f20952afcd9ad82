import { describe, expect, it } from 'vitest';
import { CLIENT_ID_MAX_BYTES } from '../../common/constants.js';
import { ErrorCode } from '../../common/errors.js';
import { InodeType } from '../../proto/index.js';
import { listGcQueue } from './gc-queue.js';
import { codeOf, createNamespaceFixture, dumpStore, fsApi } from './testing/fixtures.js';

describe('idempotent retries', () => {
  it('a retried create returns the first result instead of EEXIST', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const tag = { clientId: 'client-a', requestId: 1 };
    const first = await fs.create('/f', { exclusive: true, tag });
    expect(first.created).toBe(true);
    const retry = await fs.create('/f', { exclusive: true, tag });
    expect(retry).toEqual(first);
    // A new request id is a new request.
    expect(await codeOf(fs.create('/f', { exclusive: true, tag: { ...tag, requestId: 2 } }))).toBe('EXISTS');
    // Another client with the same request id is another request.
    expect(await codeOf(fs.create('/f', { exclusive: true, tag: { clientId: 'client-b', requestId: 1 } }))).toBe(
      'EXISTS',
    );
  });

  it('a retried rename and remove do not apply twice', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.create('/a');
    await fs.create('/c');
    const renameTag = { clientId: 'x', requestId: 10 };
    const first = await fs.rename('/a', '/b', { tag: renameTag });
    // Someone creates /a again; the retry must not move it.
    await fs.create('/a');
    expect(await fs.rename('/a', '/b', { tag: renameTag })).toEqual(first);
    expect(await fs.ls('/')).toEqual(['a', 'b', 'c']);

    const removeTag = { clientId: 'x', requestId: 11 };
    expect(await fs.unlink('/c', { tag: removeTag })).toEqual({ removedInodes: 1 });
    await fs.create('/c');
    expect(await fs.unlink('/c', { tag: removeTag })).toEqual({ removedInodes: 1 });
    expect(await fs.ls('/')).toEqual(['a', 'b', 'c']);
    expect(await listGcQueue(kv, 10)).toHaveLength(1);
  });

  it('a retried mkdir and hard link return the first result', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const tag = { clientId: 'y', requestId: 1 };
    const dir = await fs.mkdir('/d', { tag });
    expect(await fs.mkdir('/d', { tag })).toEqual(dir);
    await fs.create('/f');
    const linkTag = { clientId: 'y', requestId: 2 };
    const linked = await fs.link('/f', '/g', { tag: linkTag });
    expect(await fs.link('/f', '/g', { tag: linkTag })).toEqual(linked);
    expect((await fs.stat('/f')).nlink).toBe(2);
  });

  it('a final error is recorded: the retry gets the same error even after the cause went away', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdirp('/d/sub');
    const tag = { clientId: 'z', requestId: 5 };
    expect(await codeOf(fs.unlink('/d', { directory: true, tag }))).toBe('NOT_EMPTY');
    await fs.rmdir('/d/sub');
    await expect(fs.unlink('/d', { directory: true, tag })).rejects.toMatchObject({ errorCode: ErrorCode.NOT_EMPTY });
    expect(await fs.ls('/')).toEqual(['d']);
  });

  it('a retryable error is not recorded: the retry runs again', async () => {
    const { ns, cluster } = await createNamespaceFixture({ chains: 0 });
    const fs = fsApi(ns);
    const tag = { clientId: 'w', requestId: 1 };
    expect(await codeOf(fs.create('/f', { tag }))).toBe('ROUTING_NOT_READY');
    cluster.addTable(1, 4);
    expect((await fs.create('/f', { tag })).created).toBe(true);
  });

  it('refuses a tag reused for a different request', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const tag = { clientId: 'v', requestId: 1 };
    await fs.mkdir('/d', { tag });
    const before = await dumpStore(kv);
    expect(await codeOf(fs.mkdir('/e', { tag }))).toBe('DUPLICATE_REQUEST_MISMATCH');
    expect(await codeOf(fs.create('/d2', { tag }))).toBe('DUPLICATE_REQUEST_MISMATCH');
    expect(await dumpStore(kv)).toEqual(before);
  });

  it('refuses an over-long client id before any change', async () => {
    const { ns, kv } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const before = await dumpStore(kv);
    const tag = { clientId: 'c'.repeat(CLIENT_ID_MAX_BYTES + 1), requestId: 1 };
    expect(await codeOf(fs.mkdir('/d', { tag }))).toBe('INVALID_ARGUMENT');
    expect(await dumpStore(kv)).toEqual(before);
    expect(
      (await fs.mkdir('/d', { tag: { clientId: 'c'.repeat(CLIENT_ID_MAX_BYTES), requestId: 1 } })).ino,
    ).toBeGreaterThan(0);
  });

  it('records expire after the TTL through the sweep', async () => {
    const { ns, clock, config } = await createNamespaceFixture();
    const fs = fsApi(ns);
    const tag = { clientId: 'u', requestId: 1 };
    await fs.create('/f', { exclusive: true, tag });
    clock.advance(config.idempotencyTtlMs / 2);
    await fs.create('/g', { exclusive: true, tag: { ...tag, requestId: 2 } });
    expect(await ns.sweepIdempotency()).toBe(0);
    clock.advance(config.idempotencyTtlMs / 2 + 1);
    expect(await ns.sweepIdempotency()).toBe(1);
    // The first record is gone: the same tag now runs again (and fails, since /f exists).
    expect(await codeOf(fs.create('/f', { exclusive: true, tag }))).toBe('EXISTS');
    // The second is still there.
    expect((await fs.create('/g', { exclusive: true, tag: { ...tag, requestId: 2 } })).created).toBe(true);
  });
});

describe('concurrency', () => {
  it('O_CREAT|O_EXCL race: exactly one of many concurrent creators wins', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/race');
    const attempts = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        fs.create('/race/lock', { exclusive: true, uid: i, tag: { clientId: `c${i}`, requestId: 1 } }),
      ),
    );
    const won = attempts.filter((a) => a.status === 'fulfilled');
    const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.map((a) => (a.reason as { errorCode: number }).errorCode)).toEqual(Array(19).fill(ErrorCode.EXISTS));
    const winner = (won[0] as PromiseFulfilledResult<{ inode?: { uid: number; ino: number } }>).value.inode!;
    expect(await fs.stat('/race/lock')).toMatchObject({ ino: winner.ino, uid: winner.uid });
    expect((await fs.stat('/race')).size).toBe(1);
  });

  it('concurrent creates of different names in one directory all succeed with distinct inodes', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.mkdir('/d');
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => fs.create(`/d/f${i}`)));
    const inos = new Set(results.map((r) => r.inode!.ino));
    expect(inos.size).toBe(30);
    expect((await fs.ls('/d')).length).toBe(30);
    expect((await fs.stat('/d')).size).toBe(30);
    expect(await ns.statFs()).toMatchObject({ inodes: 32 });
  });

  it('concurrent mkdir -p of overlapping paths converge on one tree', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await Promise.all([fs.mkdirp('/a/b/c'), fs.mkdirp('/a/b/d'), fs.mkdirp('/a/b/c'), fs.mkdirp('/a/e')]);
    expect(await fs.ls('/a')).toEqual(['b', 'e']);
    expect(await fs.ls('/a/b')).toEqual(['c', 'd']);
    expect(await fs.stat('/a')).toMatchObject({ nlink: 4, size: 2, type: InodeType.DIRECTORY });
  });

  it('concurrent renames of one file: one wins, the other finds it gone', async () => {
    const { ns } = await createNamespaceFixture();
    const fs = fsApi(ns);
    await fs.create('/f');
    const results = await Promise.allSettled([fs.rename('/f', '/x'), fs.rename('/f', '/y')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await fs.ls('/')).length).toBe(1);
  });

  it('inode ids never repeat across namespaces sharing one store (as after a restart)', async () => {
    const fixture = await createNamespaceFixture();
    const fs = fsApi(fixture.ns);
    const a = (await fs.create('/a')).inode!.ino;
    const { Namespace } = await import('./namespace.js');
    const { silentLogger } = await import('../../common/logger.js');
    const { createRng } = await import('../../common/clock.js');
    const second = new Namespace({
      kv: fixture.kv,
      clock: fixture.clock,
      rng: createRng(99),
      cluster: fixture.cluster,
      storage: fixture.storage,
      config: fixture.config,
      logger: silentLogger(),
    });
    await second.init();
    const b = (await fsApi(second).create('/b')).inode!.ino;
    const c = (await fs.create('/c')).inode!.ino;
    expect(new Set([a, b, c]).size).toBe(3);
    expect(b).toBeGreaterThan(a);
  });
});
