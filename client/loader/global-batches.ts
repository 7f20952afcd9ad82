// World-size-independent batching arithmetic: which epoch positions make up global batch k, and
// which of them a rank takes. Guarantees: global batch k is positions [k·B, (k+1)·B) of the epoch
// whatever the world size; with 'pad' the positions past the end wrap to the epoch's first
// positions (position p >= N reads position p mod N), so the last batch repeats samples from the
// start of the same epoch; rank r of w takes the contiguous slice [r·B/w, (r+1)·B/w) of each batch,
// so the slices of all ranks of any w are the batch, in order.
import { ErrorCode, SpindleError } from '../../common/errors.js';

/** What the epoch does with a last batch that the dataset cannot fill. */
export type LastBatchPolicy = 'drop' | 'pad';

/** Global batches of an epoch: floor(N / B) with 'drop', ceil(N / B) with 'pad'. */
export function globalBatchCount(datasetSize: number, batchSize: number, lastBatch: LastBatchPolicy): number {
  const full = Math.floor(datasetSize / batchSize);
  return lastBatch === 'pad' && full * batchSize < datasetSize ? full + 1 : full;
}

/** Samples a rank reads per step; `batchSize` must split evenly across the world. */
export function rankSliceSize(batchSize: number, worldSize: number): number {
  if (batchSize % worldSize !== 0) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `batchSize ${batchSize} is not divisible by worldSize ${worldSize}: every rank reads batchSize / worldSize ` +
        'samples per step; choose a batchSize that is a multiple of worldSize',
    );
  }
  return batchSize / worldSize;
}

/**
 * The epoch positions of `count` consecutive samples of the (unbounded, wrapping) epoch order
 * starting at offset `first` of global batch `batchIndex`.
 */
export function batchPositions(
  datasetSize: number,
  batchSize: number,
  batchIndex: number,
  first: number,
  count: number,
): number[] {
  const start = batchIndex * batchSize; // < datasetSize: batchIndex is below the batch count
  const remaining = datasetSize - start;
  const positions = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const offset = first + i;
    positions[i] = offset < remaining ? start + offset : (offset - remaining) % datasetSize;
  }
  return positions;
}
