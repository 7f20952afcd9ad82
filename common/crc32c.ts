// CRC32C (Castagnoli), the checksum of chunks, bulk frames and checkpoint shards.
// Incremental: crc32c(b, crc32c(a)) === crc32c(a ‖ b).
//
// Two implementations, chosen once at load: the `native/crc32c` addon (SSE4.2, three interleaved
// streams: ~20 GB/s on this machine; built by scripts/setup.sh) when it is built and the CPU has
// SSE4.2, else @node-rs/crc32 (~4.7 GB/s here). Every chunk byte is checksummed several times on
// its way (segment checks on disk, bulk frames), so the difference is a large share of a storage
// node's and a reader's CPU (docs/performance.md). SPINDLE_CRC32C=node-rs forces the fallback.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BUILD_ADDONS_HINT, nativeAddonPath } from './package-root.js';
import { crc32c as nodeRsCrc32c } from '@node-rs/crc32';

interface Crc32cAddon {
  supported: boolean;
  crc32c(data: Uint8Array, initial: number): number;
}

const ADDON_PATH = nativeAddonPath('crc32c');

/** Which implementation this process uses ('sse42-3way' or 'node-rs'), and why (spindle doctor). */
export const crc32cImplementation: { name: 'sse42-3way' | 'node-rs'; reason: string } = { name: 'node-rs', reason: '' };

function loadAddon(): Crc32cAddon | undefined {
  if (process.env['SPINDLE_CRC32C'] === 'node-rs') {
    crc32cImplementation.reason = 'SPINDLE_CRC32C=node-rs';
    return undefined;
  }
  if (!existsSync(ADDON_PATH)) {
    crc32cImplementation.reason = `the native/crc32c addon is not built (${ADDON_PATH}); ${BUILD_ADDONS_HINT}`;
    return undefined;
  }
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as Crc32cAddon;
    if (!addon.supported) {
      crc32cImplementation.reason = 'this CPU has no SSE4.2';
      return undefined;
    }
    crc32cImplementation.name = 'sse42-3way';
    crc32cImplementation.reason = 'native/crc32c addon (SSE4.2, three streams)';
    return addon;
  } catch (err) {
    crc32cImplementation.reason = `the native/crc32c addon failed to load: ${(err as Error).message}`;
    return undefined;
  }
}

const addon = loadAddon();

/** Below this many bytes the fallback's call is as cheap (both are one N-API call). */
const ADDON_MIN_BYTES = 64;

/** CRC32C of `data`, continuing from `initial` (the CRC of the bytes before it; 0 to start). */
export function crc32c(data: Uint8Array, initial = 0): number {
  if (addon !== undefined && data.length >= ADDON_MIN_BYTES) return addon.crc32c(data, initial >>> 0) >>> 0;
  return nodeRsCrc32c(data as Buffer, initial) >>> 0;
}

/** CRC32C of several buffers in order, as if they were concatenated. */
export function crc32cOf(parts: Iterable<Uint8Array>, initial = 0): number {
  let crc = initial;
  for (const part of parts) crc = crc32c(part, crc);
  return crc;
}

// --- Combining CRCs without the bytes ------------------------------------------------------------
// crc32cCombine(crc(A), crc(B), |B|) === crc(A ‖ B). Appending |B| bytes to A multiplies A's CRC
// state by a fixed 32×32 matrix over GF(2) (the effect of shifting in |B| zero bytes); B's CRC
// then adds in (zlib's crc32_combine, for the reflected Castagnoli polynomial). The matrix for a
// length is built by repeated squaring and cached, so combining the CRCs of fixed-size segments
// (chunk metadata keeps one per 64 KiB) costs 32 XORs per segment instead of a pass over 64 KiB.

const CASTAGNOLI_REFLECTED = 0x82f63b78;

function matrixTimes(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  for (let i = 0, v = vector >>> 0; v !== 0; i++, v >>>= 1) if (v & 1) sum ^= matrix[i]!;
  return sum >>> 0;
}

function matrixProduct(a: Uint32Array, b: Uint32Array): Uint32Array {
  // (a·b)[n] = a applied to b's column n: shifting by b's length, then by a's.
  const out = new Uint32Array(32);
  for (let n = 0; n < 32; n++) out[n] = matrixTimes(a, b[n]!);
  return out;
}

/** The operator that appends `length` zero bytes to a CRC state. */
function zeroBytesOperator(length: number): Uint32Array {
  // One zero bit: the CRC register shifts right and folds the polynomial in.
  let power: Uint32Array = new Uint32Array(32);
  power[0] = CASTAGNOLI_REFLECTED;
  for (let n = 1; n < 32; n++) power[n] = (1 << (n - 1)) >>> 0;
  for (let i = 0; i < 3; i++) power = matrixProduct(power, power); // 8 bits = one byte
  let result: Uint32Array | undefined;
  for (let remaining = length; remaining > 0; remaining = Math.floor(remaining / 2)) {
    if (remaining % 2 === 1) result = result === undefined ? power : matrixProduct(power, result);
    if (remaining > 1) power = matrixProduct(power, power);
  }
  return result ?? identity();
}

function identity(): Uint32Array {
  const out = new Uint32Array(32);
  for (let n = 0; n < 32; n++) out[n] = (1 << n) >>> 0;
  return out;
}

const OPERATOR_CACHE_MAX = 64;
const operators = new Map<number, Uint32Array>();

function operatorFor(length: number): Uint32Array {
  let op = operators.get(length);
  if (op === undefined) {
    op = zeroBytesOperator(length);
    if (operators.size >= OPERATOR_CACHE_MAX) operators.delete(operators.keys().next().value!);
    operators.set(length, op);
  }
  return op;
}

/** CRC32C of A ‖ B from crc(A), crc(B) and the length of B in bytes. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (!(Number.isSafeInteger(lengthB) && lengthB >= 0))
    throw new RangeError(`crc32cCombine: length ${lengthB} is not a non-negative integer`);
  if (lengthB === 0) return crcA >>> 0;
  // The CRC's pre- and post-inversion cancel out here exactly as in zlib's crc32_combine.
  return (matrixTimes(operatorFor(lengthB), crcA) ^ crcB) >>> 0;
}
