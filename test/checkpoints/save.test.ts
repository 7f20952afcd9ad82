// Checkpoints.save() (the async form), parallel verify with progress, readShards and opening an
// existing directory only, against a real cluster: `captured` settles before `committed` and the
// caller may reuse its buffers from then on; a failed save rejects both promises without an
// unhandled rejection whichever one the caller awaits; verify's progress adds up to the manifest's
// bytes and still names every damaged shard; readShards returns every shard, checked.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SpindleClient, openCheckpoints } from '../../client/index.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';
import { shardBytes } from './support.js';

const MiB = 1024 * 1024;
const cluster = useCluster();
let client: SpindleClient;
let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  client = await cluster().client();
});

beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});

afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode, text: string): Promise<void> {
  const err = await errorOf(promise);
  expect(isSpindleError(err, code), `expected ${ErrorCode[code]}, got ${String(err)}`).toBe(true);
  expect((err as Error).message).toContain(text);
}

/** Lets pending rejections surface (Node reports unhandled ones after the microtask queue drains). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** `count` MiB of deterministic bytes, different per seed. */
function bytesOf(seed: number, mebibytes: number): Buffer {
  return Buffer.concat(Array.from({ length: Math.ceil(mebibytes / 1.4) }, (_, i) => shardBytes(seed, i, 'x'))).subarray(
    0,
    mebibytes * MiB,
  );
}

describe('Checkpoints.save', () => {
  it('captured settles before committed; the caller reuses its buffers once captured', async () => {
    const checkpoints = await openCheckpoints(client, '/ck-save/async', { stagingBytes: 4 * MiB });
    const expected = { model: bytesOf(1, 10), optim: bytesOf(2, 3) };
    const order: string[] = [];
    const saves = [0, 1].map((rank) => {
      const model = Buffer.from(expected.model);
      const shards = new Map([
        ['model.bin', model],
        ['optim.bin', Buffer.from(expected.optim)],
      ]);
      const save = checkpoints.save(7, { worldSize: 2, rank, saveId: 'run1' }, shards, { rank, loss: 0.25 });
      save.captured.then(() => {
        order.push(`captured ${rank}`);
        // Training goes on and changes its buffers: the save must not see it.
        for (const buffer of shards.values()) buffer.fill(rank + 1);
      });
      save.committed.then(() => order.push(`committed ${rank}`));
      return save;
    });
    const first = await saves[0]!.committed;
    const second = await saves[1]!.committed;
    expect(order.indexOf('captured 0')).toBeLessThan(order.indexOf('committed 0'));
    expect(order.indexOf('captured 1')).toBeLessThan(order.indexOf('committed 1'));
    expect([first.committed, second.committed]).toContain(true);
    const manifest = await checkpoints.load(7);
    expect(manifest).toMatchObject({ step: 7, worldSize: 2, saveId: 'run1', userMetadata: { rank: 0, loss: 0.25 } });
    const names = manifest.shards.map((shard) => `${shard.rank}/${shard.name}`);
    expect(names).toEqual(['0/model.bin', '0/optim.bin', '1/model.bin', '1/optim.bin']);
    const requests = manifest.shards.map(({ rank, name }) => ({ rank, name }));
    const back = await checkpoints.readShards(7, [...requests, { rank: 1, name: 'model.bin', offset: 5, length: 9 }]);
    for (const [index, shard] of manifest.shards.entries()) {
      expect(back[index]!.equals(shard.name === 'model.bin' ? expected.model : expected.optim)).toBe(true);
    }
    expect(back[4]!.equals(expected.model.subarray(5, 14))).toBe(true);
    expect(unhandled).toEqual([]);
  });

  it('a failed begin rejects both promises; awaiting only one leaves no unhandled rejection', async () => {
    const checkpoints = await openCheckpoints(client, '/ck-save/fail');
    await checkpoints.save(1, { worldSize: 1, rank: 0 }, { 'w.bin': Buffer.from('one') }).committed;
    const again = checkpoints.save(1, { worldSize: 1, rank: 0 }, { 'w.bin': Buffer.from('two') });
    await expectCode(again.committed, ErrorCode.EXISTS, 'step 1 is already committed');
    await expectCode(again.captured, ErrorCode.EXISTS, 'step 1 is already committed');
    const onlyCaptured = checkpoints.save(1, { worldSize: 1, rank: 0, saveId: 'x' }, { 'w.bin': Buffer.from('3') });
    await expectCode(onlyCaptured.captured, ErrorCode.EXISTS, 'already committed');
    const onlyCommitted = checkpoints.save(1, { worldSize: 1, rank: 0, saveId: 'y' }, { 'w.bin': Buffer.from('4') });
    await expectCode(onlyCommitted.committed, ErrorCode.EXISTS, 'already committed');
    checkpoints.save(1, { worldSize: 1, rank: 0, saveId: 'z' }, { 'w.bin': Buffer.from('5') }); // awaited by no one
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await settle();
    expect(unhandled).toEqual([]);
    expect(await client.readdir('/ck-save/fail')).toEqual(['step-000000000001']);
    expect((await checkpoints.readShard(1, 0, 'w.bin')).toString()).toBe('one');
  });

  it('refuses bad arguments in both promises, naming the field, creating nothing', async () => {
    const checkpoints = await openCheckpoints(client, '/ck-save/bad');
    const cases: [Parameters<typeof checkpoints.save>, string][] = [
      [[1, { worldSize: 1, rank: 0 }, { '../x': Buffer.from('x') }], 'shards name'],
      [[1, { worldSize: 1, rank: 0 }, { 'a.bin': 'text' as never }], 'shards["a.bin"]'],
      [[1, { worldSize: 1, rank: 0 }, 'nope' as never], 'shards must be'],
      [[1, { worldSize: 2, rank: 2 }, { 'a.bin': Buffer.from('x') }], 'rank'],
      [[-1, { worldSize: 1, rank: 0 }, { 'a.bin': Buffer.from('x') }], 'step'],
      [[1, { worldSize: 1, rank: 0 }, { 'a.bin': Buffer.from('x') }, { big: 1n }], 'userMetadata'],
    ];
    for (const [args, field] of cases) {
      const save = checkpoints.save(...args);
      await expectCode(save.captured, ErrorCode.INVALID_ARGUMENT, field);
      await expectCode(save.committed, ErrorCode.INVALID_ARGUMENT, field);
    }
    await settle();
    expect(unhandled).toEqual([]);
    expect(await client.readdir('/ck-save/bad')).toEqual([]);
  });

  it('opens an existing directory only with create: false', async () => {
    await expectCode(openCheckpoints(client, '/ck-save/missing', { create: false }), ErrorCode.NOT_FOUND, 'missing');
    await client.writeFile('/ck-save-file', 'x');
    await expectCode(openCheckpoints(client, '/ck-save-file', { create: false }), ErrorCode.NOT_DIRECTORY, 'not a');
    expect(await client.exists('/ck-save/missing')).toBe(false);
  });
});

describe('verify', () => {
  it('reads shards in parallel; progress adds up to the bytes', async () => {
    // Counts shard files being opened or open at once: a call to open counts from the moment it is
    // made, so reads issued together overlap whatever the machine's timing.
    let open = 0;
    let openMax = 0;
    const counting = new Proxy(client, {
      get(target, property, receiver) {
        if (property !== 'open') return Reflect.get(target, property, receiver);
        return async (...args: Parameters<SpindleClient['open']>) => {
          openMax = Math.max(openMax, ++open);
          const handle = await target.open(...args).catch((err: unknown) => {
            open--;
            throw err;
          });
          const close = handle.close.bind(handle);
          handle.close = async () => {
            open--;
            return close();
          };
          return handle;
        };
      },
    });
    const checkpoints = await openCheckpoints(counting, '/ck-save/verify');
    const shards: Record<string, Buffer> = {};
    for (let index = 0; index < 3; index++) shards[`s${index}.bin`] = bytesOf(10 + index, 9);
    await checkpoints.save(3, { worldSize: 1, rank: 0 }, shards).committed;
    const bytesTotal = Object.values(shards).reduce((sum, buffer) => sum + buffer.length, 0);
    const seen: { bytesDone: number; shardsDone: number; bytesTotal: number; shardsTotal: number }[] = [];
    open = 0;
    openMax = 0;
    await checkpoints.verify(3, { onProgress: (progress) => seen.push(progress) });
    expect(seen.at(-1)).toEqual({ bytesDone: bytesTotal, bytesTotal, shardsDone: 3, shardsTotal: 3 });
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.bytesDone).toBeGreaterThanOrEqual(seen[i - 1]!.bytesDone);
    expect(openMax).toBe(3);
    expect(open).toBe(0);
  });

  it('names every damaged or missing shard, and only those; progress still reaches every shard', async () => {
    const checkpoints = await openCheckpoints(client, '/ck-save/damaged');
    const shards: Record<string, Buffer> = {};
    for (let index = 0; index < 4; index++)
      shards[`s${index}.bin`] = shardBytes(4, 0, `s${index}`).subarray(0, 200_000);
    await checkpoints.save(4, { worldSize: 1, rank: 0 }, shards).committed;
    const handle = await client.open('/ck-save/damaged/step-000000000004/rank-0/s3.bin', 'r+');
    await handle.writeBytes(Buffer.from([shards['s3.bin']![100]! ^ 1]), 100);
    await handle.close();
    await client.rm('/ck-save/damaged/step-000000000004/rank-0/s1.bin');
    const progress: number[] = [];
    const report = await checkpoints.verifyReport('latest', { onProgress: (p) => progress.push(p.shardsDone) });
    expect(report.damaged.map((shard) => shard.name)).toEqual(['s1.bin', 's3.bin']);
    expect(report.damaged[0]!.problem).toContain('missing');
    expect(report.damaged[1]!.problem).toContain('CRC32C');
    expect(progress.at(-1)).toBe(4);
    const err = (await errorOf(checkpoints.verify(4))) as Error;
    expect(isSpindleError(err, ErrorCode.DATA_CORRUPTED)).toBe(true);
    expect(err.message).toContain('rank-0/s1.bin of step 4');
    expect(err.message).toContain('rank-0/s3.bin of step 4');
    expect(err.message).not.toContain('s2.bin');
    await expectCode(checkpoints.readShards(4, [{ rank: 0, name: 's3.bin' }]), ErrorCode.DATA_CORRUPTED, 's3.bin');
    await expectCode(checkpoints.readShards(4, [{ rank: 1, name: 's0.bin' }]), ErrorCode.INVALID_ARGUMENT, 'rank');
    const back = await checkpoints.readShards(4, [
      { rank: 0, name: 's2.bin' },
      { rank: 0, name: 's0.bin' },
    ]);
    expect(back[0]!.equals(shards['s2.bin']!) && back[1]!.equals(shards['s0.bin']!)).toBe(true);
    const aborted = AbortSignal.abort(new Error('stop'));
    expect(((await errorOf(checkpoints.verify(4, { signal: aborted }))) as Error).message).toBe('stop');
  });
});
