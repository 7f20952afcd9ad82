// The I/O backend under a target's block files (block-files.ts): how bytes reach the data files.
// This file is the contract both backends implement and import (BlockIo, BlockFile) plus the
// backend modes; it imports no backend, so the backends can depend on it without a cycle.
// Two implementations pass the same tests (block-files.test.ts, chunk-engine.test.ts run against
// both):
// - `fs` (fs-block-io.ts): node:fs on libuv's threadpool; whole-block writes through an O_DIRECT
//   descriptor where the file system allows it, everything else buffered.
// - `uring` (uring-block-io.ts): the native/uring addon, one io_uring per process; whole-block
//   writes and large reads through O_DIRECT, small and unaligned ones through a buffered descriptor
//   on the same ring.
// choose-block-io.ts picks one when a chunk engine opens.
import { ErrorCode, SpindleError } from '../../common/errors.js';

export type BlockIoKind = 'fs' | 'uring';
export type BlockIoMode = BlockIoKind | 'auto';

/** Environment variable that forces a backend (fs | uring | auto). */
export const BLOCK_IO_ENV = 'SPINDLE_BLOCK_IO';
/**
 * What `auto` takes when the io_uring probe passes. docs/performance.md "Storage I/O backend" has
 * the measurement behind it (bench/tools/uring-measure.ts: 4 MiB aligned writes and reads of 1 GiB).
 */
export const BLOCK_IO_PREFERRED: BlockIoKind = 'uring';

/** One data file, opened for reading and writing (created when missing). */
export interface BlockFile {
  /** True when aligned whole-block writes go through O_DIRECT (false: the file system refused it). */
  readonly direct: boolean;
  /**
   * Reads `length` bytes at `position`; bytes past the end of the file read as zeros. Returns
   * `into` (filled from index 0) when given, else a new Buffer of `length` bytes.
   */
  read(position: number, length: number, into?: Buffer): Promise<Buffer>;
  /**
   * Writes all of `data` at `position` (not yet durable: call sync). `roomBytes` is how far past
   * `position` the write may extend: an O_DIRECT write pads `data` with zeros up to the alignment,
   * and does so only when the padding fits.
   */
  write(position: number, data: Uint8Array, roomBytes: number): Promise<void>;
  /** fdatasync of the file. */
  sync(): Promise<void>;
  /** Closes the descriptors once the operations in flight are done. Idempotent. */
  close(): Promise<void>;
}

export interface BlockIo {
  readonly kind: BlockIoKind;
  /** Opens (creating when missing) a data file; `direct` asks for O_DIRECT whole-block writes. */
  open(path: string, options: { direct: boolean }): Promise<BlockFile>;
}

/** The backend a chunk engine uses, and why (for the log, `spindle doctor` and tests). */
export interface BlockIoChoice {
  io: BlockIo;
  kind: BlockIoKind;
  /** The mode asked for and where it came from, plus the probe's outcome. */
  reason: string;
}

/** Parses a mode (from config or $SPINDLE_BLOCK_IO); CONFIG_INVALID names the source. */
export function parseBlockIoMode(value: string, source: string): BlockIoMode {
  const mode = value.trim().toLowerCase();
  if (mode === 'fs' || mode === 'uring' || mode === 'auto') return mode;
  throw new SpindleError(
    ErrorCode.CONFIG_INVALID,
    `${source}: unknown block I/O backend ${JSON.stringify(value)} (use fs, uring or auto)`,
  );
}

/** The mode from the option, else $SPINDLE_BLOCK_IO, else auto, with where it came from. */
export function blockIoModeOf(
  option: BlockIoMode | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { mode: BlockIoMode; source: string } {
  if (option !== undefined) return { mode: parseBlockIoMode(option, 'blockIo option'), source: 'option' };
  const fromEnv = env[BLOCK_IO_ENV];
  if (fromEnv !== undefined && fromEnv !== '')
    return { mode: parseBlockIoMode(fromEnv, BLOCK_IO_ENV), source: `${BLOCK_IO_ENV}=${fromEnv}` };
  return { mode: 'auto', source: 'default' };
}
