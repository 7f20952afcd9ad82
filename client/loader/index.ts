// The shuffled data loader's public surface (package subpath `spindle/loader`): a keyed
// permutation of a dataset and the world-size-independent epoch sampler over it, with its cursor.
export { Permutation } from './permutation.js';
export {
  EpochSampler,
  type EpochSamplerOptions,
  type RankBatch,
  type RankPlacement,
} from './sampler.js';
export type { DatasetIdentity, SamplerCursor } from './sampler-cursor.js';
export { globalBatchCount, type LastBatchPolicy } from './global-batches.js';
export * from './dataset/index.js';
export {
  DataLoader,
  openLoader,
  resumeLoader,
  PREFETCH_BYTES_DEFAULT,
  type LoadedBatch,
  type LoadedSample,
  type LoaderOptions,
  type LoaderState,
  type ResumeOptions,
} from './loader.js';
