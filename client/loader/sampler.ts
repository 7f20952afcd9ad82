// The epoch sampler: one rank's view of a shuffled epoch, in global batches that do not depend on
// the world size. Guarantees: every rank of a world gets the same number of steps; step k of rank
// r is its slice of global batch k (global-batches.ts), whose samples are permutation positions
// [k·B, (k+1)·B) — with lastBatch 'pad' the last batch is filled by wrapping to the epoch's first
// positions, with 'drop' an incomplete last batch is skipped; `state()` after a batch is handed out
// is a cursor that `EpochSampler.resume` continues at the next global batch at any world size.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { type LastBatchPolicy, batchPositions, rankSliceSize } from './global-batches.js';
import { requireIndex, requireInteger } from './integer-args.js';
import { Permutation } from './permutation.js';
import { type DatasetIdentity, type SamplerCursor, checkCursor, checkEpochFields } from './sampler-cursor.js';

/** Where this process sits in the data-parallel world. */
export interface RankPlacement {
  readonly rank: number;
  readonly worldSize: number;
}

export interface EpochSamplerOptions extends RankPlacement {
  readonly datasetId: string;
  readonly datasetSize: number;
  /** Global batch size B (samples per step over all ranks); a multiple of worldSize. */
  readonly batchSize: number;
  readonly seed: number;
  readonly epoch: number;
  readonly lastBatch: LastBatchPolicy;
  /** The first global batch to hand out (default 0). */
  readonly nextBatch?: number;
}

/** This rank's part of one global batch. */
export interface RankBatch {
  /** The global batch (= the step) index within the epoch. */
  readonly batchIndex: number;
  /** Positions in the epoch's shuffled order, in [0, datasetSize). */
  readonly positions: readonly number[];
  /** The dataset's sample indices at those positions. */
  readonly sampleIndices: readonly number[];
}

export class EpochSampler {
  /** Global batches (= steps of every rank) in the epoch. */
  readonly batchCount: number;
  /** Samples this rank reads per step. */
  readonly samplesPerStep: number;
  private readonly options: EpochSamplerOptions;
  private readonly permutation: Permutation;
  private next: number;

  constructor(options: EpochSamplerOptions) {
    this.batchCount = checkEpochFields(options);
    const worldSize = requireInteger('worldSize', options.worldSize, 1);
    requireIndex('rank', options.rank, worldSize);
    this.samplesPerStep = rankSliceSize(options.batchSize, worldSize);
    const nextBatch = requireInteger('nextBatch', options.nextBatch ?? 0, 0);
    if (nextBatch > this.batchCount) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `nextBatch ${nextBatch} is past the epoch's ${this.batchCount} batches`,
      );
    }
    this.options = { ...options };
    this.next = nextBatch;
    this.permutation = new Permutation(options.datasetSize, options.seed, options.epoch);
  }

  /** Continues a saved cursor's epoch at its next global batch, at any rank and world size. */
  static resume(cursor: SamplerCursor, at: RankPlacement & DatasetIdentity): EpochSampler {
    checkCursor(cursor, at);
    return new EpochSampler({ ...cursor, rank: at.rank, worldSize: at.worldSize });
  }

  /** The cursor after the batches handed out so far (the same on every rank of a step). */
  state(): SamplerCursor {
    const { datasetId, datasetSize, seed, epoch, batchSize, lastBatch } = this.options;
    return { datasetId, datasetSize, seed, epoch, batchSize, lastBatch, nextBatch: this.next };
  }

  /** This rank's slice of global batch `batchIndex` (does not move the cursor). */
  batch(batchIndex: number): RankBatch {
    requireIndex('batchIndex', batchIndex, this.batchCount);
    const { datasetSize, batchSize, rank } = this.options;
    const positions = batchPositions(
      datasetSize,
      batchSize,
      batchIndex,
      rank * this.samplesPerStep,
      this.samplesPerStep,
    );
    return { batchIndex, positions, sampleIndices: positions.map((p) => this.permutation.at(p)) };
  }

  /** The remaining batches of the epoch for this rank; each one handed out advances `state()`. */
  *batches(): Generator<RankBatch, void, undefined> {
    while (this.next < this.batchCount) {
      const batch = this.batch(this.next);
      this.next++;
      yield batch;
    }
  }
}
