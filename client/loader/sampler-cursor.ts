// The resumable state of an epoch sampler. Guarantees: a cursor is plain JSON-safe data that does
// not depend on the rank or world size, and `checkCursor` accepts only a cursor that is
// well-formed and was taken on the same dataset (id and size) — anything else is
// SpindleError(INVALID_ARGUMENT) naming the field.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { type LastBatchPolicy, globalBatchCount } from './global-batches.js';
import { describe, requireInteger } from './integer-args.js';

/** Where an epoch stands: every rank of a step saves the same cursor. */
export interface SamplerCursor {
  /** The caller's dataset identity (e.g. name and version); a resume must name the same. */
  readonly datasetId: string;
  readonly datasetSize: number;
  readonly seed: number;
  readonly epoch: number;
  /** Global batch size B: samples per step over all ranks. */
  readonly batchSize: number;
  readonly lastBatch: LastBatchPolicy;
  /** The first global batch not yet handed out. */
  readonly nextBatch: number;
}

/** The dataset a resume is for. */
export interface DatasetIdentity {
  readonly datasetId: string;
  readonly datasetSize: number;
}

/** Checks the fields shared by sampler options and cursors; returns the epoch's batch count. */
export function checkEpochFields(fields: Omit<SamplerCursor, 'nextBatch'>): number {
  if (typeof fields.datasetId !== 'string') {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `datasetId must be a string, got ${describe(fields.datasetId)}`);
  }
  const size = requireInteger('datasetSize', fields.datasetSize, 1);
  requireInteger('seed', fields.seed, 0);
  requireInteger('epoch', fields.epoch, 0);
  const batchSize = requireInteger('batchSize', fields.batchSize, 1);
  if (fields.lastBatch !== 'drop' && fields.lastBatch !== 'pad') {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `lastBatch must be 'drop' or 'pad', got ${describe(fields.lastBatch)}`,
    );
  }
  if (fields.lastBatch === 'drop' && batchSize > size) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `batchSize ${batchSize} exceeds datasetSize ${size} with lastBatch 'drop': the epoch would have no ` +
        "batches; use lastBatch 'pad' or a batchSize <= datasetSize",
    );
  }
  return globalBatchCount(size, batchSize, fields.lastBatch);
}

/** Throws unless `cursor` is well-formed and belongs to `dataset`. */
export function checkCursor(cursor: SamplerCursor, dataset: DatasetIdentity): void {
  if (typeof cursor !== 'object' || cursor === null) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `cursor must be an object, got ${describe(cursor)}`);
  }
  const batchCount = checkEpochFields(cursor);
  const nextBatch = requireInteger('cursor.nextBatch', cursor.nextBatch, 0);
  if (nextBatch > batchCount) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `cursor.nextBatch ${nextBatch} is past the epoch's ${batchCount} batches`,
    );
  }
  if (cursor.datasetId !== dataset.datasetId) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `the cursor's datasetId ${describe(cursor.datasetId)} is not this dataset's ${describe(dataset.datasetId)}: ` +
        'resume with the cursor saved for this dataset, or start a new epoch',
    );
  }
  if (cursor.datasetSize !== dataset.datasetSize) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `the cursor's datasetSize ${cursor.datasetSize} is not this dataset's ${describe(dataset.datasetSize)}: ` +
        'the dataset changed since the cursor was saved; start a new epoch',
    );
  }
}
