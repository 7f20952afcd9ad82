// Seeded hostile inputs for the fuzzers (fuzz-bulk.ts, fuzz-grpc.ts): random bytes, random
// protobuf-shaped messages (fields 1..24 of every wire type, nested messages, absurd lengths and
// varints), and mutations of a seed input (bit flips, byte runs, cuts, splices, duplicated and
// boundary values). The same seed gives the same inputs, so a failure replays from its seed.
import type { Rng } from '../common/clock.js';

/** Values a length or count field is tested with: zero, ones, powers of two and the integer edges. */
const BOUNDARY_U32 = [0, 1, 2, 255, 256, 65_535, 65_536, 2 ** 24, 2 ** 26, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
const BOUNDARY_VARINTS = [0n, 1n, 127n, 128n, 2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 64n - 1n];
/** Deepest nesting of generated messages (protobuf decoders recurse). */
const NESTING_MAX = 12;

export function randomBytes(rng: Rng, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  rng.fill(out);
  return out;
}

export function pick<T>(rng: Rng, values: readonly T[]): T {
  return values[rng.nextInt(values.length)]!;
}

function varint(value: bigint): Buffer {
  const bytes: number[] = [];
  let v = value & ((1n << 64n) - 1n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Buffer.from(bytes);
}

/** A random protobuf message: fields of every wire type, nested ones, sometimes lying about lengths. */
export function randomMessage(rng: Rng, depth = 0, maxBytes = 4096): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  const fields = rng.nextInt(8);
  for (let i = 0; i < fields && size < maxBytes; i++) {
    const field = 1 + rng.nextInt(24);
    const wire = pick(rng, [0, 0, 1, 2, 2, 2, 5, 3, 4, 6, 7]);
    const key = varint(BigInt((field << 3) | wire));
    let body: Buffer;
    if (wire === 0) {
      body = varint(rng.nextInt(3) === 0 ? pick(rng, BOUNDARY_VARINTS) : BigInt(rng.nextInt(1000)));
    } else if (wire === 1) {
      body = randomBytes(rng, 8);
    } else if (wire === 5) {
      body = randomBytes(rng, 4);
    } else if (wire === 2) {
      const content =
        depth < NESTING_MAX && rng.nextInt(2) === 0
          ? randomMessage(rng, depth + 1, maxBytes - size)
          : rng.nextInt(2) === 0
            ? Buffer.from(pick(rng, ['/', 'a', '..', '', 'x'.repeat(300), '/a/b', 'é', '\u0000']), 'utf8')
            : randomBytes(rng, rng.nextInt(64));
      // Sometimes the length lies (longer than what follows, or a boundary value).
      const length = rng.nextInt(8) === 0 ? BigInt(pick(rng, BOUNDARY_U32)) : BigInt(content.length);
      body = Buffer.concat([varint(length), content]);
    } else {
      body = Buffer.alloc(0); // groups and invalid wire types: the key alone
    }
    parts.push(key, body);
    size += key.length + body.length;
  }
  return Buffer.concat(parts);
}

/** One mutation of `input`: flips, runs of random or boundary bytes, cuts, duplications, splices. */
export function mutate(rng: Rng, input: Buffer, donor?: Buffer): Buffer {
  const out = Buffer.from(input);
  const at = (): number => (out.length === 0 ? 0 : rng.nextInt(out.length));
  switch (rng.nextInt(8)) {
    case 0: {
      for (let i = rng.nextInt(8) + 1; i > 0 && out.length > 0; i--) out[at()]! ^= 1 << rng.nextInt(8);
      return out;
    }
    case 1: {
      const start = at();
      return Buffer.concat([out.subarray(0, start), randomBytes(rng, 1 + rng.nextInt(16)), out.subarray(start)]);
    }
    case 2:
      return out.subarray(0, at());
    case 3:
      return out.subarray(at());
    case 4: {
      const start = at();
      const end = start + rng.nextInt(Math.max(1, out.length - start));
      return Buffer.concat([out.subarray(0, end), out.subarray(start, end), out.subarray(end)]);
    }
    case 5: {
      if (out.length < 4) return Buffer.concat([out, randomBytes(rng, 4)]);
      out.writeUInt32BE(pick(rng, BOUNDARY_U32), rng.nextInt(out.length - 3));
      return out;
    }
    case 6: {
      if (donor === undefined || donor.length === 0) return Buffer.concat([out, randomBytes(rng, 8)]);
      const start = rng.nextInt(donor.length);
      return Buffer.concat([out.subarray(0, at()), donor.subarray(start, start + 1 + rng.nextInt(64))]);
    }
    default: {
      const start = at();
      out.fill(pick(rng, [0x00, 0xff, 0x80, 0x7f]), start, Math.min(out.length, start + 1 + rng.nextInt(8)));
      return out;
    }
  }
}

/** `count` mutations applied one after another. */
export function mutateRepeatedly(rng: Rng, input: Buffer, count: number, donor?: Buffer): Buffer {
  let out = input;
  for (let i = 0; i < count; i++) out = mutate(rng, out, donor);
  return out;
}
