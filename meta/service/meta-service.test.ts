import { Client, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILE_SIZE_MAX_BYTES, ROOT_INO } from '../../common/constants.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { callUnary, CHANNEL_OPTIONS, startGrpcServer, stopGrpcServer } from '../../common/rpc.js';
import {
  InodeType,
  MetaClient,
  MetaService,
  MkdirsRequest,
  OpenRequest,
  RemoveRequest,
  RenameRequest,
  SetAttrRequest,
  SyncRequest,
  TruncateRequest,
} from '../../proto/index.js';
import { createNamespaceFixture, dumpStore, p, type NamespaceFixture } from '../namespace/testing/fixtures.js';
import { createMetaServiceImplementation } from './meta-service.js';
import { unpackDirEntries } from '../../common/packed-dir-entries.js';

let fixture: NamespaceFixture;
let server: Awaited<ReturnType<typeof startGrpcServer>>;
let client: MetaClient;

beforeAll(async () => {
  fixture = await createNamespaceFixture();
  server = await startGrpcServer(
    [{ definition: MetaService, implementation: createMetaServiceImplementation(fixture.ns, silentLogger()) }],
    '127.0.0.1',
    0,
  );
  client = new MetaClient(server.address, credentials.createInsecure(), CHANNEL_OPTIONS);
});

afterAll(async () => {
  client?.close();
  if (server) await stopGrpcServer(server.server, 100);
  await fixture?.kv.close();
});

async function errorOf(promise: Promise<unknown>): Promise<SpindleError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SpindleError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('Meta gRPC service', () => {
  it('serves every RPC over the wire', async () => {
    const dir = await callUnary(
      client,
      client.mkdirs,
      MkdirsRequest.fromPartial({ at: p('/svc/a'), recursive: true, mode: 0o750 }),
      'meta.Mkdirs',
    );
    expect(dir.inode).toMatchObject({ type: InodeType.DIRECTORY, mode: 0o750 });
    const opened = await callUnary(
      client,
      client.open,
      OpenRequest.fromPartial({ at: p('/svc/a/f'), create: true, tag: { clientId: 'svc', requestId: 1 } }),
      'meta.Open',
    );
    expect(opened.created).toBe(true);
    const ino = opened.inode!.ino;
    const retried = await callUnary(
      client,
      client.open,
      OpenRequest.fromPartial({ at: p('/svc/a/f'), create: true, tag: { clientId: 'svc', requestId: 1 } }),
      'meta.Open',
    );
    expect(retried).toEqual(opened);
    const stat = await callUnary(client, client.stat, { at: p('/svc/a/f'), followSymlink: true }, 'meta.Stat');
    expect(stat.inode?.ino).toBe(ino);
    const batch = await callUnary(
      client,
      client.batchStat,
      { paths: [p('/svc/a/f'), p('/nope')], inos: [ROOT_INO] },
      'meta.BatchStat',
    );
    expect(batch.results.map((r) => r.status?.code)).toEqual([0, ErrorCode.NOT_FOUND, 0]);
    const lbatch = await callUnary(
      client,
      client.batchStat,
      { paths: [p('/svc/a/f')], inos: [], noFollow: true },
      'meta.BatchStat',
    );
    expect(lbatch.results[0]?.inode?.ino).toBe(ino);
    const opens = await callUnary(
      client,
      client.batchOpen,
      {
        requests: [
          OpenRequest.fromPartial({
            at: p('/svc/a/f'),
            create: true,
            exclusive: true,
            tag: { clientId: 'svc', requestId: 2 },
          }),
          OpenRequest.fromPartial({
            at: p('/svc/a/tmp'),
            create: true,
            exclusive: true,
            tag: { clientId: 'svc', requestId: 3 },
          }),
        ],
      },
      'meta.BatchOpen',
    );
    expect(opens.results.map((r) => r.status?.code)).toEqual([ErrorCode.EXISTS, 0]);
    expect(opens.results[1]?.response?.created).toBe(true);
    await callUnary(client, client.remove, RemoveRequest.fromPartial({ at: p('/svc/a/tmp') }), 'meta.Remove');
    const synced = await callUnary(
      client,
      client.sync,
      SyncRequest.fromPartial({ ino, lengthHint: 4096, wrote: true }),
      'meta.Sync',
    );
    expect(synced.inode?.size).toBe(4096);
    const truncated = await callUnary(
      client,
      client.truncate,
      TruncateRequest.fromPartial({ at: p('/svc/a/f'), length: 10 }),
      'meta.Truncate',
    );
    expect(truncated.inode).toMatchObject({ size: 10, truncateVersion: 1 });
    const attr = await callUnary(
      client,
      client.setAttr,
      SetAttrRequest.fromPartial({ at: p('/svc/a/f'), mode: 0o640 }),
      'meta.SetAttr',
    );
    expect(attr.inode?.mode).toBe(0o640);
    const link = await callUnary(
      client,
      client.symlink,
      { at: p('/svc/l'), target: 'a/f', uid: 0, gid: 0 },
      'meta.Symlink',
    );
    expect(link.inode?.type).toBe(InodeType.SYMLINK);
    expect(
      await callUnary(client, client.readLink, { at: p('/svc/l'), followSymlink: false }, 'meta.ReadLink'),
    ).toEqual({ target: 'a/f' });
    const hard = await callUnary(
      client,
      client.hardLink,
      { existing: p('/svc/a/f'), link: p('/svc/h') },
      'meta.HardLink',
    );
    expect(hard.inode?.nlink).toBe(2);
    const layout = await callUnary(
      client,
      client.setLayout,
      { at: p('/svc/a'), chunkSizeBytes: 1 << 20, stripeWidth: 2, chainTableId: 0 },
      'meta.SetLayout',
    );
    expect(layout.inode?.layout).toMatchObject({ chunkSizeBytes: 1 << 20, stripeWidth: 2 });
    const listing = await callUnary(
      client,
      client.readDir,
      { at: p('/svc'), afterName: '', limit: 10, withAttributes: true },
      'meta.ReadDir',
    );
    expect(unpackDirEntries(listing).map((e) => e.name)).toEqual(['a', 'h', 'l']);
    expect(listing.attributes.map((inode) => inode.ino)).toEqual(unpackDirEntries(listing).map((e) => e.ino));
    const moved = await callUnary(
      client,
      client.rename,
      RenameRequest.fromPartial({ from: p('/svc/h'), to: p('/svc/a/g') }),
      'meta.Rename',
    );
    expect(moved.inode?.ino).toBe(ino);
    const removed = await callUnary(
      client,
      client.remove,
      RemoveRequest.fromPartial({ at: p('/svc'), directory: true, recursive: true }),
      'meta.Remove',
    );
    expect(removed.removedInodes).toBe(4);
    const fsStat = await callUnary(client, client.statFs, {}, 'meta.StatFs');
    expect(fsStat).toMatchObject({ capacityBytes: fixture.cluster.capacityValue.capacityBytes, inodes: 1 });
  });

  it('maps namespace errors to typed errors with POSIX codes', async () => {
    const err = await errorOf(callUnary(client, client.stat, { at: p('/missing'), followSymlink: false }, 'meta.Stat'));
    expect(err).toMatchObject({ errorCode: ErrorCode.NOT_FOUND, code: 'ENOENT', retryable: false });
    expect(err.message).toMatch(/missing/);
  });

  it('refuses malformed requests with INVALID_ARGUMENT naming the field, changing nothing', async () => {
    await callUnary(client, client.mkdirs, MkdirsRequest.fromPartial({ at: p('/m') }), 'meta.Mkdirs');
    const before = await dumpStore(fixture.kv);
    const cases: Array<[string, () => Promise<unknown>, ErrorCode, RegExp]> = [
      [
        'open without at',
        () => callUnary(client, client.open, OpenRequest.fromPartial({ create: true }), 'meta.Open'),
        ErrorCode.INVALID_ARGUMENT,
        /'at'/,
      ],
      [
        'rename without to',
        () => callUnary(client, client.rename, RenameRequest.fromPartial({ from: p('/m') }), 'meta.Rename'),
        ErrorCode.INVALID_ARGUMENT,
        /'to'/,
      ],
      [
        'hard link without link',
        () => callUnary(client, client.hardLink, { existing: p('/m') }, 'meta.HardLink'),
        ErrorCode.INVALID_ARGUMENT,
        /'link'/,
      ],
      [
        'stat without at',
        () => callUnary(client, client.stat, { followSymlink: false }, 'meta.Stat'),
        ErrorCode.INVALID_ARGUMENT,
        /'at'/,
      ],
      [
        'truncate past the largest file',
        () =>
          callUnary(
            client,
            client.truncate,
            TruncateRequest.fromPartial({ at: p('/m'), length: FILE_SIZE_MAX_BYTES * 2 }),
            'meta.Truncate',
          ),
        ErrorCode.INVALID_ARGUMENT,
        /length/,
      ],
      [
        'sync of inode 0',
        () => callUnary(client, client.sync, SyncRequest.fromPartial({ ino: 0 }), 'meta.Sync'),
        ErrorCode.INVALID_ARGUMENT,
        /ino/,
      ],
      [
        'sync with a huge hint',
        () =>
          callUnary(
            client,
            client.sync,
            SyncRequest.fromPartial({ ino: ROOT_INO, lengthHint: FILE_SIZE_MAX_BYTES + 1 }),
            'meta.Sync',
          ),
        ErrorCode.INVALID_ARGUMENT,
        /length_hint/,
      ],
      // A uint64 beyond 2^53 cannot become a JS number: refused as INVALID_ARGUMENT naming the limit.
      [
        'sync with a hint beyond 2^53',
        () =>
          callUnary(client, client.sync, SyncRequest.fromPartial({ ino: ROOT_INO, lengthHint: 2 ** 60 }), 'meta.Sync'),
        ErrorCode.INVALID_ARGUMENT,
        /above 2\^53 - 1/,
      ],
      [
        'mode out of range',
        () =>
          callUnary(client, client.mkdirs, MkdirsRequest.fromPartial({ at: p('/m2'), mode: 0o170000 }), 'meta.Mkdirs'),
        ErrorCode.INVALID_ARGUMENT,
        /mode/,
      ],
      [
        'name with NUL',
        () => callUnary(client, client.mkdirs, MkdirsRequest.fromPartial({ at: p('/m/a\0b') }), 'meta.Mkdirs'),
        ErrorCode.INVALID_NAME,
        /NUL/,
      ],
      [
        'over-long name',
        () =>
          callUnary(
            client,
            client.open,
            OpenRequest.fromPartial({ at: p(`/m/${'x'.repeat(256)}`), create: true }),
            'meta.Open',
          ),
        ErrorCode.NAME_TOO_LONG,
        /255/,
      ],
      [
        'empty symlink target',
        () => callUnary(client, client.symlink, { at: p('/m/l'), target: '', uid: 0, gid: 0 }, 'meta.Symlink'),
        ErrorCode.INVALID_ARGUMENT,
        /target/,
      ],
      [
        'remove without at',
        () => callUnary(client, client.remove, RemoveRequest.fromPartial({}), 'meta.Remove'),
        ErrorCode.INVALID_ARGUMENT,
        /'at'/,
      ],
    ];
    for (const [what, call, code, message] of cases) {
      const err = await errorOf(call());
      expect(`${what}: ${err.codeName}`).toBe(`${what}: ${ErrorCode[code]}`);
      expect(err.message).toMatch(message);
    }
    expect(await dumpStore(fixture.kv)).toEqual(before);
  });

  it('answers undecodable bytes with an error and changes nothing', async () => {
    const before = await dumpStore(fixture.kv);
    const raw = new Client(server.address, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError>((resolve, reject) => {
        raw.makeUnaryRequest(
          '/spindle.Meta/Mkdirs',
          (value: Buffer) => value,
          (value: Buffer) => value,
          // Field 2 (at) claims 100 bytes but the message ends: not a valid protobuf.
          Buffer.from([0x12, 0x64, 0x0a]),
          (error, value) => (error ? resolve(error) : reject(new Error(`unexpected success ${String(value)}`))),
        );
      });
      expect([GrpcStatus.INTERNAL, GrpcStatus.INVALID_ARGUMENT]).toContain(err.code);
    } finally {
      raw.close();
    }
    expect(await dumpStore(fixture.kv)).toEqual(before);
  });
});
