// The read benchmarks check their bytes: ReadCheck against the written pattern, and the real
// seq-read and rand-read workers over a file a seq-write worker wrote on a test cluster (a worker
// whose reads returned zeros, or the wrong block, would exit with an error instead of a figure).
import { describe, expect, it } from 'vitest';
import { useCluster } from '../test/harness/cluster.js';
import { ReadCheck } from './read-check.js';
import { runTogether, spawnWorker } from './workers.js';

const PATTERN_BYTES = 1024 * 1024;

/** A pattern like the workers' (no byte equal to its neighbour's at small shifts). */
function pattern(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 131 + (i >> 8)) & 0xff;
  return out;
}

describe('ReadCheck', () => {
  const written = pattern(64 * 1024);
  const fileBytes = (at: number, length: number) =>
    Buffer.from(Array.from({ length }, (_, i) => written[(at + i) % written.length]!));

  it('passes reads of the written bytes, wherever they start', () => {
    const check = new ReadCheck(written);
    for (const at of [0, 4096, 65_536 - 100, 3 * 65_536 + 17]) check.sample(fileBytes(at, 8192), 8192, 8192, at);
    expect(() => check.verify('reads')).not.toThrow();
  });

  it('fails reads of zeros, of another block, and short reads', () => {
    for (const [buf, bytesRead, at] of [
      [Buffer.alloc(8192), 8192, 0],
      [fileBytes(4096, 8192), 8192, 0],
      [fileBytes(0, 8192), 8000, 0],
    ] as const) {
      const check = new ReadCheck(written);
      check.sample(buf, 8192, bytesRead, at);
      expect(() => check.verify('reads')).toThrow(/1 of 1 reads returned wrong bytes/);
    }
  });
});

describe('the seq-read and rand-read workers', () => {
  const cluster = useCluster({ storageNodes: 1, replicas: 1, targetsPerNode: 1 });

  it('read back what seq-write wrote, checking it', async () => {
    const meta = cluster().metaAddress;
    const path = '/bench-read-check';
    const bytes = 8 * PATTERN_BYTES;
    await runTogether([
      spawnWorker({ kind: 'seq-write', meta, path, offset: 0, bytes, blockBytes: PATTERN_BYTES, depth: 2 }),
    ]);
    const common = { meta, path, blockBytes: 256 * 1024, depth: 4, patternBytes: PATTERN_BYTES };
    const { results } = await runTogether([
      spawnWorker({ kind: 'seq-read', offset: 0, bytes, ...common }),
      spawnWorker({ kind: 'rand-read', fileBytes: bytes, seconds: 1, ...common }),
    ]);
    expect(results[0]!.ops[0]!.bytes).toBe(bytes);
    expect(results[1]!.ops[0]!.ops).toBeGreaterThan(0);
  }, 120_000);
});
