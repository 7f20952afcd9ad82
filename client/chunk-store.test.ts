// ChunkStore's own surface against fake storage nodes: the StoragePort meta uses (remove,
// truncate, measure a file), argument checks and close. Writes, reads and replica choice have
// their own tests (chunk-writes, chunk-reads, replica-choice, read-transports/). Each test runs
// with chunk bytes inside gRPC and as bulk frames.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.js';
import { CHUNK, DATA_TRANSPORTS, layout, randomBytes, useFakeStorageCluster } from './testing/fake-storage-nodes.js';

describe.each(DATA_TRANSPORTS)('ChunkStore over fake storage nodes (data over $transport)', ({ transport }) => {
  const nodes = useFakeStorageCluster(transport);

  it('removes, truncates and measures a file (the StoragePort used by meta)', async () => {
    const data = randomBytes(4 * CHUNK + 500, 6);
    await nodes.store.write(15, layout, 0, data);
    expect(await nodes.store.queryLength(15, layout)).toBe(data.length);
    await nodes.store.truncateFile(15, layout, CHUNK + 10);
    expect(await nodes.store.queryLength(15, layout)).toBe(CHUNK + 10);
    const back = await nodes.store.read(15, layout, 0, data.length, { fileLength: CHUNK + 10 });
    expect(back.equals(data.subarray(0, CHUNK + 10))).toBe(true);
    // A boundary chunk that was never written is not an error.
    await nodes.store.truncateFile(16, layout, 100);
    await nodes.store.removeChunks(15, layout, 0);
    expect(await nodes.store.queryLength(15, layout)).toBe(0);
    expect([...nodes.state.chunks.keys()].filter((k) => k.includes('/15/'))).toEqual([]);
  });

  it('refuses bad ranges and calls after close', async () => {
    await expect(nodes.store.write(1, layout, -1, Buffer.from('x'))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(nodes.store.read(1, layout, 2 ** 53, 1)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(nodes.store.write(1, { ...layout, chunkSizeBytes: 1000 }, 0, Buffer.from('x'))).rejects.toThrow(
      /power of two/,
    );
    await expect(nodes.store.read(1, { ...layout, chainTableVersion: 9 }, 0, 1)).rejects.toMatchObject({
      errorCode: ErrorCode.CHAIN_TABLE_NOT_FOUND,
    });
    nodes.store.close();
    await expect(nodes.store.write(1, layout, 0, Buffer.from('x'))).rejects.toMatchObject({
      errorCode: ErrorCode.CLIENT_CLOSED,
    });
  });
});
