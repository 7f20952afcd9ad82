// Names that are not UTF-8 (issue 15): a Meta request whose path holds bytes that are not valid UTF-8
// is refused whole — it used to be decoded with U+FFFD in their place, so `/bad-\xff` and
// `/bad-\xfe` both became `/bad-\ufffd`, the second "already existing". Nothing is created, and the
// same request with the name in UTF-8 still works (real meta process, raw grpc-js client).
import { randomUUID } from 'node:crypto';
import { credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { expect, it } from 'vitest';
import { CHANNEL_OPTIONS } from '../../common/rpc.js';
import { MkdirsRequest } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';

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
  const raw = new Generic(cluster().metaAddress, credentials.createInsecure(), CHANNEL_OPTIONS);
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
      expect(err!.details).toMatch(/UTF-8|deserializ/i);
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
