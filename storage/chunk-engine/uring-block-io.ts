// The io_uring block I/O backend (block-io.ts) on the native/uring addon.
//
// Descriptors are opened with node:fs (a buffered one, and an O_DIRECT one when `direct` is on and
// the file system allows it) and their fds handed to the addon, which queues reads, writes and
// fdatasyncs on the process's one ring. Operations started in the same tick go to the kernel
// together: the first one schedules a flush() in a microtask, and one io_uring_enter submits the
// batch. At most URING_INFLIGHT_MAX operations are in flight; more wait in FIFO order.
//
// Memory for O_DIRECT comes from the addon's allocAligned() (posix_memalign, wrapped as an
// external ArrayBuffer the GC frees): writes copy the caller's bytes into a pooled aligned bounce
// buffer, padded with zeros inside the block (one copy, as the fs backend does: bytes from gRPC are
// never aligned); large reads widen the range to the alignment, read into a pooled aligned bounce
// buffer and copy the range out (one copy, as the kernel makes for a buffered read). Small or unaligned
// reads and writes, and appends in place, go through the buffered descriptor on the same ring.
import { existsSync } from 'node:fs';
import { mkdir, rm, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BUILD_ADDONS_HINT, nativeAddonPath } from '../../common/package-root.js';
import {
  DIRECT_ALIGN_BYTES,
  DIRECT_BOUNCE_POOL_BYTES,
  DIRECT_READ_MIN_BYTES,
  DIRECT_WRITE_MIN_BYTES,
  URING_DIRECT_READS,
  URING_FLUSH_RETRY_MAX_MS,
  URING_INFLIGHT_MAX,
  URING_RING_ENTRIES,
} from '../constants.js';
import type { BlockFile, BlockIo } from './block-io.js';
import { BouncePool } from './bounce-pool.js';
import { openDirect, openReadWrite } from './fs-block-io.js';

/** The addon's surface (native/uring/src/addon.cc). */
export interface UringAddon {
  /** Creates the ring of this JS environment (idempotent). Throws an errno Error when io_uring is unavailable. */
  setup(entries?: number): UringInfo;
  info(): UringInfo | null;
  /** Queues a read of up to view.byteLength bytes; resolves with the bytes read (less only at end of file). */
  read(fd: number, view: Uint8Array, position: number): Promise<number>;
  /** Queues a write of all of view; resolves with view.byteLength. */
  write(fd: number, view: Uint8Array, position: number): Promise<number>;
  datasync(fd: number): Promise<number>;
  /** Submits what is queued (one io_uring_enter); returns how many. */
  flush(): number;
  /** Memory aligned to ALIGN_BYTES, freed by the GC; contents undefined. */
  allocAligned(length: number): ArrayBuffer;
  readonly ALIGN_BYTES: number;
  readonly IO_SIZE_MAX_BYTES: number;
}

interface UringInfo {
  entries: number;
  cqEntries: number;
  features: number;
  inflight: number;
  queued: number;
}

/** Where node-gyp puts the addon (scripts/setup.sh builds it). */
export const URING_ADDON_PATH = nativeAddonPath('uring');

let loaded: UringAddon | undefined;
let loadError: Error | undefined;

/** The addon with its ring set up, or an Error saying why not (cached: one attempt per process). */
export function loadUringAddon(): UringAddon {
  if (loaded !== undefined) return loaded;
  if (loadError !== undefined) throw loadError;
  try {
    if (!existsSync(URING_ADDON_PATH)) {
      throw Object.assign(
        new Error(
          `the io_uring addon is not built (${URING_ADDON_PATH} is missing): ` +
            `${BUILD_ADDONS_HINT} (it installs liburing-dev and builds native/uring)`,
        ),
        { code: 'ENOSYS' },
      );
    }
    const addon = createRequire(import.meta.url)(URING_ADDON_PATH) as UringAddon;
    addon.setup(URING_RING_ENTRIES);
    loaded = addon;
    return addon;
  } catch (err) {
    loadError = err instanceof Error ? err : new Error(String(err));
    throw loadError;
  }
}

let probeSeq = 0;

/**
 * Whether the io_uring backend works in `dir`: the addon loads, the ring exists, and an aligned
 * 4 KiB O_DIRECT write + fdatasync + read through the ring returns the bytes written. Leaves no file.
 */
export async function probeUring(dir: string): Promise<{ ok: boolean; reason: string }> {
  let addon: UringAddon;
  try {
    addon = loadUringAddon();
  } catch (err) {
    return { ok: false, reason: `addon: ${(err as Error).message}` };
  }
  const path = join(dir, `.spindle-uring-probe-${process.pid}-${probeSeq++}`);
  let fh: FileHandle | undefined;
  let directFh: FileHandle | undefined;
  try {
    await mkdir(dir, { recursive: true });
    fh = await openReadWrite(path);
    directFh = await openDirect(path);
    if (directFh === undefined) return { ok: false, reason: `the file system of ${dir} refuses O_DIRECT` };
    const io = new UringBlockIo(addon);
    const out = Buffer.from(addon.allocAligned(DIRECT_ALIGN_BYTES));
    for (let i = 0; i < out.length; i++) out[i] = (i * 31 + 7) & 0xff;
    await io.submit(() => addon.write(directFh!.fd, out, 0));
    await io.submit(() => addon.datasync(directFh!.fd));
    const back = Buffer.from(addon.allocAligned(DIRECT_ALIGN_BYTES));
    const n = await io.submit(() => addon.read(directFh!.fd, back, 0));
    if (n !== out.length || !back.equals(out))
      return { ok: false, reason: `io_uring O_DIRECT read back ${n} bytes that differ from those written` };
    const info = addon.info();
    return {
      ok: true,
      reason: `io_uring works in ${dir} (O_DIRECT 4 KiB write + read back; ring of ${info?.entries ?? '?'} entries)`,
    };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, reason: `io_uring probe in ${dir} failed: ${e.message}` };
  } finally {
    await directFh?.close().catch(() => undefined);
    await fh?.close().catch(() => undefined);
    await rm(path, { force: true }).catch(() => undefined);
  }
}

/** Bounce buffers come in multiples of this (a 4 MiB block and its 4 KiB-padded tail share sizes). */
const BOUNCE_STEP_BYTES = 64 * 1024;

/**
 * The process-wide side of the ring (one per addon, as the ring is): the in-flight limit shared by
 * every UringBlockIo (each target has one), FIFO waiters, and the per-microtask flush.
 */
class RingScheduler {
  /** Aligned bounce buffers for O_DIRECT reads and writes, shared by every target (bounded in all). */
  readonly bounces: BouncePool;
  private inflight = 0;
  private readonly waiting: Array<() => void> = [];
  private flushScheduled = false;

  constructor(private readonly addon: UringAddon) {
    this.bounces = new BouncePool(
      (size) => Buffer.from(addon.allocAligned(size)),
      DIRECT_BOUNCE_POOL_BYTES,
      BOUNCE_STEP_BYTES,
    );
  }

  /**
   * Runs one addon operation within the in-flight limit and schedules the batch's flush. A
   * validation error the addon throws becomes a rejection.
   */
  async submit(start: () => Promise<number>): Promise<number> {
    if (this.inflight < URING_INFLIGHT_MAX) this.inflight++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the slot is handed over
    try {
      const done = start();
      this.scheduleFlush();
      return await done;
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.inflight--;
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flushNow(0));
  }

  /**
   * Submits the batch. io_uring_enter fails only transiently (EAGAIN, EBUSY, EINTR: the kernel is
   * short of memory or completions); the queued operations stay in the ring, so try again shortly
   * rather than throw from a microtask (which would crash the process).
   */
  private flushNow(attempt: number): void {
    try {
      this.addon.flush();
      this.flushScheduled = false;
    } catch {
      setTimeout(() => this.flushNow(attempt + 1), Math.min(URING_FLUSH_RETRY_MAX_MS, 2 ** attempt));
    }
  }
}

const schedulers = new WeakMap<UringAddon, RingScheduler>();

export class UringBlockIo implements BlockIo {
  readonly kind = 'uring' as const;
  readonly addon: UringAddon;
  /** Whether reads of at least DIRECT_READ_MIN_BYTES go through O_DIRECT (else all reads are buffered). */
  readonly directReads: boolean;
  private readonly bounces: BouncePool;
  private readonly scheduler: RingScheduler;

  /** Throws (like loadUringAddon) when the addon is unusable. */
  constructor(addon: UringAddon = loadUringAddon(), options: { directReads?: boolean } = {}) {
    this.addon = addon;
    this.directReads = options.directReads ?? URING_DIRECT_READS;
    let scheduler = schedulers.get(addon);
    if (scheduler === undefined) {
      scheduler = new RingScheduler(addon);
      schedulers.set(addon, scheduler);
    }
    this.scheduler = scheduler;
    this.bounces = scheduler.bounces;
  }

  /** Runs one addon operation on the process's ring (in-flight limit, batched submit). */
  submit(start: () => Promise<number>): Promise<number> {
    return this.scheduler.submit(start);
  }

  async open(path: string, options: { direct: boolean }): Promise<BlockFile> {
    const fh = await openReadWrite(path);
    let directFh: FileHandle | undefined;
    try {
      if (options.direct) directFh = await openDirect(path);
    } catch (err) {
      await fh.close();
      throw err;
    }
    return new UringBlockFile(this, fh, directFh, this.bounces);
  }
}

class UringBlockFile implements BlockFile {
  private readonly running = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly io: UringBlockIo,
    private readonly fh: FileHandle,
    private readonly directFh: FileHandle | undefined,
    private readonly bounces: BouncePool,
  ) {}

  get direct(): boolean {
    return this.directFh !== undefined;
  }

  /** Runs an operation on one of this file's fds, tracked so close() waits for it. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    const forget = () => this.running.delete(work);
    work.then(forget, forget);
    return work;
  }

  private fdOf(direct: boolean): number {
    if (this.closing !== undefined) throw Object.assign(new Error('block file is closed'), { code: 'EBADF' });
    return direct ? this.directFh!.fd : this.fh.fd;
  }

  read(position: number, length: number, into?: Buffer): Promise<Buffer> {
    return this.track(this.readNow(position, length, into));
  }

  private async readNow(position: number, length: number, into?: Buffer): Promise<Buffer> {
    const addon = this.io.addon;
    const start = Math.floor(position / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES;
    const end = Math.ceil((position + length) / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES;
    if (this.directFh !== undefined && this.io.directReads && end - start >= DIRECT_READ_MIN_BYTES) {
      const fd = this.fdOf(true);
      // A pooled bounce buffer, not a fresh one: the kernel pins the pages of an O_DIRECT read
      // while submitting it, on the JS thread, and fresh memory would be faulted in and zeroed
      // there (measured: 4 MiB reads into fresh aligned memory spent most of their time in submit).
      const bounce = this.bounces.take(end - start);
      try {
        const n = await this.io.submit(() => addon.read(fd, bounce.subarray(0, end - start), start));
        const out = into ?? Buffer.allocUnsafe(length);
        const from = position - start;
        const valid = Math.max(0, Math.min(length, n - from));
        bounce.copy(out, 0, from, from + valid);
        if (valid < length) out.fill(0, valid, length); // past the end of a sparse file: never written
        return out;
      } finally {
        this.bounces.give(bounce);
      }
    }
    const fd = this.fdOf(false);
    const out = into ?? Buffer.allocUnsafe(length);
    const n = await this.io.submit(() => addon.read(fd, out.subarray(0, length), position));
    if (n < length) out.fill(0, n, length);
    return out;
  }

  write(position: number, data: Uint8Array, roomBytes: number): Promise<void> {
    return this.track(this.writeNow(position, data, roomBytes));
  }

  private async writeNow(position: number, data: Uint8Array, roomBytes: number): Promise<void> {
    const addon = this.io.addon;
    const padded = Math.ceil(data.length / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES;
    if (
      this.directFh !== undefined &&
      data.length >= DIRECT_WRITE_MIN_BYTES &&
      position % DIRECT_ALIGN_BYTES === 0 &&
      padded <= roomBytes
    ) {
      const fd = this.fdOf(true);
      const bounce = this.bounces.take(padded);
      try {
        bounce.set(data, 0);
        bounce.fill(0, data.length, padded);
        await this.io.submit(() => addon.write(fd, bounce.subarray(0, padded), position));
      } finally {
        this.bounces.give(bounce);
      }
      return;
    }
    const fd = this.fdOf(false);
    await this.io.submit(() => addon.write(fd, data, position));
  }

  async sync(): Promise<void> {
    const fd = this.fdOf(false);
    await this.track(this.io.submit(() => this.io.addon.datasync(fd)));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // An fd must stay open (and not be reused) until the kernel is done with every operation on it.
      await Promise.allSettled([...this.running]);
      await Promise.all([this.fh.close(), this.directFh?.close()]);
    })();
    return this.closing;
  }
}
