// Checkpoints of distributed training (docs/checkpoints.md): every rank saves its shards into a
// staging directory; the last rank to finish commits the step with one no-replace rename.
export {
  Checkpoints,
  openCheckpoints,
  type BeginOptions,
  type CheckpointsOptions,
} from './checkpoints.js';
export type { AsyncSave, ShardBuffers } from './async-save.js';
export type { CheckpointInventory, SaveEntry, StepEntry } from './inventory.js';
export type {
  DamagedShard,
  ReadShardOptions,
  ShardRequest,
  VerifyOptions,
  VerifyProgress,
  VerifyReport,
} from './shard-reads.js';
export { CheckpointSave, type FinishResult } from './checkpoint-save.js';
export type { CheckpointManifest, ShardRecord } from './format.js';
export type { CollectedStaging } from './staging.js';
