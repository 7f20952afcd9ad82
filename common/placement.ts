// Data placement: which chain holds chunk i of a file. Every client computes it from the file's
// Layout and the chain table alone, without asking meta, so the function is frozen: pinned test
// vectors in placement.test.ts guard it, and any change to its output is a data-placement break
// (existing files would be read from the wrong chains).
//
// Definition (docs/architecture.md "Layout and placement"):
//  1. n = tableChainIds.length, w = layout.stripeWidth, 1 <= w <= n.
//     base = layout.chainBase mod n (chainBase is any safe non-negative integer).
//  2. chains[k] = tableChainIds[(base + k) mod n] for k = 0 … w-1 (consecutive, wrapping).
//  3. Seed: layout.shuffleSeed is a uint64 carried as a JS number; it must be a safe non-negative
//     integer (ts-proto refuses larger values), and its exact integer value is the 64-bit seed.
//     The generator is SplitMix64 (clock.ts: state += 0x9e3779b97f4a7c15, then the mix), whose
//     first output is the mix of seed + gamma.
//  4. Fisher–Yates, from the top: for i = w-1 down to 1: j = draw(i + 1); swap chains[i], chains[j].
//     draw(m) is unbiased rejection sampling on 64-bit outputs: take x = next output; if
//     x >= 2^64 - (2^64 mod m) take the next output instead; else j = x mod m.
//  5. Chunk c lives on chains[c mod w].
import type { Layout } from '../proto/index.js';
import { SplitMix64, uniformBelow } from './clock.js';
import { ErrorCode, SpindleError } from './errors.js';

type PlacementLayout = Pick<Layout, 'stripeWidth' | 'chainBase' | 'shuffleSeed'>;

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, `placement: ${message}`);
}

function computeFileChains(layout: PlacementLayout, tableChainIds: readonly number[]): number[] {
  const n = tableChainIds.length;
  const width = layout.stripeWidth;
  if (n === 0) throw invalid('the chain table has no chains');
  if (!Number.isSafeInteger(width) || width < 1) throw invalid(`stripe width must be >= 1, got ${width}`);
  if (width > n) throw invalid(`stripe width ${width} exceeds the ${n} chains of the chain table`);
  if (!Number.isSafeInteger(layout.chainBase) || layout.chainBase < 0) {
    throw invalid(`chain base must be a non-negative integer, got ${layout.chainBase}`);
  }
  if (!Number.isSafeInteger(layout.shuffleSeed) || layout.shuffleSeed < 0) {
    throw invalid(`shuffle seed must be an integer in [0, 2^53), got ${layout.shuffleSeed}`);
  }
  const base = layout.chainBase % n;
  const chains: number[] = [];
  for (let k = 0; k < width; k++) chains.push(tableChainIds[(base + k) % n]!);
  const rng = new SplitMix64(BigInt(layout.shuffleSeed));
  for (let i = width - 1; i >= 1; i--) {
    const j = Number(uniformBelow(rng, BigInt(i + 1)));
    const swap = chains[i]!;
    chains[i] = chains[j]!;
    chains[j] = swap;
  }
  return chains;
}

/** The file's chains in stripe order: chunk i lives on result[i % layout.stripeWidth]. */
export function fileChains(layout: PlacementLayout, tableChainIds: readonly number[]): number[] {
  return computeFileChains(layout, tableChainIds);
}

/** The chain id holding chunk `chunkIndex` of a file with this layout. */
export function chainForChunk(layout: PlacementLayout, tableChainIds: readonly number[], chunkIndex: number): number {
  if (!Number.isSafeInteger(chunkIndex) || chunkIndex < 0) {
    throw invalid(`chunk index must be a non-negative integer, got ${chunkIndex}`);
  }
  // Recomputed per call: a shuffle of w entries costs w-1 draws (microseconds), far below one chunk I/O.
  return computeFileChains(layout, tableChainIds)[chunkIndex % layout.stripeWidth]!;
}
