// A keyed pseudo-random bijection of [0, size) for any size in [1, 2^53 - 1], computed per index in
// O(1) memory. Guarantees: `at` is a bijection and `indexOf` its inverse; the order is a pure
// function of (size, seed, epoch), identical on every machine and Node version.
//
// How: a balanced Feistel network of FEISTEL_ROUNDS rounds over 2h bits, h = max(2, ceil(b / 2))
// where 2^b is the smallest power of two >= size, so the Feistel domain is less than 4·size (16
// for size <= 16) and cycle walking (re-encrypting until the value is < size) takes fewer than four
// steps on average. A value is kept as its two halves, so intermediate values up to 2^54 stay exact.
import { requireIndex, requireInteger } from './integer-args.js';
import { RoundKeys } from './round-keys.js';

/** Feistel rounds: four make a strong pseudo-random permutation (Luby–Rackoff); two more for small domains. */
const FEISTEL_ROUNDS = 6;
const MIN_HALF_BITS = 2;

export class Permutation {
  readonly size: number;
  /** 2^h: the number of values of one half. */
  private readonly halfRange: number;
  private readonly halfMask: number;
  private readonly keys: RoundKeys;

  constructor(size: number, seed: number, epoch: number) {
    this.size = requireInteger('datasetSize', size, 1);
    requireInteger('seed', seed, 0);
    requireInteger('epoch', epoch, 0);
    let bits = 0;
    while (2 ** bits < size) bits++;
    const halfBits = Math.max(MIN_HALF_BITS, Math.ceil(bits / 2));
    this.halfRange = 2 ** halfBits;
    this.halfMask = this.halfRange - 1;
    this.keys = new RoundKeys(seed, epoch, FEISTEL_ROUNDS);
  }

  /** The element at `position` of the shuffled order (a sample index in [0, size)). */
  at(position: number): number {
    requireIndex('position', position, this.size);
    let left = Math.floor(position / this.halfRange);
    let right = position % this.halfRange;
    do {
      for (let round = 0; round < FEISTEL_ROUNDS; round++) {
        const next = (left ^ this.keys.mix(round, right)) & this.halfMask;
        left = right;
        right = next;
      }
      // A sum >= 2^53 may round, but never below 2^53 > size: the comparison stays exact.
    } while (left * this.halfRange + right >= this.size);
    return left * this.halfRange + right;
  }

  /** The position of `sampleIndex` in the shuffled order: at(indexOf(i)) === i. */
  indexOf(sampleIndex: number): number {
    requireIndex('sampleIndex', sampleIndex, this.size);
    let left = Math.floor(sampleIndex / this.halfRange);
    let right = sampleIndex % this.halfRange;
    do {
      for (let round = FEISTEL_ROUNDS - 1; round >= 0; round--) {
        const previous = (right ^ this.keys.mix(round, left)) & this.halfMask;
        right = left;
        left = previous;
      }
    } while (left * this.halfRange + right >= this.size);
    return left * this.halfRange + right;
  }
}
