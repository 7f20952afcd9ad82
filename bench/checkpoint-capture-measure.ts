// The async save's capture in one process, old way against new, on the same buffer (not a test):
//
//   node --import tsx bench/checkpoint-capture-measure.ts [mib=512] [rounds=3]
//
// "fresh": every 4 MiB piece a new Buffer and the copy loop never yields (what capture.ts did
// before the staging pool). "pool": captureBytes into a StagingPool of the whole size, as
// Checkpoints.save does now — first a pool allocated during the copy ("pool, first use"), then the
// same pool again ("pool, reused": every later save, or the first after prepareStaging()). For each:
// the copy's wall time, and the longest gap between event-loop turns during it (how long a
// metadata answer, begin's, would wait). A writer releases each piece as it comes, in all three.
// Back of the envelope: a memcpy of 512 MiB is ≈ 0.1–0.2 s on warm memory; fresh memory adds a
// page fault per 4 KiB (131,072 of them, ≈ 2–5 µs each: ≈ 0.3–0.6 s).
import { performance } from 'node:perf_hooks';
import { captureBytes } from '../client/checkpoints/capture.js';
import { CAPTURE_PIECE_BYTES } from '../client/checkpoints/constants.js';
import { StagingPool } from '../client/checkpoints/staging-pool.js';

const MiB = 1024 * 1024;
const mib = Number(process.argv[2] ?? 512);
const rounds = Number(process.argv[3] ?? 3);

/** Longest gap between two turns of a 1 ms interval while `run` runs, in ms. */
async function withLag(run: () => Promise<void>): Promise<{ ms: number; lagMs: number }> {
  let last = performance.now();
  let lagMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    lagMs = Math.max(lagMs, now - last);
    last = now;
  }, 1);
  const start = performance.now();
  last = start;
  await run();
  const ms = performance.now() - start;
  clearInterval(timer);
  lagMs = Math.max(lagMs, performance.now() - last);
  return { ms, lagMs };
}

async function freshCopy(data: Buffer): Promise<void> {
  const pieces: Buffer[] = [];
  for (let from = 0; from < data.length; from += CAPTURE_PIECE_BYTES) {
    pieces.push(Buffer.from(data.subarray(from, from + CAPTURE_PIECE_BYTES)));
    await Promise.resolve(); // an already-resolved permit: no turn of the event loop
  }
}

async function poolCopy(data: Buffer, pool: StagingPool): Promise<void> {
  const capture = captureBytes(data, pool, Promise.resolve());
  const held: Array<() => void> = [];
  const writer = (async () => {
    for await (const piece of capture.pieces) held.push(piece.release);
  })();
  await capture.captured;
  await writer;
  for (const release of held) release();
  capture.discard();
}

function row(name: string, result: { ms: number; lagMs: number }): void {
  const gbps = (mib * MiB) / (result.ms / 1000) / 1e9;
  console.log(
    `${name.padEnd(18)} ${result.ms.toFixed(0).padStart(6)} ms  ${gbps.toFixed(2).padStart(5)} GB/s  ` +
      `longest event-loop gap ${result.lagMs.toFixed(1)} ms`,
  );
}

const data = Buffer.allocUnsafe(mib * MiB).fill(7);
console.log(`capture of ${mib} MiB in ${CAPTURE_PIECE_BYTES / MiB} MiB pieces, ${rounds} rounds`);
for (let round = 0; round < rounds; round++) {
  row('fresh, no yield', await withLag(() => freshCopy(data)));
  const pool = new StagingPool(Math.ceil((mib * MiB) / CAPTURE_PIECE_BYTES), CAPTURE_PIECE_BYTES);
  row('pool, first use', await withLag(() => poolCopy(data, pool)));
  row('pool, reused', await withLag(() => poolCopy(data, pool)));
}
