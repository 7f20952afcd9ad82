// Names that are not UTF-8 (issue 15): a Meta request whose path holds bytes that are not valid UTF-8
// is refused whole — it used to be decoded with U+FFFD in their place, so `/bad-\xff` and
// `/bad-\xfe` both became `/bad-\ufffd`, the second "already existing". Nothing is created, and the
// same request with the name in UTF-8 still works (real meta process, raw grpc-js client).
// Integers above 2^53 - 1 (which a JS number cannot hold exactly) are INVALID_ARGUMENT naming the
// limit, on meta and on a storage node, instead of grpc-js's generic INTERNAL.
import { randomUUID } from 'node:crypto';
import { credentials, makeGenericClientConstructor, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { expect, it } from 'vitest';
import { BatchReadRequest, MkdirsRequest, StatRequest } from '../../proto/index.js';
import { useCluster, testChannelOptions } from '../harness/cluster.js';

const cluster = useCluster({ storageNodes: 1, replicas: 1, targetsPerNode: 1 });

/** A Mkdirs request for `/name` whose name bytes are `nameBytes` (same length as the placeholder). */
function mkdirsBytes(nameBytes: Buffer): Buffer {
  const placeholder = 'X'.repeat(nameBytes.length);
  const encoded = Buffer.from(
    MkdirsRequest.encode({
      tag: { clientId: randomUUID(), requestId: 1 },
      at: { parentIno: 1, path: `/bad-${placeholder}` },
      mode: 0o755,
      recursive: false,
      uid: 0,
      gid: 0,
    } as MkdirsRequest).finish(),
  );
  const at = encoded.indexOf(`bad-${placeholder}`) + 4;
  nameBytes.copy(encoded, at);
  return encoded;
}

it('a path that is not UTF-8 is refused, never rewritten to U+FFFD', async () => {
  const Generic = makeGenericClientConstructor({}, 'raw');
  const raw = new Generic(
    cluster().metaAddress,
    credentials.createInsecure(),
    testChannelOptions(cluster().metaAddress),
  );
  const identity = (b: Buffer) => b;
  const call = (payload: Buffer) =>
    new Promise<ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        '/spindle.Meta/Mkdirs',
        identity,
        identity,
        payload,
        { deadline: Date.now() + 10_000 },
        (e) => resolve(e),
      ),
    );
  try {
    for (const bytes of [Buffer.from([0xff]), Buffer.from([0xfe]), Buffer.from([0xc3, 0x28])]) {
      const err = await call(mkdirsBytes(bytes));
      expect(err, `name bytes ${bytes.toString('hex')}`).not.toBeNull();
      expect(err!.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(err!.details).toMatch(/not valid UTF-8/);
    }
    const client = await cluster().client();
    expect((await client.readdir('/')).filter((name) => name.startsWith('bad-'))).toEqual([]);
    // The same request with a UTF-8 name is taken.
    expect(await call(mkdirsBytes(Buffer.from('é')))).toBeNull();
    expect(await client.readdir('/')).toContain('bad-é');
  } finally {
    raw.close();
  }
}, 120_000);

it('integers above 2^53 - 1 are INVALID_ARGUMENT naming the limit, on meta and storage', async () => {
  const Generic = makeGenericClientConstructor({}, 'raw');
  const identity = (b: Buffer) => b;
  const huge = 2 ** 60;
  const cases: Array<[string, string, Buffer]> = [
    [
      cluster().metaAddress,
      '/spindle.Meta/Stat',
      Buffer.from(StatRequest.encode({ at: { parentIno: huge, path: 'x' }, followSymlink: false }).finish()),
    ],
    [
      cluster().nodes[0]!.addr,
      '/spindle.Storage/BatchRead',
      Buffer.from(
        BatchReadRequest.encode({
          ios: [{ chainId: 1, chainVersion: 1, chunk: { ino: huge, index: 0 }, offset: 0, length: 10 }],
        } as BatchReadRequest).finish(),
      ),
    ],
  ];
  for (const [address, method, payload] of cases) {
    const raw = new Generic(address, credentials.createInsecure(), testChannelOptions(address));
    try {
      const err = await new Promise<ServiceError | null>((resolve) =>
        raw.makeUnaryRequest(method, identity, identity, payload, { deadline: Date.now() + 10_000 }, (e) => resolve(e)),
      );
      expect(err, method).not.toBeNull();
      expect(err!.code, `${method}: ${err!.details}`).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(err!.details).toMatch(/above 2\^53 - 1/);
    } finally {
      raw.close();
    }
  }
}, 120_000);
