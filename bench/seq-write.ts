// Suite `seq-write`: sequential writes through SpindleClient, 1 and N clients (one process each),
// on clusters with 1 and 3 replicas (3 storage nodes, 3 targets each, all on this host and disk).
//
// Back of the envelope: with R replicas every byte is written R times to the one disk, so the
// ceiling is O_DIRECT disk write ÷ R (≈1.1 GB/s ÷ 3 ≈ 0.37 GB/s for R=3; writes land in the page
// cache first, so short runs can beat it); the hops (client → head → successors, bulk frames on
// raw TCP, sharing 2 cores with every replica's copy, checksum and commit) bound it next:
// R=1 ≈ 0.4–0.6 GB/s, R=3 ≈ 0.15–0.25 GB/s.
// Issue 4's target: R=3 ≥ 0.6 × (O_DIRECT write ÷ 3). The limit (dd oflag=direct) is measured
// in the same run, before the cluster writes.
import { MiB, GiB, type BenchContext, type Limit } from './context.js';
import { gbPerSecond } from './stats.js';
import type { Suite } from './suite.js';

export const BLOCK_BYTES = 4 * MiB;
export const DEPTH = 4;

export const seqWriteSuite: Suite = {
  name: 'seq-write',
  estimate: 'R=1 ≈ 0.4–0.6 GB/s, R=3 ≈ 0.15–0.25 GB/s (disk write ÷ R, then the hops)',
  async run(ctx: BenchContext) {
    const total = ctx.quick ? 256 * MiB : 2 * GiB;
    const disk = await ctx.ddDirect('write', ctx.quick ? 256 * MiB : 1 * GiB);
    ctx.add({
      case: 'limit.disk.odirect.write',
      config: { tool: 'dd', bs: '4MiB', oflag: 'direct' },
      throughput: disk.gbps,
      unit: 'GB/s',
      bytes: 0,
      ops: 0,
      seconds: disk.seconds,
    });
    for (const replicas of await ctx.replicaCounts()) {
      const meta = await ctx.cluster(replicas);
      const limit: Limit = {
        name: replicas === 1 ? 'disk.odirect.write' : `disk.odirect.write/${replicas}`,
        value: disk.gbps / replicas,
        unit: 'GB/s',
      };
      for (const clients of ctx.options.clients) {
        const per = Math.floor(total / clients / BLOCK_BYTES) * BLOCK_BYTES;
        const stamp = Date.now();
        const workers = Array.from({ length: clients }, (_, i) =>
          ctx.worker(
            {
              kind: 'seq-write',
              meta,
              path: ctx.created(`/bench-seqw-${stamp}-${i}`),
              offset: 0,
              bytes: per,
              blockBytes: BLOCK_BYTES,
              depth: DEPTH,
            },
            `write r${replicas} ${clients} client(s)`,
            per,
          ),
        );
        const { results, seconds } = await ctx.together(`seq-write r${replicas} x${clients}`, workers);
        const ops = results.flatMap((r) => r.ops);
        const bytes = ops.reduce((s, o) => s + o.bytes, 0);
        // Latency percentiles over all clients: the workers report their own p50/p99; take the worst.
        const p50 = Math.max(...ops.map((o) => o.p50Ms ?? 0));
        const p99 = Math.max(...ops.map((o) => o.p99Ms ?? 0));
        ctx.add({
          case: `write.r${replicas}.c${clients}`,
          config: { replicas, clients, block: '4MiB', depth: DEPTH, bytes },
          throughput: gbPerSecond(bytes, seconds),
          unit: 'GB/s',
          p50Ms: p50,
          p99Ms: p99,
          bytes,
          ops: ops.reduce((s, o) => s + o.ops, 0),
          seconds,
          limit,
          notes: clients > 1 ? 'p50/p99: worst client' : undefined,
        });
      }
    }
  },
};
