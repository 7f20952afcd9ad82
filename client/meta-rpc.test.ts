// MetaRpc against a fake Meta service over real gRPC: idempotency tags are reused by retries,
// fresh per logical request, and non-retryable errors surface at once with their POSIX code.
import type { Server } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { serviceImplementation, startGrpcServer, stopGrpcServer } from '../common/rpc.js';
import { InodeType, MetaService, type Inode, type MkdirsRequest, type RequestTag, type StatRequest } from '../proto/index.js';
import { MetaRpc } from './meta-rpc.js';

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
        if (request.at?.path === '/missing') throw new SpindleError(ErrorCode.NOT_FOUND, 'Stat: "/missing" does not exist');
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
