// FileHandle.readRanges: many ranges of one file as one read, each into its place in one buffer —
// across chunk boundaries, in any order, holes as zeros — and a range past the file's end refused.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE_MIN_BYTES } from '../../common/constants.js';
import { ErrorCode } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';

const cluster = useCluster({ preset: 'test' });

describe('FileHandle.readRanges', () => {
  it('fills every range in place, chunk-crossing and out of order, holes as zeros', async () => {
    const client = await cluster().client();
    const data = randomBytes(3 * 1024 * 1024);
    await client.writeFile('/ranges', data);
    const handle = await client.open('/ranges', 'r+');
    const chunk = CHUNK_SIZE_MIN_BYTES; // the test preset's chunk size
    await handle.truncate(data.length + 2 * chunk); // a hole after the data
    const ranges = [
      { offset: 2 * chunk - 100, length: 300, targetOffset: 0 }, // crosses a chunk boundary
      { offset: 5, length: 10, targetOffset: 300 },
      { offset: data.length + chunk, length: 64, targetOffset: 310 }, // in the hole
      { offset: data.length - 7, length: 7, targetOffset: 374 },
    ];
    const target = Buffer.alloc(381, 0xaa);
    await handle.readRanges(ranges, target);
    expect(target.subarray(0, 300).equals(data.subarray(2 * chunk - 100, 2 * chunk + 200))).toBe(true);
    expect(target.subarray(300, 310).equals(data.subarray(5, 15))).toBe(true);
    expect(target.subarray(310, 374).equals(Buffer.alloc(64))).toBe(true);
    expect(target.subarray(374).equals(data.subarray(data.length - 7))).toBe(true);

    await expect(
      handle.readRanges([{ offset: data.length + 2 * chunk - 1, length: 2, targetOffset: 0 }], target),
    ).rejects.toMatchObject({
      errorCode: ErrorCode.INVALID_ARGUMENT,
      message: expect.stringMatching(/end of the file/),
    });
    await expect(handle.readRanges([{ offset: 0, length: 10, targetOffset: 380 }], target)).rejects.toMatchObject({
      errorCode: ErrorCode.INVALID_ARGUMENT,
    });
    await handle.close();
  });
});
