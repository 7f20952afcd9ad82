// MetaRpc against a fake Meta service over real gRPC: idempotency tags are reused by retries,
// fresh per logical request, and non-retryable errors surface at once with their POSIX code.
import type { Server } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientConfig, type MetaConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { toGrpcError } from '../common/grpc-errors.js';
import { silentLogger } from '../common/logger.js';
import { serviceImplementation, startGrpcServer, stopGrpcServer } from '../common/rpc.js';
import { createNamespaceFixture, fsApi, type NamespaceFixture } from '../meta/namespace/testing/fixtures.js';
import { createMetaServiceImplementation } from '../meta/service/meta-service.js';
import {
  InodeType,
  MetaService,
  type Inode,
  type MkdirsRequest,
  type RequestTag,
  type StatRequest,
} from '../proto/index.js';
import { Coalescer, MetaRpc } from './meta-rpc.js';

const inode = (ino: number): Inode => ({
  ino,
  type: InodeType.DIRECTORY,
  mode: 0o755,
  uid: 0,
  gid: 0,
  size: 0,
  nlink: 2,
  atimeUs: 0,
  mtimeUs: 0,
  ctimeUs: 0,
  layout: undefined,
  symlinkTarget: '',
  truncateVersion: 0,
  parentIno: 1,
});

describe('MetaRpc', () => {
  let server: Server;
  let meta: MetaRpc;
  let tags: RequestTag[];
  let failures: ErrorCode[];

  beforeEach(async () => {
    tags = [];
    failures = [];
    const notUsed = async () => {
      throw new SpindleError(ErrorCode.INTERNAL, 'not used');
    };
    const implementation = serviceImplementation({
      open: notUsed,
      mkdirs: async (request: MkdirsRequest) => {
        tags.push(request.tag!);
        const failure = failures.shift();
        if (failure !== undefined) throw new SpindleError(failure, 'injected');
        return { inode: inode(7) };
      },
      stat: async (request: StatRequest) => {
        if (request.at?.path === '/missing')
          throw new SpindleError(ErrorCode.NOT_FOUND, 'Stat: "/missing" does not exist');
        return { inode: inode(1) };
      },
      batchStat: notUsed,
      readDir: notUsed,
      rename: notUsed,
      remove: notUsed,
      symlink: notUsed,
      readLink: notUsed,
      hardLink: notUsed,
      truncate: notUsed,
      setAttr: notUsed,
      setLayout: notUsed,
      statFs: notUsed,
      sync: notUsed,
    });
    const started = await startGrpcServer([{ definition: MetaService, implementation }], '127.0.0.1', 0);
    server = started.server;
    meta = new MetaRpc({
      address: started.address,
      clientId: 'client-a',
      config: clientConfig('test', { retryBackoffInitialMs: 1, retryBackoffMaxMs: 5 }),
    });
  });

  afterEach(async () => {
    meta.close();
    await stopGrpcServer(server, 100);
  });

  const mkdirs = () => meta.mkdirs({ at: { parentIno: 1, path: '/d' }, mode: 0o755, recursive: true, uid: 0, gid: 0 });

  it('retries after UNAVAILABLE and TIMEOUT with the same tag', async () => {
    failures.push(ErrorCode.RPC_UNAVAILABLE, ErrorCode.TIMEOUT);
    const response = await mkdirs();
    expect(response.inode?.ino).toBe(7);
    expect(tags).toHaveLength(3);
    expect(tags[0]!.clientId).toBe('client-a');
    expect(tags[1]).toEqual(tags[0]);
    expect(tags[2]).toEqual(tags[0]);
  });

  it('gives each logical request its own tag', async () => {
    await mkdirs();
    await mkdirs();
    expect(tags[1]!.requestId).toBeGreaterThan(tags[0]!.requestId);
  });

  it('surfaces non-retryable errors at once with their POSIX code', async () => {
    failures.push(ErrorCode.EXISTS);
    await expect(mkdirs()).rejects.toMatchObject({ code: 'EEXIST', errorCode: ErrorCode.EXISTS });
    expect(tags).toHaveLength(1);
    await expect(meta.stat({ at: { parentIno: 1, path: '/missing' }, followSymlink: true })).rejects.toMatchObject({
      code: 'ENOENT',
      message: expect.stringContaining('does not exist'),
    });
  });

  it('fails calls after close with CLIENT_CLOSED', async () => {
    meta.close();
    await expect(mkdirs()).rejects.toMatchObject({ errorCode: ErrorCode.CLIENT_CLOSED });
  });
});

describe('MetaRpc coalescing against the real Meta service', () => {
  let fixture: NamespaceFixture;
  let server: Server;
  let meta: MetaRpc;
  /** RPCs meta received, by method. */
  let calls: Record<string, number>;
  /** Throw RPC_UNAVAILABLE after applying the next call of this batch method (its answer is lost). */
  let loseNext: string | undefined;

  async function start(config: Partial<MetaConfig> = {}): Promise<void> {
    fixture = await createNamespaceFixture({ config });
    calls = {};
    loseNext = undefined;
    const real = createMetaServiceImplementation(fixture.ns, silentLogger()) as Record<
      string,
      (call: any, callback: any) => void
    >;
    const counted: Record<string, (call: any, callback: any) => void> = {};
    for (const [name, handler] of Object.entries(real)) {
      counted[name] = (call, callback) => {
        calls[name] = (calls[name] ?? 0) + 1;
        if (name === loseNext) {
          loseNext = undefined;
          handler(call, () => callback(toGrpcError(new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'answer lost'))));
          return;
        }
        handler(call, callback);
      };
    }
    const started = await startGrpcServer([{ definition: MetaService, implementation: counted }], '127.0.0.1', 0);
    server = started.server;
    meta = new MetaRpc({
      address: started.address,
      clientId: 'client-b',
      config: clientConfig('test', { retryBackoffInitialMs: 1, retryBackoffMaxMs: 5 }),
    });
  }

  afterEach(async () => {
    meta?.close();
    if (server) await stopGrpcServer(server, 100);
    await fixture?.kv.close();
  });

  const at = (path: string) => ({ parentIno: 1, path });
  /** The answer of a call, or the typed error it failed with (code name and message). */
  const settle = <T>(promise: Promise<T>) =>
    promise.then(
      (value) => ({ value }),
      (err: unknown) =>
        err instanceof SpindleError ? { error: `${err.codeName}: ${err.message}` } : Promise.reject(err),
    );

  it('answers concurrent stats and lstats via BatchStat exactly as single Stat calls do, errors per item', async () => {
    await start();
    const fs = fsApi(fixture.ns);
    await fs.mkdirp('/d');
    for (let i = 0; i < 10; i++) await fs.create(`/d/f${i}`);
    await fs.symlink('/d/link', 'f3');
    await fs.symlink('/d/dangling', 'nowhere');
    const paths = [...Array.from({ length: 12 }, (_, i) => `/d/f${i}`), '/d/link', '/d/dangling', '/d/f1/x', '/d', '/'];
    const requests = paths.flatMap((path) => [true, false].map((followSymlink) => ({ at: at(path), followSymlink })));
    // Reference answers: one plain Stat each (per-call options keep a call out of batches).
    const single = [];
    for (const request of requests) single.push(await settle(meta.stat(request, { retry: true })));
    expect(calls.batchStat ?? 0).toBe(0);
    const before = calls.stat ?? 0;
    const batched = await Promise.all(requests.map((request) => settle(meta.stat(request))));
    expect(batched).toEqual(single);
    expect(single.filter((r) => 'error' in r).map((r) => (r as { error: string }).error.split(':')[0])).toEqual([
      'NOT_FOUND',
      'NOT_FOUND',
      'NOT_FOUND',
      'NOT_FOUND',
      'NOT_FOUND',
      'NOT_DIRECTORY',
      'NOT_DIRECTORY',
    ]);
    // Far fewer RPCs than calls: the first went alone, the rest rode in batches.
    expect(calls.batchStat).toBeGreaterThan(0);
    expect((calls.stat ?? 0) - before + calls.batchStat!).toBeLessThan(requests.length / 4);
  });

  it('creates concurrently through BatchOpen; an existing name fails only its own call with EEXIST', async () => {
    await start();
    const fs = fsApi(fixture.ns);
    await fs.mkdirp('/d');
    const taken = (await fs.create('/d/f7')).inode!;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        settle(
          meta.open({ at: at(`/d/f${i}`), create: true, exclusive: true, truncate: true, mode: 0o600, uid: 0, gid: 0 }),
        ),
      ),
    );
    expect(calls.batchOpen).toBeGreaterThan(0);
    expect((calls.open ?? 0) + calls.batchOpen!).toBeLessThan(10);
    results.forEach((result, i) => {
      if (i === 7) expect(result).toEqual({ error: 'EXISTS: Open: "/d/f7" already exists' });
      else expect(result).toMatchObject({ value: { created: true, inode: { mode: 0o600 } } });
    });
    expect((await fs.stat('/d/f7')).ino).toBe(taken.ino);
    expect((await fs.ls('/d')).length).toBe(30);
    const inos = results.flatMap((r) => ('value' in r ? [r.value.inode!.ino] : []));
    expect(new Set(inos).size).toBe(29);
    for (let i = 0; i < 30; i++) if (i !== 7) expect((await fs.stat(`/d/f${i}`)).ino).toBe(inos[i < 7 ? i : i - 1]);
  });

  it('retries a BatchOpen whose answer was lost, same tags: opens answered as first applied, none twice', async () => {
    await start();
    const fs = fsApi(fixture.ns);
    await fs.mkdirp('/d');
    await fs.create('/d/f0');
    // The first call goes out alone; the next ones queue behind it and form the batch that is lost.
    loseNext = 'batchOpen';
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        settle(
          meta.open({ at: at(`/d/f${i}`), create: true, exclusive: true, truncate: false, mode: 0, uid: 0, gid: 0 }),
        ),
      ),
    );
    expect(loseNext).toBeUndefined();
    expect(calls.batchOpen).toBeGreaterThanOrEqual(2);
    expect(results[0]).toMatchObject({ error: expect.stringMatching(/^EXISTS/) });
    // Without the tags the retried batch would have answered EEXIST for the files it had created.
    for (const result of results.slice(1)) expect(result).toMatchObject({ value: { created: true } });
    expect((await fs.ls('/d')).length).toBe(12);
    expect((await fs.stat('/d')).size).toBe(12);
  });

  it('renames and removes concurrently through BatchRename/BatchRemove, each error its own call', async () => {
    await start();
    const fs = fsApi(fixture.ns);
    await fs.mkdirp('/d/sub');
    for (let i = 0; i < 20; i++) await fs.create(`/d/f${i}`);
    // f3 is missing, f5's target exists with no_replace, f7 goes over a directory.
    await fixture.ns.remove({ tag: undefined, at: at('/d/f3'), directory: false, recursive: false });
    await fs.create('/d/g5');
    const renames = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        settle(meta.rename({ from: at(`/d/f${i}`), to: at(i === 7 ? '/d/sub' : `/d/g${i}`), noReplace: i === 5 })),
      ),
    );
    expect(calls.batchRename).toBeGreaterThan(0);
    expect((calls.rename ?? 0) + calls.batchRename!).toBeLessThan(8);
    renames.forEach((result, i) => {
      if (i === 3) expect(result).toEqual({ error: 'NOT_FOUND: Rename: "/d/f3" does not exist' });
      else if (i === 5) expect(result).toEqual({ error: 'EXISTS: Rename: "/d/g5" already exists' });
      else if (i === 7) expect(result).toMatchObject({ error: expect.stringMatching(/^IS_DIRECTORY/) });
      else expect(result).toMatchObject({ value: { inode: { ino: expect.any(Number) } } });
    });
    const removes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        settle(meta.remove({ at: at(`/d/g${i}`), directory: false, recursive: false })),
      ),
    );
    expect(calls.batchRemove).toBeGreaterThan(0);
    removes.forEach((result, i) => {
      if (i === 3 || i === 7) expect(result).toMatchObject({ error: expect.stringMatching(/^NOT_FOUND/) });
      else expect(result).toEqual({ value: { removedInodes: 1 } });
    });
    expect((await fs.ls('/d')).sort()).toEqual(['f5', 'f7', 'sub']);
  });

  it('retries a BatchRemove whose answer was lost, same tags: removes answered as first applied', async () => {
    await start();
    const fs = fsApi(fixture.ns);
    for (let i = 0; i < 12; i++) await fs.create(`/f${i}`);
    loseNext = 'batchRemove';
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        settle(meta.remove({ at: at(`/f${i}`), directory: false, recursive: false })),
      ),
    );
    expect(loseNext).toBeUndefined();
    expect(calls.batchRemove).toBeGreaterThanOrEqual(2);
    // Without the tags the retried batch would have answered ENOENT for the files it had removed.
    for (const result of results) expect(result).toEqual({ value: { removedInodes: 1 } });
    expect(await fs.ls('/')).toEqual([]);
  });

  it('falls back to single calls when meta refuses a batch as too large, with the same answers', async () => {
    await start({ batchStatMax: 4 });
    const fs = fsApi(fixture.ns);
    for (let i = 0; i < 6; i++) await fs.create(`/f${i}`);
    const requests = Array.from({ length: 24 }, (_, i) => ({ at: at(`/f${i % 8}`), followSymlink: true }));
    const results = await Promise.all(requests.map((request) => settle(meta.stat(request))));
    results.forEach((result, i) => {
      if (i % 8 < 6) expect(result).toMatchObject({ value: { inode: { type: InodeType.FILE } } });
      else expect(result).toEqual({ error: `NOT_FOUND: "/f${i % 8}" does not exist` });
    });
    // The refused batch's items went one by one.
    expect(calls.batchStat).toBeGreaterThan(0);
    expect(calls.stat).toBeGreaterThan(4);
    // Later batches fit: the coalescer learned a smaller size.
    const again = await Promise.all(requests.map((request) => settle(meta.stat(request))));
    expect(again).toEqual(results);
  });
});

describe('Coalescer', () => {
  const fail = (code: ErrorCode) => ({
    ok: false as const,
    error: new SpindleError(code, `item failed with ${ErrorCode[code]}`),
  });

  it('sends a lone call alone, batches calls made during others, bounds batch size and batches in flight', async () => {
    const sent: Array<number[] | number> = [];
    let inflight = 0;
    let inflightMost = 0;
    const track = async <T>(work: () => T): Promise<T> => {
      inflight++;
      inflightMost = Math.max(inflightMost, inflight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inflight--;
      return work();
    };
    const coalescer = new Coalescer<number, string>({
      single: (item) => (sent.push(item), track(() => `r${item}`)),
      batch: (items) => (
        sent.push(items), track(() => items.map((item) => ({ ok: true as const, value: `r${item}` })))
      ),
      itemsMax: 4,
      inflightMax: 2,
    });
    expect(await coalescer.submit(0)).toBe('r0');
    expect(sent).toEqual([0]);
    await new Promise((resolve) => setImmediate(resolve)); // idle again
    const results = await Promise.all(Array.from({ length: 11 }, (_, i) => coalescer.submit(i + 1)));
    expect(results).toEqual(Array.from({ length: 11 }, (_, i) => `r${i + 1}`));
    // The first went out at once, the rest in batches of at most 4, never more than 2 RPCs at a time.
    expect(sent[1]).toBe(1);
    expect(sent.slice(2).every((batch) => Array.isArray(batch) && batch.length <= 4)).toBe(true);
    expect(
      sent
        .slice(1)
        .flat()
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(inflightMost).toBe(2);
  });

  it('gives each item its own error, and re-sends an item that failed with a retryable code alone', async () => {
    const singles: number[] = [];
    const coalescer = new Coalescer<number, string>({
      single: async (item) => (singles.push(item), `alone${item}`),
      batch: async (items) =>
        items.map((item) =>
          item === 2
            ? fail(ErrorCode.NOT_FOUND)
            : item === 3
              ? fail(ErrorCode.TXN_CONFLICT)
              : { ok: true as const, value: `r${item}` },
        ),
    });
    const outcomes = await Promise.all(
      [0, 1, 2, 3, 4].map((item) => coalescer.submit(item).catch((err: SpindleError) => err.codeName)),
    );
    // 0 went alone (nothing was in flight); 1..4 rode in one batch, where 3 conflicted and was re-sent alone.
    expect(outcomes).toEqual(['alone0', 'r1', 'NOT_FOUND', 'alone3', 'r4']);
    expect(singles).toEqual([0, 3]);
  });

  it("fails every item of a failed batch; a refused batch's items go alone and later batches are smaller", async () => {
    let refuse = true;
    let batches = 0;
    const coalescer = new Coalescer<number, number>({
      single: async (item) => item * 10,
      batch: async (items) => {
        batches++;
        if (refuse) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'too many');
        return items.map((item) => ({ ok: true as const, value: item }));
      },
      itemsMax: 8,
    });
    expect(await Promise.all(Array.from({ length: 7 }, (_, i) => coalescer.submit(i)))).toEqual([
      0, 10, 20, 30, 40, 50, 60,
    ]);
    expect(batches).toBe(1);
    expect(coalescer.batchItemsMax).toBe(3);
    refuse = false;
    const down = new Coalescer<number, number>({
      single: async () => {
        throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'down');
      },
      batch: async () => {
        throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'down');
      },
    });
    const failed = await Promise.all(
      [1, 2, 3].map((item) => down.submit(item).catch((err: SpindleError) => err.codeName)),
    );
    expect(failed).toEqual(['RPC_UNAVAILABLE', 'RPC_UNAVAILABLE', 'RPC_UNAVAILABLE']);
  });
});
