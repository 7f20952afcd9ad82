// Suite `rand-read`: aligned random reads of 4 KiB, 64 KiB and 1 MiB from one file, one client
// process, at several queue depths (reads in flight).
//
// Back of the envelope: concurrent small reads go to a node together, as one call on the bulk
// session (no grpc-js call); a call costs the client ≈ 10–40 µs of CPU plus a loopback send each
// way, so with ~5 reads per call 4 KiB reads reach ≈ 15–20k IOPS at depth 32 and ≈ 1–2k at depth 1
// (one round trip through two event loops each). 1 MiB reads are bandwidth bound like seq-read.
// Issue 4's target: 4 KiB at depth 32 ≥ 20,000 IOPS.
// The limit is a local page-cache pread of the same size (fs.readSync, one thread, same run).
import { MiB, GiB, type BenchContext, type Limit } from './context.js';
import { startCpuMeter } from './loader-cpu.js';
import type { Suite } from './suite.js';
import type { OpResult } from './worker-tasks.js';
import { BLOCK_BYTES, DEPTH } from './seq-write.js';

const RAND_SIZES = [4096, 64 * 1024, MiB];

/**
 * CPU per read of the client and of the storage nodes together: what the figure costs, which a
 * loaded machine (other processes on the two cores) changes far less than the IOPS themselves.
 */
function cpuPerRead(o: OpResult, storageSeconds: number): string {
  if (o.cpuSeconds === undefined || o.ops === 0) return '';
  const us = (seconds: number) => `${((seconds * 1e6) / o.ops).toFixed(0)} µs`;
  // With --meta the servers are not this run's: their CPU is not counted (0).
  const storage = storageSeconds > 0 ? `, storage nodes together ${us(storageSeconds)}` : '';
  return `CPU per read: client ${us(o.cpuSeconds)}${storage}`;
}

function sizeName(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB}m` : `${bytes / 1024}k`;
}

export const randReadSuite: Suite = {
  name: 'rand-read',
  estimate: '4 KiB: 1–2k IOPS at depth 1, 15–20k at depth 32; 1 MiB ≈ 0.5–1 GB/s',
  async run(ctx: BenchContext) {
    const fileBytes = ctx.quick ? 128 * MiB : 1 * GiB;
    const seconds = ctx.quick ? 1.5 : 5;
    const depths = ctx.randReadChoice.depths ?? (ctx.quick ? [1, 32] : [1, 4, 16, 32, 64]);
    const sizes = ctx.randReadChoice.blocks ?? RAND_SIZES;
    // The local limit for each size.
    const local = ctx.worker(
      {
        kind: 'fs-read',
        dir: ctx.scratch,
        fileBytes,
        blockBytes: MiB,
        passes: 1,
        randomSizes: sizes,
        randomSeconds: ctx.quick ? 0.5 : 2,
      },
      'local pread limits',
    );
    const localOps = (await ctx.together('local page-cache random pread', [local])).results[0]!.ops;
    const limits = new Map<number, Limit>();
    for (const size of sizes) {
      const o = localOps.find((x) => x.name === `rand.${size}`)!;
      const iops = o.ops / o.seconds;
      limits.set(size, { name: `fs.pread.${sizeName(size)}`, value: iops, unit: 'IOPS' });
      ctx.add({
        case: `limit.fs.pread.${sizeName(size)}`,
        config: { read: sizeName(size), call: 'fs.readSync', depth: 1 },
        throughput: iops,
        unit: 'IOPS',
        p50Ms: o.p50Ms,
        p99Ms: o.p99Ms,
        bytes: o.bytes,
        ops: o.ops,
        seconds: o.seconds,
      });
    }
    const replicas = Math.max(...(await ctx.replicaCounts()));
    const meta = await ctx.cluster(replicas);
    const path = ctx.created(`/bench-randr-${Date.now()}`);
    await ctx.together('rand-read: writing the file', [
      ctx.worker(
        { kind: 'seq-write', meta, path, offset: 0, bytes: fileBytes, blockBytes: BLOCK_BYTES, depth: DEPTH },
        'writing the file to read',
        fileBytes,
      ),
    ]);
    // Its limit is a page-cache pread: the servers' page cache gets the file too.
    await ctx.warmStorageCaches();
    for (const size of sizes) {
      for (const depth of depths) {
        const w = ctx.worker(
          { kind: 'rand-read', meta, path, fileBytes, blockBytes: size, depth, seconds, patternBytes: BLOCK_BYTES },
          `rand ${sizeName(size)} depth ${depth}`,
        );
        const meter = startCpuMeter(ctx.scratch);
        const o = (await ctx.together(`rand-read ${sizeName(size)} qd${depth}`, [w])).results[0]!.ops[0]!;
        const servers = meter();
        ctx.add({
          case: `read.${sizeName(size)}.qd${depth}`,
          config: { block: sizeName(size), depth, replicas, file: fileBytes, clients: 1 },
          throughput: o.ops / o.seconds,
          unit: 'IOPS',
          p50Ms: o.p50Ms,
          p99Ms: o.p99Ms,
          bytes: o.bytes,
          ops: o.ops,
          seconds: o.seconds,
          limit: limits.get(size)!,
          notes:
            [
              size === 4096 && depth === 32
                ? `${(o.ops / o.seconds / 20_000).toFixed(2)}× issue 4's target of 20,000 IOPS`
                : '',
              cpuPerRead(o, servers.storage),
            ]
              .filter((note) => note !== '')
              .join('; ') || undefined,
        });
      }
    }
  },
};
