// Shared pieces of the process-level fault tests (test/faults/): polling the manager's routing,
// a client write stream that records what was acknowledged, byte comparison with a useful message,
// and the check that every replica of every chain holds the same chunks.
import { expect } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import { chainForChunk } from '../../common/placement.js';
import type { FileHandle } from '../../client/file-handle.js';
import type { SpindleClient } from '../../client/index.js';
import { PublicTargetState, type ChainInfo, type RoutingInfo } from '../../proto/index.js';
import {
  readChunkFrom,
  replicaDifferences,
  routingOf,
  StorageClients,
  type ReplicaChunk,
} from '../harness/replicas.js';

export const MiB = 1024 * 1024;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls the manager until `predicate` holds (errors while meta is down count as "not yet"). */
export async function waitForRouting(
  metaAddress: string,
  what: string,
  predicate: (routing: RoutingInfo) => boolean,
  timeoutMs = 60_000,
): Promise<RoutingInfo> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const routing = await routingOf(metaAddress);
      if (predicate(routing)) return routing;
    } catch (err) {
      lastError = ` (last error: ${(err as Error).message})`;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError}`);
    await sleep(25);
  }
}

/** Polls `condition` (never a fixed sleep as an assertion). */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const targetsOfNode = (routing: RoutingInfo, nodeId: number) =>
  routing.targets.filter((t) => t.nodeId === nodeId);
export const allServing = (routing: RoutingInfo) =>
  routing.targets.every((t) => t.publicState === PublicTargetState.SERVING);

/** Equal bytes; on a difference, says where. */
export function expectSame(got: Buffer, want: Buffer, what = 'bytes'): void {
  if (got.equals(want)) return;
  let at = 0;
  while (at < Math.min(got.length, want.length) && got[at] === want[at]) at++;
  expect({ length: got.length, firstDifference: at }, what).toEqual({
    length: want.length,
    firstDifference: want.length,
  });
}

/** The chain holding the chunk at byte `offset` of the file at `path`, as routing has it now. */
export async function chainAt(
  client: SpindleClient,
  path: string,
  routing: RoutingInfo,
  offset: number,
): Promise<ChainInfo> {
  const layout = (await client.stat(path)).layout!;
  const table = routing.chainTables.find(
    (t) => t.tableId === layout.chainTableId && t.version === layout.chainTableVersion,
  );
  if (table === undefined)
    throw new Error(`chain table ${layout.chainTableId} v${layout.chainTableVersion} not in routing`);
  const chainId = chainForChunk(layout, table.chainIds, Math.floor(offset / layout.chunkSizeBytes));
  return routing.chains.find((c) => c.chainId === chainId)!;
}

/**
 * Writes `data` to `handle` in `block`-byte writes, `depth` in flight, in file order; records
 * every acknowledged block (and every failed one). `next` is the offset the stream writes next.
 */
export class WriteStream {
  readonly acked = new Set<number>();
  readonly failures: string[] = [];
  /** When each failed write was started (Date.now()). */
  readonly failedStartedAt: number[] = [];
  ackedBytes = 0;
  next = 0;
  readonly done: Promise<void>;
  /** Acknowledged bytes at each `mark(name)`. */
  readonly marks = new Map<string, number>();

  constructor(
    private readonly handle: FileHandle,
    readonly data: Buffer,
    readonly block: number,
    depth: number,
  ) {
    this.done = Promise.all(Array.from({ length: depth }, () => this.worker())).then(() => undefined);
  }

  mark(name: string): void {
    this.marks.set(name, this.ackedBytes);
  }

  private async worker(): Promise<void> {
    while (this.next < this.data.length) {
      const at = this.next;
      this.next += this.block;
      const bytes = this.data.subarray(at, at + this.block);
      const started = Date.now();
      try {
        await this.handle.writeBytes(bytes, at);
        this.acked.add(at);
        this.ackedBytes += bytes.length;
      } catch (err) {
        this.failures.push(`write of ${bytes.length} bytes at ${at}: ${(err as Error).message}`);
        this.failedStartedAt.push(started);
      }
    }
  }

  /** Bytes from offset 0 acknowledged without a gap. */
  ackedPrefix(): number {
    let at = 0;
    while (this.acked.has(at)) at += this.block;
    return Math.min(at, this.data.length);
  }

  /** Every acknowledged block of `got` equals what was written. */
  expectAckedReadBack(got: Buffer): void {
    const wrong: number[] = [];
    for (const at of [...this.acked].sort((a, b) => a - b)) {
      const want = this.data.subarray(at, at + this.block);
      if (!got.subarray(at, at + want.length).equals(want)) wrong.push(at);
    }
    expect(wrong, `acknowledged blocks that read back wrong (of ${this.acked.size})`).toEqual([]);
  }
}

/**
 * Every replica of every chain holds the same chunks (version, length, CRC, nothing pending); the
 * chunks of `files` also hold the expected bytes: their CRC everywhere, and the bytes themselves on
 * every replica for every `byteSampleEvery`-th chunk. With `acknowledgedChunks`, only those must
 * exist (the others were written by writes that failed).
 */
export async function expectReplicasIdentical(
  metaAddress: string,
  replicas: number,
  files: Array<{ ino: number; data: Buffer; chunkSize: number; acknowledgedChunks?: Set<number> }>,
  byteSampleEvery = 8,
): Promise<number> {
  const storage = new StorageClients();
  try {
    const routing = await routingOf(metaAddress);
    const { differences, rows } = await replicaDifferences(storage, routing, replicas);
    expect(differences, 'replicas of every chain identical').toEqual([]);
    for (const file of files) {
      const mine = rows.filter((r) => r.meta.chunk!.ino === file.ino);
      const byIndex = new Map<number, ReplicaChunk[]>();
      for (const row of mine) byIndex.set(row.meta.chunk!.index, [...(byIndex.get(row.meta.chunk!.index) ?? []), row]);
      if (file.acknowledgedChunks === undefined) {
        expect(byIndex.size, `chunks of inode ${file.ino}`).toBe(Math.ceil(file.data.length / file.chunkSize));
      } else {
        // A write that failed (never acknowledged) may have left its chunk or not; every acknowledged one is there.
        const missing = [...file.acknowledgedChunks].filter((index) => !byIndex.has(index));
        expect(missing, `acknowledged chunks of inode ${file.ino} missing`).toEqual([]);
      }
      for (const [index, copies] of byIndex) {
        const want = file.data.subarray(index * file.chunkSize, (index + 1) * file.chunkSize);
        expect(copies[0]!.meta.crc32c, `CRC of chunk ${file.ino}/${index}`).toBe(crc32c(want));
        if (index % byteSampleEvery !== 0) continue;
        const chain = routing.chains.find((c) => c.chainId === copies[0]!.chainId)!;
        for (const copy of copies) {
          const bytes = await readChunkFrom(storage, copy.address, chain, { ino: file.ino, index }, file.chunkSize);
          expect(bytes.equals(want), `bytes of chunk ${file.ino}/${index} on target ${copy.targetId}`).toBe(true);
        }
      }
    }
    return rows.length;
  } finally {
    storage.close();
  }
}

/**
 * The largest figure docs/failures.md quotes for each timing the fault tests log (ms). A test
 * checks its own measurement against BOUND_FACTOR times it: not a speed assertion (figures move
 * with load), a liveness one — a failover or restart that stops finishing in several times what
 * the docs promise fails a test instead of only printing a slower number.
 */
export const QUOTED_MS = {
  /** Storage kill -9: kill → declared failed, chains reconfigured (runs A–F). */
  killDetected: 2_840,
  /** Storage kill -9: restart → process ready. */
  killRestartReady: 5_600,
  /** Storage kill -9: restart → all its targets serving (resync done). */
  killRestartServing: 10_200,
  /** Meta kill -9: kill → meta ready again. */
  metaReady: 10_300,
  /** Meta kill -9: kill → every target serving. */
  metaServing: 12_300,
  /** Meta kill -9: kill → every client resumed. */
  metaResumed: 21_400,
  /** Partition: cut → isolated node refuses reads. */
  partitionStoppedServing: 1_590,
  /** Partition: cut → declared failed, chains reconfigured. */
  partitionDetected: 3_010,
  /** Partition: heal → serving (resync done). */
  partitionHealServing: 4_600,
  /** Manager on etcd: kill -9 of the manager → the standby answers Mgmt. */
  etcdTakeover: 1_900,
  /** Manager on etcd: → the workload moves on again. */
  etcdWorkloadResumed: 5_400,
} as const;

/** How many times the quoted figure a measurement may take (the issue asked for 3–5×). */
const BOUND_FACTOR = 4;

/** Fails when `measuredMs` is more than BOUND_FACTOR times the figure docs/failures.md quotes. */
export function expectWithinQuoted(what: keyof typeof QUOTED_MS, measuredMs: number): void {
  const boundMs = QUOTED_MS[what] * BOUND_FACTOR;
  expect(measuredMs, `${what}: ${measuredMs} ms, docs/failures.md quotes ≤ ${QUOTED_MS[what]} ms`).toBeLessThanOrEqual(
    boundMs,
  );
}
