// The bulk frame parser fuzzed (bench/fuzz-bulk.ts): seeded random bytes, mutated hellos and
// valid hellos followed by random and mutated frames of every type — at a listener in this
// process (which must throw nothing, keep its memory bounded and serve a real session after) and
// at a real storage node's bulk port (alive after, a file written before still reads, bounded
// memory, no INTERNAL answer to a malformed call). SPINDLE_FUZZ_SEED and SPINDLE_FUZZ_STREAMS
// replay or lengthen a run (`spindle bench fuzz` runs longer ones).
import { afterAll, describe, expect, it } from 'vitest';
import { fuzzBulkPort } from '../../bench/fuzz-bulk.js';
import type { Principal } from '../../common/auth/principal.js';
import { TcpBulkTransport } from '../../common/bulk/tcp-transport.js';
import type { BulkListener } from '../../common/bulk/transport.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { decodeStorageBulkCall } from '../../common/storage-bulk-calls.js';
import { pidAlive, useCluster } from '../harness/cluster.js';
import { MIB, processMemory } from '../security/testing/bulk-attacker.js';

const SEED = Number(process.env.SPINDLE_FUZZ_SEED ?? 16);
const STREAMS = Number(process.env.SPINDLE_FUZZ_STREAMS ?? 300);
/** Generous: a stream carries at most a few hundred KiB, and nothing outlives its connection. */
const MEMORY_GROWTH_MAX_BYTES = 300 * MIB;

describe('bulk frame parser fuzzed in this process', () => {
  const FUZZ_TOKEN = 'fuzz-token';
  const fuzzer: Principal = { role: 'client', user: 'fuzz', uid: 1000, gid: 1000 };
  const transport = new TcpBulkTransport({
    credential: FUZZ_TOKEN,
    authenticate: (credential) => (credential === FUZZ_TOKEN ? fuzzer : undefined),
  });
  let listener: BulkListener | undefined;
  afterAll(() => listener?.close());

  it('throws nothing, keeps memory bounded and serves a real session after', async () => {
    listener = await transport.listen('127.0.0.1', 0);
    // Requests are decoded as a storage node decodes them; a decodable one is answered empty.
    listener.handleRequests(async (payload) => {
      decodeStorageBulkCall(payload);
      return Buffer.alloc(0);
    });
    const before = process.memoryUsage().rss;
    const counts = await fuzzBulkPort({
      address: listener.address,
      seed: SEED,
      streams: STREAMS,
      credential: FUZZ_TOKEN,
    });
    process.stderr.write(`fuzz bulk in-process: ${JSON.stringify(counts)}\n`);
    expect(counts.streams).toBe(STREAMS);
    expect(counts.helloAcked).toBeGreaterThan(0);
    expect(counts.errorAnswers.INTERNAL ?? 0).toBe(0);

    const session = await transport.connect(listener.address, { timeoutMs: 10_000 });
    const server = await listener.channel(session.sessionId, 5_000);
    expect(server.principal).toEqual(fuzzer);
    await session.send(7, Buffer.from('still here'));
    expect((await server.receive(7, { timeoutMs: 10_000 })).toString()).toBe('still here');
    const refused = await session.call(Buffer.from([0xff]), { timeoutMs: 10_000 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(SpindleError);
    expect((refused as SpindleError).errorCode).toBe(ErrorCode.RPC_MALFORMED);
    session.close();
    expect(process.memoryUsage().rss - before).toBeLessThan(MEMORY_GROWTH_MAX_BYTES);
  }, 120_000);
});

describe('bulk frame parser fuzzed at a real storage node', () => {
  const cluster = useCluster({ storageNodes: 1, replicas: 1, targetsPerNode: 1 });

  it('the node survives, answers malformed calls with typed errors and still serves', async () => {
    const client = await cluster().client();
    const canary = Buffer.alloc(200 * 1024, 'bulk canary');
    await client.writeFile('/bulk-canary', canary);
    const service = cluster().local.storage.get(1)!;
    const bulkAddress = (service.ready as unknown as { bulk: string }).bulk;
    const before = processMemory(service.pid);
    const counts = await fuzzBulkPort({
      address: bulkAddress,
      seed: SEED + 1,
      streams: STREAMS,
      credential: cluster().clientToken,
    });
    process.stderr.write(`fuzz bulk storage node: ${JSON.stringify(counts)}\n`);
    expect(counts.helloAcked).toBeGreaterThan(0);
    expect(counts.errorAnswers.INTERNAL ?? 0).toBe(0);
    expect(pidAlive(service.pid)).toBe(true);
    const reader = await cluster().client();
    expect((await reader.readFile('/bulk-canary')).equals(canary)).toBe(true);
    const growth = processMemory(service.pid).residentBytes - before.residentBytes;
    process.stderr.write(`fuzz bulk storage node: RSS growth ${(growth / MIB).toFixed(1)} MiB\n`);
    expect(growth).toBeLessThan(MEMORY_GROWTH_MAX_BYTES);
  }, 180_000);
});
