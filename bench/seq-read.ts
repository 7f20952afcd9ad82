// Suite `seq-read`: sequential reads of one file through SpindleClient, by 1 and N clients that
// each read a disjoint range, on every replica count of the run. The file is written just before
// and the storage nodes' page cache is warmed (issue 4's target is stated for a warm server;
// storage writes with O_DIRECT, so writing alone leaves nothing cached).
//
// Back of the envelope: with the bulk data path a 4 MiB read is a small call plus one frame on one
// raw TCP session; every byte is copied three times (page cache → storage buffer → socket → the
// caller's buffer, where the client's socket reads land: docs/performance.md "Issue 14") and
// checksummed twice (segments on the storage node, the frame at the client), against two copies for
// raw TCP, and three storage nodes plus the client share 2 cores: ≈ 0.6–0.9× raw TCP loopback.
// Issue 4's target: ≥ 0.5× raw TCP, one client, 2 GiB; issue 14's: ≥ 0.7×.
// The limit (raw Node TCP, 1 connection, 1 MiB writes) is measured in the same run.
import { MiB, GiB, type BenchContext, type Limit } from './context.js';
import { gbPerSecond } from './stats.js';
import type { Suite } from './suite.js';
import { BLOCK_BYTES, DEPTH } from './seq-write.js';

export const seqReadSuite: Suite = {
  name: 'seq-read',
  estimate: '≈ 0.6–0.9× raw TCP (bulk frames: 3 copies and 2 CRCs per byte on 2 shared cores)',
  async run(ctx: BenchContext) {
    const fileBytes = ctx.quick ? 256 * MiB : 2 * GiB;
    const tcp = await ctx.tcpLimit(ctx.quick ? 1 * GiB : 2 * GiB);
    ctx.add({
      case: 'limit.tcp.loopback',
      config: { conns: 1, write: '1MiB' },
      throughput: tcp.gbps,
      unit: 'GB/s',
      bytes: 0,
      ops: 0,
      seconds: tcp.seconds,
    });
    const limit: Limit = { name: 'tcp.loopback', value: tcp.gbps, unit: 'GB/s' };
    const replicaCounts = await ctx.replicaCounts();
    // Reads run on the largest replica count asked for (reads are served by one replica either way).
    const replicas = Math.max(...replicaCounts);
    const meta = await ctx.cluster(replicas);
    const path = ctx.created(`/bench-seqr-${Date.now()}`);
    const writer = ctx.worker(
      { kind: 'seq-write', meta, path, offset: 0, bytes: fileBytes, blockBytes: BLOCK_BYTES, depth: DEPTH },
      'writing the file to read',
      fileBytes,
    );
    await ctx.together('seq-read: writing the file', [writer]);
    const warm = await ctx.warmStorageCaches();
    for (const clients of ctx.options.clients) {
      const per = Math.floor(fileBytes / clients / BLOCK_BYTES) * BLOCK_BYTES;
      const workers = Array.from({ length: clients }, (_, i) =>
        ctx.worker(
          {
            kind: 'seq-read',
            meta,
            path,
            offset: i * per,
            bytes: per,
            blockBytes: BLOCK_BYTES,
            depth: DEPTH,
            patternBytes: BLOCK_BYTES,
          },
          `read r${replicas} ${clients} client(s)`,
          per,
        ),
      );
      const { results, seconds } = await ctx.together(`seq-read x${clients}`, workers);
      const ops = results.flatMap((r) => r.ops);
      const bytes = ops.reduce((s, o) => s + o.bytes, 0);
      ctx.add({
        case: `read.r${replicas}.c${clients}`,
        config: { replicas, clients, block: '4MiB', depth: DEPTH, file: fileBytes },
        throughput: gbPerSecond(bytes, seconds),
        unit: 'GB/s',
        p50Ms: Math.max(...ops.map((o) => o.p50Ms ?? 0)),
        p99Ms: Math.max(...ops.map((o) => o.p99Ms ?? 0)),
        bytes,
        ops: ops.reduce((s, o) => s + o.ops, 0),
        seconds,
        limit,
        notes:
          [clients > 1 ? 'p50/p99: worst client' : '', warm ? '' : 'server page cache not warmed (--meta cluster)']
            .filter(Boolean)
            .join('; ') || undefined,
      });
    }
  },
};
