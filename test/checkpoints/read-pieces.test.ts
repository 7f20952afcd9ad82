// Whole-shard reads in pieces and the async save's staging pool, against a real cluster: a shard
// of more than three VERIFY_READ_BYTES pieces saved through a staging pool of two pieces comes back
// byte for byte, also into the caller's memory (`into`); a byte corrupted in the third piece still
// fails the whole-shard read with DATA_CORRUPTED naming the shard; a too small `into` is refused.
import { beforeAll, describe, expect, it } from 'vitest';
import { type SpindleClient, openCheckpoints } from '../../client/index.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';
import { bigShardBytes } from './support.js';

const MiB = 1024 * 1024;
/** VERIFY_READ_BYTES (8 MiB) × 3 + 1 MiB + 7: four pieces, the last one short. */
const SHARD_BYTES = 25 * MiB + 7;
const cluster = useCluster();
let client: SpindleClient;

beforeAll(async () => {
  client = await cluster().client();
});

async function expectCode(promise: Promise<unknown>, code: ErrorCode, text: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(isSpindleError(err, code), `expected ${ErrorCode[code]}, got ${String(err)}`).toBe(true);
  expect((err as Error).message).toContain(text);
}

describe('whole-shard reads in pieces', () => {
  it('save through two staging pieces, read back into the caller memory, catch a byte in piece 3', async () => {
    const checkpoints = await openCheckpoints(client, '/ck-pieces', { stagingBytes: 8 * MiB });
    const data = bigShardBytes(3, 0, 'big.bin', SHARD_BYTES);
    const expected = Buffer.from(data);
    const save = checkpoints.save(3, { worldSize: 1, rank: 0 }, { 'big.bin': data }, { step: 3 });
    await save.captured;
    data.fill(0x5a); // the caller changes its buffer once captured: the captured bytes are written
    expect((await save.committed).committed).toBe(true);

    const into = Buffer.alloc(SHARD_BYTES + 100, 0xee);
    const read = await checkpoints.readShard(3, 0, 'big.bin', { into });
    expect(read.length).toBe(SHARD_BYTES);
    expect(read.buffer).toBe(into.buffer);
    expect(read.equals(expected)).toBe(true);
    expect(into[SHARD_BYTES]).toBe(0xee); // nothing past the shard is touched
    expect((await checkpoints.readShard(3, 0, 'big.bin')).equals(expected)).toBe(true);
    await expectCode(
      checkpoints.readShard(3, 0, 'big.bin', { into: Buffer.alloc(SHARD_BYTES - 1) }),
      ErrorCode.INVALID_ARGUMENT,
      'into holds',
    );

    const at = 2 * 8 * MiB + 12_345;
    const handle = await client.open('/ck-pieces/step-000000000003/rank-0/big.bin', 'r+');
    await handle.writeBytes(Buffer.from([expected[at]! ^ 0xff]), at);
    await handle.close();
    await expectCode(checkpoints.readShard(3, 0, 'big.bin'), ErrorCode.DATA_CORRUPTED, 'rank-0/big.bin of step 3');
    await expectCode(
      checkpoints.readShard(3, 0, 'big.bin', { into }),
      ErrorCode.DATA_CORRUPTED,
      'rank-0/big.bin of step 3',
    );
    // A range read is not CRC-checked: it returns the bytes as they are.
    const range = await checkpoints.readShard(3, 0, 'big.bin', { offset: at - 1, length: 3 });
    expect(range[1]).toBe(expected[at]! ^ 0xff);
  });
});
