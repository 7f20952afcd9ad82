// The Feistel round function of permutation.ts and its keys. Guarantees: the keys are a pure
// function of (seed, epoch) — SplitMix64 (common/clock.ts) on BigInt, the same on every machine —
// and distinct epochs of one seed give distinct key streams; the round function is murmur3's fmix32
// applied twice around the round's two 32-bit keys, so every output bit depends on every input bit.
import { SplitMix64 } from '../../common/clock.js';

/** murmur3's 32-bit finalizer: a bijection on [0, 2^32) with full avalanche. */
function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Two 32-bit keys per round, derived from (seed, epoch). */
export class RoundKeys {
  private readonly inner: Uint32Array;
  private readonly outer: Uint32Array;

  /** `seed` and `epoch` are safe non-negative integers (checked by the caller). */
  constructor(seed: number, epoch: number, rounds: number) {
    // The first SplitMix64 output is a bijection of the seed, so xor-ing the epoch into it keeps
    // (seed, epoch) pairs of one seed apart.
    const seedKey = new SplitMix64(seed).nextU64();
    const rng = new SplitMix64(seedKey ^ BigInt(epoch));
    this.inner = new Uint32Array(rounds);
    this.outer = new Uint32Array(rounds);
    for (let round = 0; round < rounds; round++) {
      this.inner[round] = rng.nextU32();
      this.outer[round] = rng.nextU32();
    }
  }

  /** The round function F(key, round, half): 32 mixed bits of a half (an integer < 2^32). */
  mix(round: number, half: number): number {
    return fmix32((fmix32(half ^ this.inner[round]!) + this.outer[round]!) >>> 0);
  }
}
