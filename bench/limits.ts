// Suite `limits`: the raw limits of this machine that Spindle's figures are divided by.
//
// Back of the envelope (docs/performance.md, 2 cores, loopback, tuned malloc):
//   raw Node TCP, 1 connection, 1 MiB writes ........ 3–4 GB/s (one core per side, memcpy-bound)
//   Node http2 stream, 16 MiB window ................ ~3.3 GB/s
//   local fs page-cache read (fs.readSync 1 MiB) .... ~15 GB/s (memory bandwidth ÷ ~1.3)
//   O_DIRECT disk write / read (dd, 4 MiB) .......... 1.1 / 1.7 GB/s (virtual disk)
//   4 KiB write + fdatasync ........................ ~3k ops/s
// Each figure is measured once with --quick, and as the median of three runs otherwise.
import { MiB, GiB, type BenchContext } from './context.js';
import { gbPerSecond, median } from './stats.js';
import type { Suite } from './suite.js';

async function repeat<T extends { gbps: number; seconds: number }>(
  n: number,
  fn: () => Promise<T>,
): Promise<{ gbps: number; seconds: number; all: number[] }> {
  const all: T[] = [];
  for (let i = 0; i < n; i++) all.push(await fn());
  const gbps = median(all.map((r) => r.gbps));
  return { gbps, seconds: all.reduce((s, r) => s + r.seconds, 0), all: all.map((r) => r.gbps) };
}

function spread(all: number[]): string | undefined {
  return all.length > 1 ? `median of ${all.length}: ${all.map((v) => v.toFixed(2)).join(', ')} GB/s` : undefined;
}

export const limitsSuite: Suite = {
  name: 'limits',
  estimate: 'TCP 3–4 GB/s, http2 ~3.3 GB/s, page cache ~15 GB/s, O_DIRECT 1.1/1.7 GB/s, fsync ~3k ops/s',
  async run(ctx: BenchContext) {
    const runs = ctx.quick ? 1 : 3;
    const netBytes = ctx.quick ? 1 * GiB : 2 * GiB;
    const tcp = await repeat(runs, () => ctx.tcpLimit(netBytes));
    ctx.add({
      case: 'tcp.loopback',
      config: { conns: 1, write: '1MiB', bytes: netBytes },
      throughput: tcp.gbps,
      unit: 'GB/s',
      bytes: netBytes,
      ops: netBytes / MiB,
      seconds: tcp.seconds,
      notes: spread(tcp.all),
    });

    const h2 = await repeat(runs, () => ctx.h2Limit(netBytes));
    ctx.add({
      case: 'http2.stream',
      config: { window: '16MiB', write: '1MiB', bytes: netBytes },
      throughput: h2.gbps,
      unit: 'GB/s',
      bytes: netBytes,
      ops: netBytes / MiB,
      seconds: h2.seconds,
      notes: spread(h2.all),
    });

    const fileBytes = ctx.quick ? 512 * MiB : 1 * GiB;
    const pc = ctx.worker(
      { kind: 'fs-read', dir: ctx.scratch, fileBytes, blockBytes: MiB, passes: ctx.quick ? 2 : 4, randomSeconds: 0 },
      'page-cache read',
    );
    const { results } = await ctx.together('local fs page-cache read, 1 MiB', [pc]);
    const seq = results[0]!.ops[0]!;
    ctx.add({
      case: 'fs.pagecache.read',
      config: { read: '1MiB', call: 'fs.readSync', file: fileBytes },
      throughput: gbPerSecond(seq.bytes, seq.seconds),
      unit: 'GB/s',
      bytes: seq.bytes,
      ops: seq.ops,
      seconds: seq.seconds,
    });

    const diskBytes = ctx.quick ? 256 * MiB : 1 * GiB;
    const w = await repeat(runs, () => ctx.ddDirect('write', diskBytes));
    ctx.add({
      case: 'disk.odirect.write',
      config: { tool: 'dd', bs: '4MiB', oflag: 'direct', bytes: diskBytes },
      throughput: w.gbps,
      unit: 'GB/s',
      bytes: diskBytes,
      ops: diskBytes / (4 * MiB),
      seconds: w.seconds,
      notes: spread(w.all),
    });
    const r = await repeat(runs, () => ctx.ddDirect('read', diskBytes));
    ctx.add({
      case: 'disk.odirect.read',
      config: { tool: 'dd', bs: '4MiB', iflag: 'direct', bytes: diskBytes },
      throughput: r.gbps,
      unit: 'GB/s',
      bytes: diskBytes,
      ops: diskBytes / (4 * MiB),
      seconds: r.seconds,
      notes: spread(r.all),
    });

    const count = ctx.quick ? 500 : 2000;
    const fs = ctx.worker({ kind: 'fsync', dir: ctx.scratch, count, writeBytes: 4096 }, 'fsync 4 KiB', count, 'writes');
    const f = (await ctx.together('4 KiB write + fdatasync', [fs])).results[0]!.ops[0]!;
    ctx.add({
      case: 'fsync.4k',
      config: { write: '4KiB', sync: 'fdatasync', file: 'preallocated', count },
      throughput: f.ops / f.seconds,
      unit: 'ops/s',
      p50Ms: f.p50Ms,
      p99Ms: f.p99Ms,
      bytes: f.bytes,
      ops: f.ops,
      seconds: f.seconds,
    });
  },
};
