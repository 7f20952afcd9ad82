// Chunk reads against fake storage nodes: holes and short chunks as zeros, failover to another
// replica, smaller batches for a node that refuses large ones, batching of concurrent callers'
// reads per node with per-caller outcomes, and cancellation. Each test runs with chunk bytes
// inside gRPC and over bulk sessions.
import { describe, expect, it } from 'vitest';
import { clientConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { ChunkStore } from './chunk-store.js';
import { CHUNK, DATA_TRANSPORTS, layout, randomBytes, useFakeStorageCluster } from './testing/fake-storage-nodes.js';

describe.each(DATA_TRANSPORTS)('ChunkStore reads over fake storage nodes (data over $transport)', ({ transport }) => {
  const nodes = useFakeStorageCluster(transport);

  it('reads holes and short chunks as zeros up to the file length, and stops there', async () => {
    const data = randomBytes(1000, 2);
    await nodes.store.write(8, layout, 2 * CHUNK + 10, data);
    const fileLength = 4 * CHUNK;
    const all = await nodes.store.read(8, layout, 0, 10 * CHUNK, { fileLength });
    expect(all.length).toBe(fileLength);
    const expected = Buffer.alloc(fileLength);
    data.copy(expected, 2 * CHUNK + 10);
    expect(all.equals(expected)).toBe(true);
    // Without a file length the read ends after the last byte stored.
    const unbounded = await nodes.store.read(8, layout, 0, 10 * CHUNK);
    expect(unbounded.length).toBe(2 * CHUNK + 10 + 1000);
    expect(await nodes.store.read(8, layout, fileLength, 100, { fileLength })).toHaveLength(0);
  });

  it('fails over to another replica when a node does not answer reads', async () => {
    const data = randomBytes(6 * CHUNK, 4);
    await nodes.store.write(11, layout, 0, data);
    nodes.state.beforeRead = (nodeId) => {
      if (nodeId === 2) throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'node 2 is down');
    };
    for (let i = 0; i < 4; i++) {
      expect((await nodes.store.read(11, layout, 0, data.length, { fileLength: data.length })).equals(data)).toBe(true);
    }
  });

  it('fails a read over to a replica other than the one that just failed, whichever it started on', async () => {
    const data = randomBytes(3 * CHUNK, 81);
    await nodes.store.write(81, layout, 0, data);
    // Node 2 is unreachable for reads; concurrent reads make first attempts land on every replica
    // (least busy), and each read must reach node 2 at most once.
    const attemptsOnNode2 = new Map<string, number>();
    nodes.state.readItemError = (nodeId, io) => {
      if (nodeId !== 2) return undefined;
      const key = `${io.chunk!.index}:${io.offset}`;
      attemptsOnNode2.set(key, (attemptsOnNode2.get(key) ?? 0) + 1);
      return { code: ErrorCode.RPC_UNAVAILABLE, message: 'node 2 is unreachable' };
    };
    const reads = Array.from({ length: 60 }, (_, i) => {
      const offset = (i * 4_099) % (3 * CHUNK - 300);
      return nodes.store.read(81, layout, offset, 300, { fileLength: 3 * CHUNK }).then((got) => ({ got, offset }));
    });
    for (const { got, offset } of await Promise.all(reads))
      expect(got.equals(data.subarray(offset, offset + 300))).toBe(true);
    expect(attemptsOnNode2.size).toBeGreaterThan(0);
    for (const [key, count] of attemptsOnNode2) expect(count, `read ${key} went to node 2 ${count} times`).toBe(1);
  });

  it('fails a read over from a replica whose bytes fail their checksum, and fails at once when all do', async () => {
    const data = randomBytes(3 * CHUNK, 91);
    await nodes.store.write(91, layout, 0, data);
    const corruptOn = new Set([2]);
    const attempts = new Map<number, number>();
    nodes.state.readItemError = (nodeId) => {
      attempts.set(nodeId, (attempts.get(nodeId) ?? 0) + 1);
      return corruptOn.has(nodeId) ? { code: ErrorCode.CHUNK_CORRUPT, message: 'failed its checksum' } : undefined;
    };
    for (let i = 0; i < 6; i++) {
      expect((await nodes.store.read(91, layout, 0, data.length, { fileLength: data.length })).equals(data)).toBe(true);
    }
    expect(attempts.get(2)).toBeGreaterThan(0);
    // Damaged on every replica: CHUNK_CORRUPT naming the chunk once each replica answered it once
    // (not retried until the retry deadline).
    for (const nodeId of [1, 2, 3]) corruptOn.add(nodeId);
    attempts.clear();
    const err = await nodes.store.read(91, layout, CHUNK, 100, { fileLength: data.length }).catch((e: unknown) => e);
    expect(err).toMatchObject({ errorCode: ErrorCode.CHUNK_CORRUPT, retryable: false });
    expect((err as Error).message).toContain('read of chunk 1 of inode 91');
    expect((err as Error).message).toContain('every replica');
    expect([...attempts.entries()].sort()).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
  });

  it('adapts to a node that answers smaller batch reads than the client asks', async () => {
    const greedy = new ChunkStore({
      routing: nodes.routing,
      clientId: 'greedy',
      config: clientConfig('production', { retryDeadlineMs: 3_000, retryBackoffInitialMs: 1, retryBackoffMaxMs: 5 }),
      bulkTransport: nodes.bulkTransport,
    });
    const data = randomBytes(6 * CHUNK + 77, 9);
    await greedy.write(17, layout, 0, data);
    let refused = 0;
    nodes.state.beforeRead = (_nodeId, request) => {
      const total = request.ios.reduce((sum, io) => sum + io.length, 0);
      if (total > 20_000) {
        refused++;
        throw new SpindleError(
          ErrorCode.RPC_TOO_LARGE,
          `a batch read asks for ${total} bytes; this node answers at most 20000 per call`,
        );
      }
    };
    for (let i = 0; i < 2; i++) {
      const back = await greedy.read(17, layout, 0, data.length, { fileLength: data.length });
      expect(back.equals(data)).toBe(true);
    }
    expect(refused).toBeGreaterThan(0);
    greedy.close();
  });

  it('batches concurrent small reads of different callers per storage node, each getting its own bytes', async () => {
    const files = [21, 22, 23];
    const contents = new Map(files.map((ino) => [ino, randomBytes(3 * CHUNK, ino)]));
    for (const ino of files) await nodes.store.write(ino, layout, 0, contents.get(ino)!);
    nodes.state.batches.length = 0;
    const reads: Array<{ ino: number; offset: number; promise: Promise<Buffer> }> = [];
    for (let i = 0; i < 90; i++) {
      const ino = files[i % 3]!;
      const offset = (i * 997) % (3 * CHUNK - 200);
      reads.push({ ino, offset, promise: nodes.store.read(ino, layout, offset, 200, { fileLength: 3 * CHUNK }) });
    }
    for (const read of reads) {
      expect((await read.promise).equals(contents.get(read.ino)!.subarray(read.offset, read.offset + 200))).toBe(true);
    }
    // Fewer calls than reads, some carrying several callers' reads (of different files), and
    // still spread over every node (replicas in rotation).
    expect(nodes.state.batches.length).toBeLessThan(reads.length / 2);
    expect(nodes.state.batches.some((batch) => new Set(batch.inos).size > 1)).toBe(true);
    expect(new Set(nodes.state.batches.map((batch) => batch.nodeId)).size).toBe(3);
  });

  it('fails only the caller whose item failed in a shared batch', async () => {
    const good = randomBytes(CHUNK, 31);
    await nodes.store.write(31, layout, 0, good);
    await nodes.store.write(32, layout, 0, randomBytes(CHUNK, 32));
    nodes.state.batches.length = 0;
    nodes.state.readItemError = (_nodeId, io) =>
      io.chunk!.ino === 32 ? { code: ErrorCode.INVALID_ARGUMENT, message: 'bad item' } : undefined;
    const reads = Array.from({ length: 12 }, (_, i) => {
      const ino = i % 2 === 0 ? 31 : 32;
      return nodes.store.read(ino, layout, i * 100, 100, { fileLength: CHUNK }).then(
        (data) => ({ ino, i, data }),
        (error: unknown) => ({ ino, i, error }),
      );
    });
    const outcomes = await Promise.all(reads);
    expect(nodes.state.batches.some((batch) => batch.inos.includes(31) && batch.inos.includes(32))).toBe(true);
    for (const outcome of outcomes) {
      if (outcome.ino === 31) {
        expect('data' in outcome && outcome.data.equals(good.subarray(outcome.i * 100, outcome.i * 100 + 100))).toBe(
          true,
        );
      } else {
        expect('error' in outcome && (outcome.error as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
      }
    }
  });

  it('retries a failed item of a shared batch on its own, leaving the others as they were', async () => {
    const data = randomBytes(CHUNK, 41);
    await nodes.store.write(41, layout, 0, data);
    await nodes.store.write(42, layout, 0, data);
    let failures = 0;
    nodes.state.readItemError = (nodeId, io) => {
      if (io.chunk!.ino === 42 && nodeId === 1) {
        failures++;
        return { code: ErrorCode.RPC_UNAVAILABLE, message: 'replica busy' };
      }
      return undefined;
    };
    const reads = Array.from({ length: 30 }, (_, i) =>
      nodes.store.read(i % 2 === 0 ? 41 : 42, layout, i * 50, 50, { fileLength: CHUNK }),
    );
    const results = await Promise.all(reads);
    results.forEach((result, i) => expect(result.equals(data.subarray(i * 50, i * 50 + 50))).toBe(true));
    expect(failures).toBeGreaterThan(0);
  });

  it('drops a cancelled read from its batch without touching its buffer, and serves the others', async () => {
    const data = randomBytes(CHUNK, 51);
    await nodes.store.write(51, layout, 0, data);
    const controller = new AbortController();
    const cancelledTarget = Buffer.alloc(100, 0xee);
    const cancelled = nodes.store.readInto(51, layout, 0, cancelledTarget, {
      fileLength: CHUNK,
      signal: controller.signal,
    });
    const others = Array.from({ length: 5 }, (_, i) =>
      nodes.store.read(51, layout, 100 * (i + 1), 100, { fileLength: CHUNK }),
    );
    controller.abort();
    await expect(cancelled).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
    const results = await Promise.all(others);
    results.forEach((result, i) => expect(result.equals(data.subarray(100 * (i + 1), 100 * (i + 2)))).toBe(true));
    expect(cancelledTarget.equals(Buffer.alloc(100, 0xee))).toBe(true);
  });
});
