// The bulk read and write transports seen from the data path, against fake storage nodes with bulk
// listeners: which bytes move as frames, as one bulk call or inside gRPC, and recovery after a
// node's end of every session went away.
import { describe, expect, it } from 'vitest';
import { CHUNK, layout, randomBytes, useFakeStorageCluster } from '../testing/fake-storage-nodes.js';

describe('ChunkStore over bulk sessions to fake storage nodes', () => {
  const nodes = useFakeStorageCluster('bulk');

  it('large reads and writes as frames, every read asked by a bulk call, small writes in gRPC', async () => {
    const data = randomBytes(3 * CHUNK, 61);
    await nodes.store.write(61, layout, 0, data);
    expect(nodes.state.bulkFramesIn).toBe(3);
    await nodes.store.write(61, layout, 10, Buffer.from('small'));
    expect(nodes.state.bulkFramesIn).toBe(3);
    data.write('small', 10);
    expect((await nodes.store.read(61, layout, 0, 3 * CHUNK, { fileLength: 3 * CHUNK })).equals(data)).toBe(true);
    expect(nodes.state.bulkFramesOut).toBe(3);
    // The BatchReads asking for those frames were calls on the sessions too (no grpc-js call).
    const largeReadCalls = nodes.state.bulkCalls;
    expect(largeReadCalls).toBeGreaterThan(0);
    expect(nodes.state.batches.length).toBe(largeReadCalls);
    expect((await nodes.store.read(61, layout, 5, 100, { fileLength: 3 * CHUNK })).equals(data.subarray(5, 105))).toBe(
      true,
    );
    expect(nodes.state.bulkFramesOut).toBe(3);
    expect(nodes.state.bulkCalls).toBe(largeReadCalls + 1);
    // A hole inside a bulk batch reads as zeros (no frame comes for it).
    const holes = await nodes.store.read(62, layout, 0, 2 * CHUNK, { fileLength: 2 * CHUNK });
    expect(holes.equals(Buffer.alloc(2 * CHUNK))).toBe(true);
  });

  it('reconnects after a bulk session closed, retrying reads and writes', async () => {
    const data = randomBytes(3 * CHUNK, 71);
    await nodes.store.write(71, layout, 0, data);
    // Every node's end of every session goes away (a node restart, a broken connection).
    await nodes.restartBulkListeners();
    expect((await nodes.store.read(71, layout, 0, data.length, { fileLength: data.length })).equals(data)).toBe(true);
    await nodes.restartBulkListeners();
    const next = randomBytes(3 * CHUNK, 72);
    await nodes.store.write(71, layout, 0, next);
    expect((await nodes.store.read(71, layout, 0, next.length, { fileLength: next.length })).equals(next)).toBe(true);
  });
});
