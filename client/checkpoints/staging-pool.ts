// The staging memory of a Checkpoints' async saves: at most `piecesMax` buffers of `pieceBytes`,
// allocated on first need and then reused by every later capture, so a save does not pay the page
// faults of fresh memory (copying 512 MiB into new 4 MiB Buffers took 2–4× as long as into
// buffers touched before: docs/performance.md, "Checkpoints").
//
// Guarantees: at most piecesMax pieces exist and are held at once (a waiter is served FIFO when
// a piece comes back); a piece's release() is idempotent and returns its buffer to the pool; an
// aborted signal drops the waiter with CANCELLED. The buffers live as long as the pool (the
// Checkpoints): up to stagingBytes of memory once a save has needed them.
import { ErrorCode, SpindleError } from '../../common/errors.js';

/** A staging buffer lent to a capture; release() hands it back (once the writer is done with it). */
export interface StagingPiece {
  readonly bytes: Buffer;
  readonly release: () => void;
}

export class StagingPool {
  private readonly spare: Buffer[] = [];
  private allocated = 0;
  private readonly waiters: Array<{ grant: (buffer: Buffer) => void }> = [];

  constructor(
    readonly piecesMax: number,
    readonly pieceBytes: number,
  ) {
    if (!Number.isSafeInteger(piecesMax) || piecesMax < 1) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `a staging pool needs at least 1 piece, got ${piecesMax}`);
    }
    if (!Number.isSafeInteger(pieceBytes) || pieceBytes < 1) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `pieceBytes must be a positive integer, got ${pieceBytes}`);
    }
  }

  /** Pieces that could be lent right now without waiting. */
  get free(): number {
    return this.spare.length + (this.piecesMax - this.allocated);
  }

  /** Buffers allocated so far (never more than piecesMax). */
  get allocatedPieces(): number {
    return this.allocated;
  }

  /**
   * Allocates and touches every piece not allocated yet, so that even the first save's copy runs
   * into memory already mapped (a training job calls this at startup, off its step's clock).
   */
  prepare(): void {
    while (this.allocated < this.piecesMax) this.spare.push(this.allocate());
  }

  /** A piece if one is free right now (nobody waiting before), else undefined. */
  tryAcquire(): StagingPiece | undefined {
    if (this.waiters.length > 0) return undefined;
    const buffer = this.spare.pop() ?? (this.allocated < this.piecesMax ? this.allocate() : undefined);
    return buffer === undefined ? undefined : this.lend(buffer);
  }

  /** Resolves with a piece once one is free (a spare buffer, or a new one within piecesMax). */
  acquire(signal?: AbortSignal): Promise<StagingPiece> {
    if (signal?.aborted) return Promise.reject(cancelled());
    const piece = this.tryAcquire();
    if (piece !== undefined) return Promise.resolve(piece);
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: (buffer: Buffer) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.lend(buffer));
        },
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(cancelled());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private allocate(): Buffer {
    this.allocated++;
    // allocUnsafe then fill: the fill touches every page now (a zeroed allocation may be mapped lazily).
    return Buffer.allocUnsafe(this.pieceBytes).fill(0);
  }

  private lend(buffer: Buffer): StagingPiece {
    let released = false;
    return {
      bytes: buffer,
      release: () => {
        if (released) return;
        released = true;
        const next = this.waiters.shift();
        if (next !== undefined) next.grant(buffer);
        else this.spare.push(buffer);
      },
    };
  }
}

function cancelled(): SpindleError {
  return new SpindleError(ErrorCode.CANCELLED, 'cancelled while waiting for staging memory');
}
