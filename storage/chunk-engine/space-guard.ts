// Reserved space of one target (issue 15, docs/failures.md "Full disks"): a write that needs new disk
// space is refused with NO_SPACE once the file system would be fuller than `fullRatio` or keep less
// than `reservedBytes` free, so the block files never fill the disk and the chunk-metadata lmdb,
// the exactly-once records and deletes (which write metadata too) always have room. Reads and
// deletes are never refused; blocks freed by deletes are reused without new space (the allocator
// hands out the lowest free block first), so the caller asks only for bytes past what is on disk.
import { statfs } from 'node:fs/promises';
import { ErrorCode, SpindleError } from '../../common/errors.js';

export interface SpaceLimits {
  /** Refuse new space past this used fraction of the file system (0 < ratio <= 1). */
  fullRatio: number;
  /** Always keep this many bytes free. */
  reservedBytes: number;
}

/** Re-read statfs at least this often, and whenever the estimate says a write might cross the line. */
const STATFS_MAX_AGE_MS = 1_000;

export class SpaceGuard {
  private freeBytes = Number.POSITIVE_INFINITY;
  private totalBytes = 0;
  private readAtMs = Number.NEGATIVE_INFINITY;
  /** Bytes admitted whose write has not finished (not in any statfs figure yet). */
  private inFlight = 0;
  /** Bytes whose write finished, in total and as of the start of the last statfs. */
  private finished = 0;
  private finishedAtStat = 0;
  /** Writes refused, for metrics. */
  refused = 0;

  constructor(
    private readonly dir: string,
    private readonly limits: SpaceLimits,
  ) {}

  /** Free bytes the guard keeps (the larger of the reserve and the part above the full ratio). */
  private keepFree(): number {
    return Math.max(this.limits.reservedBytes, Math.ceil(this.totalBytes * (1 - this.limits.fullRatio)));
  }

  private async refresh(): Promise<void> {
    // Writes finishing while statfs runs may be missing from its figure: keep counting them.
    const finishedBefore = this.finished;
    const stats = await statfs(this.dir);
    this.freeBytes = stats.bavail * stats.bsize;
    this.totalBytes = stats.blocks * stats.bsize;
    this.readAtMs = Date.now();
    this.finishedAtStat = finishedBefore;
  }

  /** Free bytes expected once every admitted write is on disk. */
  private expectedFree(): number {
    return this.freeBytes - this.inFlight - (this.finished - this.finishedAtStat);
  }

  private fits(bytes: number): boolean {
    return this.expectedFree() - bytes >= this.keepFree();
  }

  /** Admits a write needing `bytes` of new disk space, or throws NO_SPACE (not retryable). */
  private async admit(bytes: number): Promise<void> {
    if (bytes <= 0) return;
    if (Date.now() - this.readAtMs >= STATFS_MAX_AGE_MS || !this.fits(bytes)) await this.refresh();
    if (!this.fits(bytes)) {
      this.refused++;
      const free = Math.max(0, this.expectedFree());
      throw new SpindleError(
        ErrorCode.NO_SPACE,
        `target ${this.dir} is full: ${free} bytes free, ${this.keepFree()} kept in reserve ` +
          `(full ratio ${this.limits.fullRatio}, reserved ${this.limits.reservedBytes} bytes); ` +
          'delete files or add capacity',
      );
    }
    this.inFlight += bytes;
  }

  /** The write admitted for `bytes` finished (written or failed). */
  private settle(bytes: number): void {
    if (bytes <= 0) return;
    this.inFlight -= bytes;
    this.finished += bytes;
  }

  /** Runs a write of `bytes` new bytes: admitted first (or NO_SPACE), settled whatever happens. */
  async guard<T>(bytes: number, write: () => Promise<T>): Promise<T> {
    await this.admit(bytes);
    try {
      return await write();
    } finally {
      this.settle(bytes);
    }
  }
}
