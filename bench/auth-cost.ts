// Suite `auth`: what authentication costs (issue 16). The same sequential read (4 MiB blocks, one
// client) and 4 KiB random read (depth 32, one client) on two clusters of this run, one with bearer
// tokens checked on every call and bulk session (the default) and one started with auth 'off';
// each "on" row's limit is the matching "off" figure, so its ratio is the cost.
//
// Back of the envelope: a token is verified once per server (one Ed25519 check, ~50 µs) and is a
// Map lookup after that; the client sets one metadata entry per call and sends ~250 more header
// bytes (HPACK keeps them in its table after the first call on a connection). Against 10–40 µs of
// CPU per call, the expected cost is within the run-to-run spread: ratio ≈ 0.95–1.0.
import { MiB, GiB, type BenchContext, type Limit } from './context.js';
import { gbPerSecond } from './stats.js';
import type { Suite } from './suite.js';
import { BLOCK_BYTES, DEPTH } from './seq-write.js';

const RAND_BLOCK_BYTES = 4096;
const RAND_DEPTH = 32;

interface Figures {
  seqGbps: number;
  randIops: number;
}

async function measure(
  ctx: BenchContext,
  auth: 'on' | 'off',
  replicas: number,
  limits?: { seq: Limit; rand: Limit },
): Promise<Figures> {
  const fileBytes = ctx.quick ? 128 * MiB : 1 * GiB;
  const seconds = ctx.quick ? 1.5 : 5;
  const meta = await ctx.cluster(replicas, 'lmdb', auth);
  const path = ctx.created(`/bench-auth-${auth}-${Date.now()}`);
  await ctx.together(`auth ${auth}: writing the file`, [
    ctx.worker(
      { kind: 'seq-write', meta, path, offset: 0, bytes: fileBytes, blockBytes: BLOCK_BYTES, depth: DEPTH },
      'writing the file to read',
      fileBytes,
    ),
  ]);
  await ctx.warmStorageCaches();
  const seq = ctx.worker(
    {
      kind: 'seq-read',
      meta,
      path,
      offset: 0,
      bytes: fileBytes,
      blockBytes: BLOCK_BYTES,
      depth: DEPTH,
      patternBytes: BLOCK_BYTES,
    },
    `auth ${auth}: sequential read`,
    fileBytes,
  );
  const seqRun = await ctx.together(`auth ${auth}: seq-read`, [seq]);
  const seqBytes = seqRun.results.flatMap((r) => r.ops).reduce((s, o) => s + o.bytes, 0);
  const rand = ctx.worker(
    {
      kind: 'rand-read',
      meta,
      path,
      fileBytes,
      blockBytes: RAND_BLOCK_BYTES,
      depth: RAND_DEPTH,
      seconds,
      patternBytes: BLOCK_BYTES,
    },
    `auth ${auth}: 4 KiB random reads`,
  );
  const o = (await ctx.together(`auth ${auth}: rand-read 4k`, [rand])).results[0]!.ops[0]!;
  ctx.add({
    case: `auth.${auth}.seq-read`,
    config: { auth, replicas, clients: 1, block: '4MiB', depth: DEPTH, file: fileBytes },
    throughput: gbPerSecond(seqBytes, seqRun.seconds),
    unit: 'GB/s',
    bytes: seqBytes,
    ops: seqRun.results.flatMap((r) => r.ops).reduce((s, x) => s + x.ops, 0),
    seconds: seqRun.seconds,
    limit: limits?.seq,
  });
  ctx.add({
    case: `auth.${auth}.read.4k.qd${RAND_DEPTH}`,
    config: { auth, replicas, clients: 1, block: '4k', depth: RAND_DEPTH, file: fileBytes },
    throughput: o.ops / o.seconds,
    unit: 'IOPS',
    p50Ms: o.p50Ms,
    p99Ms: o.p99Ms,
    bytes: o.bytes,
    ops: o.ops,
    seconds: o.seconds,
    limit: limits?.rand,
  });
  return { seqGbps: gbPerSecond(seqBytes, seqRun.seconds), randIops: o.ops / o.seconds };
}

export const authCostSuite: Suite = {
  name: 'auth',
  estimate: 'auth on ≈ 0.95–1.0× auth off for 4 MiB sequential and 4 KiB random reads',
  async run(ctx: BenchContext) {
    const replicas = Math.max(...(await ctx.replicaCounts()));
    // Off first: its figures are the limits of the "on" rows that follow.
    const off = await measure(ctx, 'off', replicas);
    const seqLimit: Limit = { name: 'auth.off.seq-read', value: off.seqGbps, unit: 'GB/s' };
    const randLimit: Limit = { name: `auth.off.read.4k.qd${RAND_DEPTH}`, value: off.randIops, unit: 'IOPS' };
    await measure(ctx, 'on', replicas, { seq: seqLimit, rand: randLimit });
  },
};
