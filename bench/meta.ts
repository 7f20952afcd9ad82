// Suite `meta`: mdtest-like metadata operations through SpindleClient — create (open wx + close),
// stat, readdir (of the directory holding all files), rename and delete — one client process,
// sequential (1 in flight) and with many in flight.
//
// Back of the envelope: sequentially every operation is one grpc-js unary call into meta, which
// runs one lmdb transaction (writes are batched by lmdb-js, ≈ 300k puts/s; reads ≈ 340k/s), so
// round trips bound it: ≈ 1–3k ops/s. With 64 in flight the client coalesces stats, creates,
// renames and deletes into BatchStat/BatchOpen/BatchRename/BatchRemove calls (client/meta-rpc.ts)
// and meta runs a batch of creates, renames or deletes as one transaction, so CPU per operation
// bounds it — measured ≈ 60–90 µs per stat and ≈ 190–260 µs per create over client and meta
// together (docs/performance.md): ≈ 20k stats/s and 5–8k creates/s on two free cores; a rename or
// delete costs ≈ 120 µs in the namespace, so ≈ 8k/s. A readdir page is packed (names and ids as
// byte arrays) and holds 8,192 entries: a listing of 5,000 is one call, ≈ 1–2 ms.
// Issue 4's targets: create ≥ 5,000 and stat ≥ 20,000 ops/s with many in flight.
// The limit is the same operation on the local file system (ext4, synchronous Node calls, same run).
// A bare grpc-js unary round trip (echo between two processes, one call at a time) is measured in
// the same run too (limit.grpc.unary.qd1): every depth-1 row is one or more of them, and its note
// gives the row as a multiple of that floor.
// With `--kv lmdb,etcd` the same operations run again on a cluster whose metadata is in a local
// etcd-server (two meta processes; the client sends its namespace calls to one): each create is
// an etcd transaction after a few reads at one revision, so etcd's own put rate — measured in the
// same run, 1 and 32 in flight — is that row's limit (≈ 1k and 3.5k puts/s on this machine).
import type { BenchContext, Limit } from './context.js';
import { measureEtcdPuts } from './etcd-limit.js';
import type { Suite } from './suite.js';

/** Targets of the rows with many in flight: issue 4's for create and stat, issue 14's for rename and delete. */
const TARGETS: Record<string, { opsPerSecond: number; issue: number }> = {
  create: { opsPerSecond: 5000, issue: 4 },
  stat: { opsPerSecond: 20000, issue: 4 },
  rename: { opsPerSecond: 8000, issue: 14 },
  delete: { opsPerSecond: 8000, issue: 14 },
};

export const metaSuite: Suite = {
  name: 'meta',
  estimate: '≈ 1–3k ops/s sequential; 64 in flight: ≈ 20k stats/s, 5–8k creates/s, ≈ 8k renames/deletes/s',
  async run(ctx: BenchContext) {
    const count = ctx.quick ? 1000 : 5000;
    const readdirs = ctx.quick ? 20 : 100;
    const limits = await localFsLimits(ctx, count, readdirs);
    const rpc = await grpcUnaryLimit(ctx, count);
    const replicas = Math.max(...(await ctx.replicaCounts()));
    for (const kv of ctx.options.meta === undefined ? ctx.options.kv : ['lmdb' as const]) {
      const meta = await ctx.cluster(replicas, kv);
      const etcd = kv === 'etcd' ? await etcdLimits(ctx, replicas, count) : undefined;
      await measure(ctx, { meta, kv, count, readdirs, limits: etcd ?? limits, rpc });
    }
  },
};

/**
 * The local file system's metadata operations (node:fs, sync) on `count` files, added as limit rows
 * `limit.fs.<op>` (only the ops in `only`, when given); returns the limits by op name.
 */
export async function localFsLimits(
  ctx: BenchContext,
  count: number,
  readdirs: number,
  only?: readonly string[],
): Promise<Map<string, Limit>> {
  const local = ctx.worker(
    { kind: 'fs-meta', dir: ctx.scratch, count, readdirs },
    'local fs metadata',
    count * 4 + readdirs,
    'ops',
  );
  const limits = new Map<string, Limit>();
  for (const o of (await ctx.together('local fs mdtest-like', [local])).results[0]!.ops) {
    if (only !== undefined && !only.includes(o.name)) continue;
    const rate = o.ops / o.seconds;
    limits.set(o.name, { name: `fs.${o.name}`, value: rate, unit: 'ops/s' });
    ctx.add({
      case: `limit.fs.${o.name}`,
      config: { op: o.name, call: 'node:fs sync', files: count },
      throughput: rate,
      unit: 'ops/s',
      p50Ms: o.p50Ms,
      p99Ms: o.p99Ms,
      bytes: 0,
      ops: o.ops,
      seconds: o.seconds,
    });
  }
  return limits;
}

interface MeasureOptions {
  meta: string;
  kv: 'lmdb' | 'etcd';
  count: number;
  readdirs: number;
  /** The raw limit of each row: the local file system's, or etcd's puts for the etcd rows. */
  limits: Map<string, Limit>;
  /** Bare grpc-js unary calls per second, one at a time (the floor of every depth-1 row). */
  rpc: number;
}

/**
 * The floor under every depth-1 row: a bare grpc-js unary round trip between two worker processes
 * (echo of 64 bytes, no handler work), `count` calls one at a time, as a limit row.
 */
async function grpcUnaryLimit(ctx: BenchContext, count: number): Promise<number> {
  const server = ctx.worker({ kind: 'grpc-echo-server' }, 'grpc-js echo server');
  try {
    const { port } = (await server.ready) as { port: number };
    const client = ctx.worker({ kind: 'grpc-echo-client', port, count }, 'bare grpc-js unary calls', count, 'ops');
    const o = (await ctx.together('bare grpc-js unary round trips', [client])).results[0]!.ops[0]!;
    const rate = o.ops / o.seconds;
    ctx.add({
      case: 'limit.grpc.unary.qd1',
      config: { call: 'grpc-js unary echo, 64 B, two processes', depth: 1, calls: count },
      throughput: rate,
      unit: 'ops/s',
      p50Ms: o.p50Ms,
      p99Ms: o.p99Ms,
      bytes: 0,
      ops: o.ops,
      seconds: o.seconds,
    });
    return rate;
  } finally {
    server.stop();
  }
}

/** The raw limit of metadata on etcd, as rows, and the limit each etcd row is compared with. */
async function etcdLimits(ctx: BenchContext, replicas: number, count: number): Promise<Map<string, Limit>> {
  const endpoints = ctx.etcdEndpoints(replicas)!;
  const rates = await measureEtcdPuts(endpoints, count);
  const limits = new Map<string, Limit>();
  for (const [depth, value] of [
    [1, rates.sequential],
    [32, rates.inFlight32],
  ] as const) {
    const limit: Limit = { name: `etcd.put.qd${depth}`, value, unit: 'ops/s' };
    ctx.add({
      case: `limit.etcd.put.qd${depth}`,
      config: { op: 'put', call: 'etcd3 put, 200 B values', depth, keys: count },
      throughput: value,
      unit: 'ops/s',
      bytes: 0,
      ops: count,
      seconds: count / value,
    });
    // Sequential rows compare with sequential puts; many in flight with 32 in flight.
    for (const op of ['create', 'stat', 'readdir', 'rename', 'delete'])
      limits.set(`${op}.qd${depth === 1 ? 1 : 64}`, limit);
  }
  return limits;
}

async function measure(ctx: BenchContext, o: MeasureOptions): Promise<void> {
  const { meta, kv, count, readdirs, limits, rpc } = o;
  for (const depth of [1, 64]) {
    const dir = ctx.created(`/bench-meta-${Date.now()}-qd${depth}`);
    const w = ctx.worker(
      { kind: 'meta-ops', meta, dir, count, readdirs, depth },
      `meta ops, ${depth} in flight`,
      count * 4 + readdirs,
      'ops',
    );
    const ops = (await ctx.together(`meta depth ${depth}`, [w])).results[0]!.ops;
    for (const o of ops) {
      const rate = o.ops / o.seconds;
      const target = TARGETS[o.name];
      ctx.add({
        // lmdb rows keep their names (the history in docs/performance.md); etcd rows say etcd.
        case: `${kv === 'lmdb' ? '' : `${kv}.`}${o.name}.qd${depth}`,
        config: { op: o.name, depth, files: count, kv, ...(o.name === 'readdir' ? { entries: count } : {}) },
        throughput: rate,
        unit: 'ops/s',
        p50Ms: o.p50Ms,
        p99Ms: o.p99Ms,
        bytes: 0,
        ops: o.ops,
        seconds: o.seconds,
        limit: limits.get(o.name) ?? limits.get(`${o.name}.qd${depth}`)!,
        notes:
          target !== undefined && depth > 1 && kv === 'lmdb'
            ? `${(rate / target.opsPerSecond).toFixed(2)}× issue ${target.issue}'s target of ` +
              `${target.opsPerSecond.toLocaleString('en-US')} ops/s`
            : depth === 1
              ? `${(rate / rpc).toFixed(2)}× a bare grpc-js unary round trip (limit.grpc.unary.qd1)`
              : undefined,
      });
    }
  }
}
