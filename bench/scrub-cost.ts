// Suite `scrub`: what the background scrubber costs readers (issue 15). The same sequential read
// (4 MiB blocks, one client, bytes checked) on two clusters of this run: one whose storage nodes
// scrub continuously at the production rate (scrubBytesPerSec of the production preset, no pause
// between passes: scrubPassIntervalMs 0, where production waits a day) and one with the scrubber
// off (scrubBytesPerSec 0). Each reads the file three times (once with --quick); the median read
// stands. The "on" row's limit is the "off" figure, so its ratio is the cost. On a loaded machine
// that ratio moves with everyone else's load, so the notes also give the storage nodes' CPU seconds
// per GB read (from /proc: what the scrubber adds to the nodes' work, whatever the load) and the
// bytes the scrubbers checked per second meanwhile (showing they ran).
//
// Back of the envelope: at 32 MiB/s per node the three nodes read ~100 MB/s from their disks and
// CRC32C it (native CRC at several GB/s: ~3 % of one core); the read path moves ~1.5 GB/s on the
// same 2 cores. Expected ratio ≈ 0.9–1.0.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { storageConfig } from '../common/config.js';
import { MiB, GiB, type BenchContext, type Limit, type StorageVariant } from './context.js';
import { gbPerSecond, median } from './stats.js';
import type { Suite } from './suite.js';
import { BLOCK_BYTES, DEPTH } from './seq-write.js';

const SCRUB_BYTES_METRIC = 'spindle_storage_scrub_bytes_total';
/** A node's scrubber checks its first chunks within a second of finding any (storage/scrubber.ts). */
const SCRUB_START_WAIT_MS = 10_000;
/** Reads of the file per variant (one with --quick); the median stands, the load here moves each. */
const READ_ROUNDS = 3;

const SCRUB_OFF: StorageVariant = { name: 'scrub-off', storage: { scrubBytesPerSec: 0 } };

function scrubOn(bytesPerSec: number): StorageVariant {
  return { name: 'scrub-on', storage: { scrubBytesPerSec: bytesPerSec, scrubPassIntervalMs: 0 } };
}

/** Bytes the scrubbers of these storage nodes have checked since they started (their /metrics). */
async function scrubbedBytes(metricsAddresses: readonly string[]): Promise<number> {
  let total = 0;
  for (const address of metricsAddresses) {
    const text = await (await fetch(`http://${address}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${SCRUB_BYTES_METRIC} `));
    total += line === undefined ? 0 : Number(line.slice(SCRUB_BYTES_METRIC.length + 1));
  }
  return total;
}

/** Waits until the scrubbers have checked something (they start with the node), or throws. */
async function scrubberRunning(metricsAddresses: readonly string[]): Promise<void> {
  const deadline = Date.now() + SCRUB_START_WAIT_MS;
  while ((await scrubbedBytes(metricsAddresses)) === 0) {
    if (Date.now() > deadline)
      throw new Error(`the scrubbers checked nothing in ${SCRUB_START_WAIT_MS} ms: is scrubbing on?`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** CPU seconds (user + system) the processes `pids` have used so far (/proc, USER_HZ = 100). */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

interface ReadRound {
  gbps: number;
  bytes: number;
  ops: number;
  seconds: number;
  /** Storage nodes' CPU seconds per GB read. */
  cpuPerGb: number;
  scrubMBps: number;
}

/** One sequential read of the whole file, with the storage nodes' CPU time and scrubbing over it. */
async function readRound(ctx: BenchContext, meta: string, path: string, label: string, fileBytes: number) {
  const nodes = ctx.storageNodesOf(meta);
  const addresses = nodes.map((n) => n.metrics);
  const pids = nodes.map((n) => n.pid);
  const scrubbedBefore = await scrubbedBytes(addresses);
  const cpuBefore = cpuSeconds(pids);
  const sampledAtMs = performance.now();
  const read = ctx.worker(
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
    `${label}: sequential read`,
    fileBytes,
  );
  const run = await ctx.together(`${label}: seq-read`, [read]);
  // Over the time between the samples (the worker's start and exit included), not the read's own.
  const sampledSeconds = (performance.now() - sampledAtMs) / 1000;
  const cpu = cpuSeconds(pids) - cpuBefore;
  const scrubbed = (await scrubbedBytes(addresses)) - scrubbedBefore;
  const ops = run.results.flatMap((r) => r.ops);
  const bytes = ops.reduce((s, o) => s + o.bytes, 0);
  const round: ReadRound = {
    gbps: gbPerSecond(bytes, run.seconds),
    bytes,
    ops: ops.reduce((s, o) => s + o.ops, 0),
    seconds: run.seconds,
    cpuPerGb: cpu / (bytes / 1e9),
    scrubMBps: scrubbed / 1e6 / sampledSeconds,
  };
  return round;
}

async function measure(
  ctx: BenchContext,
  variant: StorageVariant,
  replicas: number,
  fileBytes: number,
  limit?: Limit,
): Promise<number> {
  const meta = await ctx.cluster(replicas, 'lmdb', 'on', variant);
  const path = ctx.created(`/bench-${variant.name}-${Date.now()}`);
  await ctx.together(`${variant.name}: writing the file`, [
    ctx.worker(
      { kind: 'seq-write', meta, path, offset: 0, bytes: fileBytes, blockBytes: BLOCK_BYTES, depth: DEPTH },
      'writing the file to read',
      fileBytes,
    ),
  ]);
  await ctx.warmStorageCaches();
  if (variant.storage.scrubBytesPerSec !== 0) await scrubberRunning(ctx.storageNodesOf(meta).map((n) => n.metrics));
  const rounds: ReadRound[] = [];
  for (let i = 0; i < (ctx.quick ? 1 : READ_ROUNDS); i++)
    rounds.push(await readRound(ctx, meta, path, variant.name, fileBytes));
  // The round of median throughput stands for the variant; CPU and scrub rate are medians too.
  const byThroughput = [...rounds].sort((a, b) => a.gbps - b.gbps);
  const mid = byThroughput[Math.floor(byThroughput.length / 2)]!;
  const cpuPerGb = median(rounds.map((r) => r.cpuPerGb));
  const scrubMBps = median(rounds.map((r) => r.scrubMBps));
  ctx.add({
    case: `${variant.name}.seq-read`,
    config: { ...variant.storage, replicas, clients: 1, block: '4MiB', depth: DEPTH, file: fileBytes },
    throughput: mid.gbps,
    unit: 'GB/s',
    bytes: mid.bytes,
    ops: mid.ops,
    seconds: mid.seconds,
    limit,
    notes:
      `bytes checked; median of ${rounds.length} reads (${rounds.map((r) => r.gbps.toFixed(3)).join(', ')} GB/s); ` +
      `storage nodes used ${cpuPerGb.toFixed(2)} CPU s per GB read; ` +
      `scrubbers checked ${scrubMBps.toFixed(1)} MB/s (all nodes) meanwhile`,
  });
  return mid.gbps;
}

/** The suite with a given file size (the test runs a tiny one). */
export async function runScrubCostSuite(ctx: BenchContext, fileBytes: number): Promise<void> {
  const replicas = Math.max(...(await ctx.replicaCounts()));
  // Off first (its cluster then idles: it does not scrub); its figure is the limit of the "on" row.
  const off = await measure(ctx, SCRUB_OFF, replicas, fileBytes);
  const limit: Limit = { name: `${SCRUB_OFF.name}.seq-read`, value: off, unit: 'GB/s' };
  await measure(ctx, scrubOn(storageConfig('production').scrubBytesPerSec), replicas, fileBytes, limit);
}

export const scrubCostSuite: Suite = {
  name: 'scrub',
  estimate: 'seq-read with the scrubber scrubbing continuously (production rate) ≈ 0.9–1.0× scrubber off',
  run: (ctx: BenchContext) => runScrubCostSuite(ctx, ctx.quick ? 128 * MiB : 1 * GiB),
};
