// Bad input gets a clear error and changes nothing (CONTRIBUTING.md, "Errors"): through the client
// (bad names and paths, negative and huge offsets), straight to each gRPC service with valid
// protobuf that means nothing (unknown inodes, chains, chunks; wrong CRCs; out-of-range offsets),
// and with bytes that are not protobuf at all (a generic grpc-js client with identity
// serializers). After each battery the namespace and the file data are exactly as before, and
// every service still answers.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { credentials, makeGenericClientConstructor, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { MetaClient, MgmtClient, UpdateType } from '../../proto/index.js';
import { rolesOf } from '../../common/auth/method-roles.js';
import { useCluster, testChannelOptions } from '../harness/cluster.js';
import { addressOfTarget, dumpFileChunks, routingOf, StorageClients, tableChains } from '../harness/replicas.js';

const cluster = useCluster();
type Client = Awaited<ReturnType<ReturnType<typeof cluster>['client']>>;

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const DATA = randomBytes(200_000);

/** Every entry under '/' with the attributes a change would touch, in a stable order. */
async function snapshot(c: Client): Promise<string[]> {
  const rows: string[] = [];
  const walk = async (dir: string) => {
    const names = (await c.readdir(dir)).sort();
    for (const name of names) {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const s = await c.lstat(path);
      rows.push(
        `${path} ino=${s.ino} mode=${s.mode.toString(8)} nlink=${s.nlink} size=${s.size} ` +
          `mtime=${s.mtimeMs} ctime=${s.ctimeMs}`,
      );
      if (s.isDirectory()) await walk(path);
      else if (s.isFile()) rows.push(`${path} sha=${sha256(await c.readFile(path))}`);
    }
  };
  await walk('/');
  return rows;
}

async function errorOf(promise: Promise<unknown>): Promise<{ code?: string; message: string } | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return { code: (err as { code?: string }).code, message: String((err as Error).message ?? err) };
  }
}

let client: Client;
let before: string[];

beforeAll(async () => {
  client = await cluster().client();
  await client.mkdir('/keep/sub', { recursive: true });
  await client.writeFile('/keep/data.bin', DATA);
  await client.writeFile('/keep/sub/small', 'small');
  before = await snapshot(client);
}, 120_000);

describe('bad input through the client', () => {
  it('bad names and paths are refused with EINVAL / ENAMETOOLONG / ENOENT and change nothing', async () => {
    const longName = 'n'.repeat(256);
    const longPath = `/${Array.from({ length: 40 }, () => 'p'.repeat(120)).join('/')}`;
    const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
      ['NUL in a name', () => client.writeFile('/keep/a\0b', 'x'), /^EINVAL$/],
      ['NUL in mkdir', () => client.mkdir('/keep/x\0', { recursive: true }), /^EINVAL$/],
      ["'/' cannot smuggle a name: missing parent", () => client.writeFile('/keep/nodir/name', 'x'), /^ENOENT$/],
      ["'.' component", () => client.writeFile('/keep/./x', 'x'), /^EINVAL$/],
      ["'..' component", () => client.writeFile('/keep/../x', 'x'), /^EINVAL$/],
      ["mkdir '..'", () => client.mkdir('/keep/..'), /^(EINVAL|EEXIST)$/],
      ['empty path', () => client.writeFile('', 'x'), /^(EINVAL|ENOENT)$/],
      ['empty path stat', () => client.stat(''), /^(EINVAL|ENOENT)$/],
      ['256-byte name', () => client.writeFile(`/keep/${longName}`, 'x'), /^ENAMETOOLONG$/],
      ['256-byte name mkdir', () => client.mkdir(`/keep/${longName}`), /^ENAMETOOLONG$/],
      ['4 KiB+ path', () => client.mkdir(longPath, { recursive: true }), /^ENAMETOOLONG$/],
      ['rename to a bad name', () => client.rename('/keep/sub/small', '/keep/sub/bad\0'), /^EINVAL$/],
      [
        "rename to '..'",
        () => client.rename('/keep/sub/small', '/keep/sub/..'),
        /^(EINVAL|EEXIST|EISDIR|ENOTEMPTY|EBUSY)$/,
      ],
      ['symlink with a bad name', () => client.symlink('/keep/data.bin', `/keep/${longName}`), /^ENAMETOOLONG$/],
      ['link to a bad name', () => client.link('/keep/data.bin', '/keep/l\0'), /^EINVAL$/],
      ['stat of a missing file', () => client.stat('/keep/missing'), /^ENOENT$/],
      ['remove the root', () => client.rmdir('/'), /^(EBUSY|EPERM|EINVAL|ENOTEMPTY|EISDIR)$/],
    ];
    for (const [what, run, expected] of cases) {
      const err = await errorOf(run());
      expect(err, what).toBeDefined();
      expect(err!.code, `${what}: ${err!.message}`).toMatch(expected);
      expect(err!.message.length, what).toBeGreaterThan(5);
    }
    expect(await snapshot(client)).toEqual(before);
  });

  it('negative, fractional and huge offsets and lengths are refused and change nothing', async () => {
    const handle = await client.open('/keep/data.bin', 'r+');
    try {
      const buffer = Buffer.alloc(16);
      const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
        ['read at -1', () => handle.read(buffer, 0, 16, -1), /^(EINVAL|ERR_OUT_OF_RANGE)$/],
        ['read at 1.5', () => handle.read(buffer, 0, 16, 1.5), /^(EINVAL|ERR_OUT_OF_RANGE)$/],
        ['read past the buffer', () => handle.read(buffer, 8, 16, 0), /^(EINVAL|ERR_OUT_OF_RANGE)$/],
        ['write at -1', () => handle.write(Buffer.from('x'), 0, 1, -1), /^(EINVAL|ERR_OUT_OF_RANGE)$/],
        ['write at 2^53', () => handle.write(Buffer.from('x'), 0, 1, 2 ** 53), /^(EINVAL|EFBIG|ERR_OUT_OF_RANGE)$/],
        [
          'write at 2^60 as a number',
          () => handle.write(Buffer.from('x'), 0, 1, 2 ** 60),
          /^(EINVAL|EFBIG|ERR_OUT_OF_RANGE)$/,
        ],
        ['truncate to -1', () => handle.truncate(-1), /^(EINVAL|ERR_OUT_OF_RANGE)$/],
        ['truncate to 2^60', () => handle.truncate(2 ** 60), /^(EINVAL|EFBIG|ERR_OUT_OF_RANGE)$/],
        ['path truncate to -5', () => client.truncate('/keep/data.bin', -5), /^(EINVAL|ERR_OUT_OF_RANGE)$/],
      ];
      for (const [what, run, expected] of cases) {
        const err = await errorOf(run());
        expect(err, what).toBeDefined();
        expect(err!.code, `${what}: ${err!.message}`).toMatch(expected);
      }
      const back = Buffer.alloc(DATA.length);
      expect((await handle.read(back, 0, DATA.length, 0)).bytesRead).toBe(DATA.length);
      expect(back.equals(DATA)).toBe(true);
    } finally {
      await handle.close();
    }
    expect(await snapshot(client)).toEqual(before);
  });
});

describe('bad input straight to the services', () => {
  it('Meta: unknown inodes and bad paths in valid requests', async () => {
    const meta = new MetaClient(cluster().metaAddress, insecureChannel(), testChannelOptions(cluster().metaAddress));
    const tag = () => ({ clientId: randomUUID(), requestId: 1 });
    try {
      const calls: Array<[string, () => Promise<unknown>, ErrorCode[]]> = [
        [
          'Stat under an unknown inode',
          () => callUnary(meta, meta.stat, { at: { parentIno: 987_654_321, path: 'x' }, followSymlink: false }, 'Stat'),
          [ErrorCode.NOT_FOUND],
        ],
        [
          'Sync of an unknown inode',
          () =>
            callUnary(
              meta,
              meta.sync,
              { tag: tag(), ino: 987_654_321, lengthHint: 5, truncateVersion: 0, wrote: true, recomputeLength: false },
              'Sync',
            ),
          [ErrorCode.NOT_FOUND],
        ],
        [
          'Open with NUL',
          () =>
            callUnary(
              meta,
              meta.open,
              {
                tag: tag(),
                at: { parentIno: 1, path: '/keep/a\0' },
                create: true,
                exclusive: false,
                truncate: false,
                mode: 0o644,
                uid: 0,
                gid: 0,
              },
              'Open',
            ),
          [ErrorCode.INVALID_NAME, ErrorCode.INVALID_ARGUMENT],
        ],
        [
          'Open with an empty path',
          () =>
            callUnary(
              meta,
              meta.open,
              {
                tag: tag(),
                at: { parentIno: 1, path: '' },
                create: true,
                exclusive: false,
                truncate: false,
                mode: 0o644,
                uid: 0,
                gid: 0,
              },
              'Open',
            ),
          [ErrorCode.INVALID_NAME, ErrorCode.INVALID_ARGUMENT, ErrorCode.IS_DIRECTORY],
        ],
        // '..' may be resolved as a path component, but never becomes an entry name.
        [
          'Mkdirs of a last name ..',
          () =>
            callUnary(
              meta,
              meta.mkdirs,
              { tag: tag(), at: { parentIno: 1, path: '/keep/sub/..' }, mode: 0o755, recursive: false, uid: 0, gid: 0 },
              'Mkdirs',
            ),
          [ErrorCode.INVALID_NAME, ErrorCode.INVALID_ARGUMENT, ErrorCode.EXISTS],
        ],
        [
          'Open-create of a last name .',
          () =>
            callUnary(
              meta,
              meta.open,
              {
                tag: tag(),
                at: { parentIno: 1, path: '/keep/.' },
                create: true,
                exclusive: true,
                truncate: false,
                mode: 0o644,
                uid: 0,
                gid: 0,
              },
              'Open',
            ),
          [ErrorCode.INVALID_NAME, ErrorCode.INVALID_ARGUMENT, ErrorCode.EXISTS, ErrorCode.IS_DIRECTORY],
        ],
        [
          'Symlink named ..',
          () =>
            callUnary(
              meta,
              meta.symlink,
              { tag: tag(), at: { parentIno: 1, path: '/keep/..' }, target: '/x', uid: 0, gid: 0 },
              'Symlink',
            ),
          [ErrorCode.INVALID_NAME, ErrorCode.INVALID_ARGUMENT, ErrorCode.EXISTS],
        ],
        [
          'Open with a 256-byte name',
          () =>
            callUnary(
              meta,
              meta.open,
              {
                tag: tag(),
                at: { parentIno: 1, path: `/keep/${'n'.repeat(256)}` },
                create: true,
                exclusive: false,
                truncate: false,
                mode: 0o644,
                uid: 0,
                gid: 0,
              },
              'Open',
            ),
          [ErrorCode.NAME_TOO_LONG],
        ],
        [
          'Truncate of an unknown inode path',
          () =>
            callUnary(
              meta,
              meta.truncate,
              { tag: tag(), at: { parentIno: 987_654_321, path: '' }, length: 1 },
              'Truncate',
            ),
          [ErrorCode.NOT_FOUND],
        ],
        [
          'Remove without a tag',
          () =>
            callUnary(
              meta,
              meta.remove,
              { at: { parentIno: 1, path: '/keep/sub/small' }, directory: true, recursive: false },
              'Remove',
            ),
          [ErrorCode.INVALID_ARGUMENT, ErrorCode.NOT_DIRECTORY],
        ],
        [
          'Rename of the root',
          () =>
            callUnary(
              meta,
              meta.rename,
              {
                tag: tag(),
                from: { parentIno: 1, path: '/' },
                to: { parentIno: 1, path: '/keep/root' },
                noReplace: false,
              },
              'Rename',
            ),
          [
            ErrorCode.INVALID_ARGUMENT,
            ErrorCode.BUSY,
            ErrorCode.RENAME_INTO_SELF,
            ErrorCode.PERMISSION_DENIED,
            ErrorCode.INVALID_NAME,
          ],
        ],
        [
          'SetLayout with a chunk size that is not a power of two',
          () =>
            callUnary(
              meta,
              meta.setLayout,
              {
                tag: tag(),
                at: { parentIno: 1, path: '/keep' },
                chunkSizeBytes: 100_000,
                stripeWidth: 0,
                chainTableId: 0,
              },
              'SetLayout',
            ),
          [ErrorCode.INVALID_ARGUMENT],
        ],
      ];
      for (const [what, call, codes] of calls) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, what).toBeInstanceOf(SpindleError);
        expect(codes, `${what}: ${(err as SpindleError).codeName} ${(err as Error).message}`).toContain(
          (err as SpindleError).errorCode,
        );
      }
      const batch = await callUnary(
        meta,
        meta.batchStat,
        { paths: [{ parentIno: 1, path: '/keep/nope' }], inos: [987_654_321] },
        'BatchStat',
      );
      expect(batch.results.map((r) => r.status?.code)).toEqual([ErrorCode.NOT_FOUND, ErrorCode.NOT_FOUND]);
      // Batches of bad renames and removes: each item refused on its own, the call itself answered.
      const renames = await callUnary(
        meta,
        meta.batchRename,
        {
          requests: [
            {
              tag: tag(),
              from: { parentIno: 1, path: '/' },
              to: { parentIno: 1, path: '/keep/root' },
              noReplace: false,
            },
            { tag: tag(), from: undefined, to: { parentIno: 1, path: '/keep/x' }, noReplace: false },
            {
              tag: tag(),
              from: { parentIno: 1, path: '/keep/sub' },
              to: { parentIno: 1, path: '/keep/a\0' },
              noReplace: false,
            },
            {
              tag: tag(),
              from: { parentIno: 1, path: '/keep/nope' },
              to: { parentIno: 1, path: '/keep/y' },
              noReplace: false,
            },
          ],
        },
        'BatchRename',
      );
      expect(renames.results.map((r) => ErrorCode[r.status?.code ?? -1])).toEqual([
        'BUSY',
        'INVALID_ARGUMENT',
        'INVALID_NAME',
        'NOT_FOUND',
      ]);
      const removes = await callUnary(
        meta,
        meta.batchRemove,
        {
          requests: [
            { tag: tag(), at: { parentIno: 1, path: '/' }, directory: true, recursive: true },
            { tag: tag(), at: undefined, directory: false, recursive: false },
            { tag: tag(), at: { parentIno: 1, path: '/keep/sub/small' }, directory: true, recursive: false },
            { tag: tag(), at: { parentIno: 1, path: '/keep/sub' }, directory: false, recursive: false },
          ],
        },
        'BatchRemove',
      );
      expect(removes.results.map((r) => ErrorCode[r.status?.code ?? -1])).toEqual([
        'BUSY',
        'INVALID_ARGUMENT',
        'NOT_DIRECTORY',
        'IS_DIRECTORY',
      ]);
    } finally {
      meta.close();
    }
    expect(await snapshot(client)).toEqual(before);
  });

  it('Storage: wrong CRC, out-of-range offsets, unknown chains and chunks; data unchanged', async () => {
    const stat = await client.stat('/keep/data.bin');
    const routing = await routingOf(cluster().metaAddress);
    const chains = tableChains(routing, stat.layout!.chainTableId);
    const storage = new StorageClients();
    try {
      const metaBefore = await dumpFileChunks(storage, routing, stat.ino);
      const chain = chains[0]!;
      const head = storage.get(addressOfTarget(routing, chain.targetIds[0]!).address);
      const chunkSize = stat.layout!.chunkSizeBytes;
      const data = Buffer.from('garbage');
      let seq = 1;
      const write = (overrides: Record<string, unknown>) =>
        callUnary(
          head,
          head.write,
          {
            tag: { clientId: randomUUID(), requestId: seq },
            chainId: chain.chainId,
            chainVersion: chain.chainVersion,
            chunk: { ino: stat.ino, index: 0 },
            type: UpdateType.WRITE,
            offset: 0,
            data,
            dataCrc32c: crc32c(data),
            chunkSizeBytes: chunkSize,
            channelId: 1,
            seqnum: seq++,
            ...overrides,
          },
          'Write',
          { timeoutMs: 10_000 },
        ).then(
          () => undefined,
          (e: unknown) => e as SpindleError,
        );
      const cases: Array<[string, Record<string, unknown>, ErrorCode[]]> = [
        [
          'wrong CRC',
          { dataCrc32c: (crc32c(data) + 1) >>> 0 },
          [ErrorCode.CHECKSUM_MISMATCH, ErrorCode.INVALID_ARGUMENT],
        ],
        ['past the chunk end', { offset: chunkSize - 2 }, [ErrorCode.INVALID_ARGUMENT]],
        ['huge offset', { offset: 2 ** 52 }, [ErrorCode.INVALID_ARGUMENT]],
        ['chunk size 0', { chunkSizeBytes: 0 }, [ErrorCode.INVALID_ARGUMENT]],
        ['chunk size not a power of two', { chunkSizeBytes: 100_000 }, [ErrorCode.INVALID_ARGUMENT]],
        [
          'unknown chain',
          { chainId: 999_999 },
          [ErrorCode.CHAIN_NOT_FOUND, ErrorCode.TARGET_NOT_FOUND, ErrorCode.CHAIN_VERSION_MISMATCH],
        ],
        ['stale chain version', { chainVersion: chain.chainVersion + 7 }, [ErrorCode.CHAIN_VERSION_MISMATCH]],
        ['invalid update type', { type: UpdateType.UPDATE_TYPE_INVALID }, [ErrorCode.INVALID_ARGUMENT]],
        ['REPLACE from a client', { type: UpdateType.REPLACE }, [ErrorCode.INVALID_ARGUMENT]],
        ['no chunk', { chunk: undefined }, [ErrorCode.INVALID_ARGUMENT]],
      ];
      for (const [what, overrides, codes] of cases) {
        const err = await write(overrides);
        expect(err, what).toBeInstanceOf(SpindleError);
        expect(codes, `${what}: ${err!.codeName} ${err!.message}`).toContain(err!.errorCode);
      }
      const read = await callUnary(
        head,
        head.batchRead,
        {
          ios: [
            {
              chainId: chain.chainId,
              chainVersion: chain.chainVersion,
              chunk: { ino: 987_654_321, index: 3 },
              offset: 0,
              length: 10,
            },
          ],
        },
        'BatchRead',
      );
      expect(read.results[0]!.status?.code).toBe(ErrorCode.CHUNK_NOT_FOUND);
      const negativeLength = await callUnary(
        head,
        head.batchRead,
        {
          ios: [
            {
              chainId: chain.chainId,
              chainVersion: chain.chainVersion,
              chunk: { ino: stat.ino, index: 0 },
              offset: 2 ** 52,
              length: 10,
            },
          ],
        },
        'BatchRead',
      ).then(
        (r) => r.results[0]!.status?.code ?? 0,
        (e: SpindleError) => e.errorCode,
      );
      expect([ErrorCode.INVALID_ARGUMENT, ErrorCode.OK]).toContain(negativeLength);
      expect(await dumpFileChunks(storage, routing, stat.ino)).toEqual(metaBefore);
    } finally {
      storage.close();
    }
    expect((await client.readFile('/keep/data.bin')).equals(DATA)).toBe(true);
    expect(await snapshot(client)).toEqual(before);
  });

  it('Mgmt: reorders that are not a permutation of the chain, unknown chains; routing unchanged', async () => {
    const routing = await routingOf(cluster().metaAddress);
    const chain = tableChains(routing)[0]!;
    const mgmt = new MgmtClient(cluster().metaAddress, insecureChannel(), testChannelOptions(cluster().metaAddress));
    try {
      const update = (chainId: number, targetIds: number[]) =>
        callUnary(
          mgmt,
          mgmt.updateChain,
          { tag: { clientId: randomUUID(), requestId: 1 }, chainId, targetIds },
          'UpdateChain',
        ).then(
          () => undefined,
          (e: unknown) => e as SpindleError,
        );
      const cases: Array<[string, () => Promise<SpindleError | undefined>]> = [
        ['unknown chain', () => update(999_999, chain.targetIds)],
        ['a target of another chain', () => update(chain.chainId, [...chain.targetIds.slice(1), 999_001])],
        [
          'a duplicated target',
          () => update(chain.chainId, [chain.targetIds[0]!, chain.targetIds[0]!, ...chain.targetIds.slice(2)]),
        ],
        ['no targets', () => update(chain.chainId, [])],
      ];
      for (const [what, call] of cases) {
        const err = await call();
        expect(err, what).toBeInstanceOf(SpindleError);
        expect(
          [ErrorCode.INVALID_ARGUMENT, ErrorCode.CHAIN_NOT_FOUND, ErrorCode.TARGET_NOT_FOUND],
          `${what}: ${err!.codeName}`,
        ).toContain(err!.errorCode);
      }
    } finally {
      mgmt.close();
    }
    const after = await routingOf(cluster().metaAddress);
    expect(after.version).toBe(routing.version);
    expect(after.chains).toEqual(routing.chains);
  });

  it('bytes that are not protobuf, sent to every service, are refused and every service keeps serving', async () => {
    const identity = (b: Buffer) => b;
    const Generic = makeGenericClientConstructor({}, 'raw');
    const garbage = [
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // field 1, length 4 GiB, then nothing
      Buffer.from([0x0f]), // wire type 7 does not exist
      Buffer.from([0x08]), // a tag without its varint
      randomBytes(64).fill(0xff, 0, 12),
    ];
    const targets: Array<[string, string[]]> = [
      [
        cluster().metaAddress,
        [
          '/spindle.Meta/Open',
          '/spindle.Meta/Rename',
          '/spindle.Meta/Remove',
          '/spindle.Mgmt/UpdateChain',
          '/spindle.Mgmt/RegisterNode',
          '/spindle.Mgmt/Heartbeat',
        ],
      ],
      ...cluster().nodes.map((n): [string, string[]] => [
        n.addr,
        [
          '/spindle.Storage/Write',
          '/spindle.Storage/Update',
          '/spindle.Storage/BatchRead',
          '/spindle.Storage/RemoveChunks',
        ],
      ]),
    ];
    for (const [address, methods] of targets) {
      const raw = new Generic(address, credentials.createInsecure(), testChannelOptions(address));
      try {
        for (const method of methods) {
          for (const payload of garbage) {
            const err = await new Promise<ServiceError | null>((resolve) => {
              raw.makeUnaryRequest(method, identity, identity, payload, { deadline: Date.now() + 10_000 }, (e) =>
                resolve(e),
              );
            });
            expect(err, `${method} ${payload.toString('hex')}`).not.toBeNull();
            // A method the test's admin token may not call (node-only ones) is refused before decoding.
            const refusals = [GrpcStatus.INVALID_ARGUMENT, GrpcStatus.INTERNAL];
            if (rolesOf(method) !== 'open' && !rolesOf(method)?.includes('admin'))
              refusals.push(GrpcStatus.PERMISSION_DENIED);
            expect(refusals, `${method}: ${err!.code} ${err!.details}`).toContain(err!.code);
          }
        }
      } finally {
        raw.close();
      }
    }
    // Still serving: a fresh client reads and writes.
    const fresh = await cluster().client();
    expect((await fresh.readFile('/keep/data.bin')).equals(DATA)).toBe(true);
    expect(await snapshot(fresh)).toEqual(before);
    await fresh.writeFile('/after-garbage', 'ok');
    expect((await fresh.readFile('/after-garbage')).toString()).toBe('ok');
    await fresh.unlink('/after-garbage');
  });
});
