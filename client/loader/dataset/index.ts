// Packed datasets (docs/loader.md, "Datasets"): the format, DatasetWriter (pack and publish with one
// rename), openDataset (index entries, keys, shards), verifyDataset, removeDataset, the collection
// of abandoned packs and the 'parts' sample encoding.
export {
  DATASET_FORMAT,
  DATASET_FORMAT_VERSION,
  type DatasetManifest,
  type IndexEntry,
  type SampleEncoding,
  type ShardInfo,
  type StagingOwner,
} from './format.js';
export { DatasetWriter, type DatasetWriterOptions } from './dataset-writer.js';
export { Dataset, openDataset, type OpenDatasetOptions } from './dataset.js';
export { verifyDataset, type VerifyOptions, type VerifyProblem, type VerifyReport } from './verify.js';
export { removeDataset, type RemovedDataset } from './remove.js';
export { collectAbandonedStaging, type StagingDir, type StagingOptions } from './staging.js';
export { decodeParts, encodeParts, type SamplePart } from './parts.js';
