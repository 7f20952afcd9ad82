// The I/O backend under a target's block files (block-files.ts): how bytes reach the data files.
// Two implementations pass the same tests (block-files.test.ts, chunk-engine.test.ts run against
// both):
// - `fs` (fs-block-io.ts): node:fs on libuv's threadpool; whole-block writes through an O_DIRECT
//   descriptor where the file system allows it, everything else buffered.
// - `uring` (uring-block-io.ts): the native/uring addon, one io_uring per process; whole-block
//   writes and large reads through O_DIRECT, small and unaligned ones through a buffered descriptor
//   on the same ring.
// chooseBlockIo() picks one when a chunk engine opens: the mode comes from the option, else
// $SPINDLE_BLOCK_IO (fs | uring | auto), else auto. `auto` probes the addon in the target directory
// (load it, create the ring, one aligned O_DIRECT write + read back) and takes BLOCK_IO_PREFERRED
// when that works, fs otherwise, and says why either way. `uring` fails the open when the probe
// fails (so a deployment that asked for it notices); `fs` never probes.
import { ErrorCode, SpindleError } from '../../common/errors.js';

export type BlockIoKind = 'fs' | 'uring';
export type BlockIoMode = BlockIoKind | 'auto';

/** Environment variable that forces a backend (fs | uring | auto). */
export const BLOCK_IO_ENV = 'SPINDLE_BLOCK_IO';
/**
 * What `auto` takes when the io_uring probe passes. docs/performance.md "Storage I/O backend" has
 * the measurement behind it (native/uring/measure.ts: 4 MiB aligned writes and reads of 1 GiB).
 */
export const BLOCK_IO_PREFERRED: BlockIoKind = 'uring';
/**
 * Whether the uring backend reads large ranges with O_DIRECT (true) or through the page cache like
 * the fs backend (false). Through the page cache: data read again (every epoch of a training run,
 * a warm server) comes from memory at 3–4.6 GB/s instead of the device's ~0.3–0.7 GB/s (cold reads
 * cost more CPU that way); docs/performance.md "Storage I/O backend" has both measurements.
 */
export const URING_DIRECT_READS = false;
/** Reads of at least this many bytes (after widening to the alignment) go through O_DIRECT (uring). */
export const DIRECT_READ_MIN_BYTES = 64 * 1024;
/** Submission queue entries of the process's ring (the completion queue is twice as large). */
export const URING_RING_ENTRIES = 128;
/** Longest wait between retries of a failed io_uring submit (transient: EAGAIN, EBUSY). */
export const URING_FLUSH_RETRY_MAX_MS = 100;
/** Operations in flight on the ring at once; more wait in a FIFO (stays below the completion queue size). */
export const URING_INFLIGHT_MAX = 128;

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

export interface ChooseBlockIoOptions {
  /** The mode asked for (config); default $SPINDLE_BLOCK_IO, else auto. */
  mode?: BlockIoMode;
  /** Where $SPINDLE_BLOCK_IO is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The io_uring probe (default probeUring from uring-block-io.ts; tests pass a failing one). */
  probe?: (dir: string) => Promise<{ ok: boolean; reason: string }>;
}

/**
 * Picks the backend for a target directory. See the file comment for the rules. Imports the
 * implementations lazily so a process that never opens a target never loads the addon.
 */
export async function chooseBlockIo(dir: string, options: ChooseBlockIoOptions = {}): Promise<BlockIoChoice> {
  const { mode, source } = blockIoModeOf(options.mode, options.env ?? process.env);
  const { FsBlockIo } = await import('./fs-block-io.js');
  if (mode === 'fs') return { io: new FsBlockIo(), kind: 'fs', reason: `fs asked for (${source})` };
  const { probeUring, UringBlockIo } = await import('./uring-block-io.js');
  const probe = await (options.probe ?? probeUring)(dir);
  if (mode === 'uring') {
    if (!probe.ok) {
      throw new SpindleError(
        ErrorCode.CONFIG_INVALID,
        `block I/O backend uring asked for (${source}) but unusable in ${dir}: ${probe.reason}`,
      );
    }
    return { io: new UringBlockIo(), kind: 'uring', reason: `uring asked for (${source}); ${probe.reason}` };
  }
  if (!probe.ok) return { io: new FsBlockIo(), kind: 'fs', reason: `fs: io_uring unusable (${probe.reason})` };
  if (BLOCK_IO_PREFERRED === 'fs')
    return { io: new FsBlockIo(), kind: 'fs', reason: `fs preferred by auto (io_uring works: ${probe.reason})` };
  return { io: new UringBlockIo(), kind: 'uring', reason: `uring preferred by auto; ${probe.reason}` };
}

/**
 * Page-aligned buffers for O_DIRECT writes, kept by size (multiples of BOUNCE_STEP_BYTES) up to
 * `limitBytes` in all. `allocate(size)` must return memory aligned to the O_DIRECT alignment.
 */
export class BouncePool {
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;

  constructor(
    private readonly allocate: (size: number) => Buffer,
    private readonly limitBytes: number,
    private readonly stepBytes: number,
  ) {}

  take(length: number): Buffer {
    const size = Math.max(1, Math.ceil(length / this.stepBytes)) * this.stepBytes;
    const pooled = this.free.get(size)?.pop();
    if (pooled !== undefined) {
      this.freeBytes -= size;
      return pooled;
    }
    return this.allocate(size);
  }

  give(buffer: Buffer): void {
    if (this.freeBytes + buffer.length > this.limitBytes) return;
    this.freeBytes += buffer.length;
    let list = this.free.get(buffer.length);
    if (list === undefined) {
      list = [];
      this.free.set(buffer.length, list);
    }
    list.push(buffer);
  }
}
