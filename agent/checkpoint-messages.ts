// Conversions between proto/checkpoints.proto messages and the client library's checkpoints
// (client/checkpoints): request fields checked under their proto names, manifests and finish
// results as messages. Pure: no I/O.
//
// Guarantees: every check throws INVALID_ARGUMENT naming the proto field (`world_size`,
// `keep_last`, `user_metadata_json`, ...) before anything is changed.
import type { CheckpointManifest, FinishResult, ShardRecord } from '../client/index.js';
import { normalizePath } from '../client/index.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { FinishResponse, Manifest, ShardInfo } from '../proto/index.js';

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}

function isNormalized(path: string): boolean {
  try {
    return normalizePath(path) === path;
  } catch {
    return false; // `..` escaping the root, NUL, ...
  }
}

/** A checkpoint directory: an absolute, normalized path below the root. */
export function checkpointDir(dir: string): string {
  if (!dir.startsWith('/') || dir === '/' || !isNormalized(dir)) {
    throw invalid(
      `dir must be an absolute normalized path below the root such as /checkpoints/run1, got ${JSON.stringify(dir)}`,
    );
  }
  return dir;
}

/** Largest step: 12 digits in a step directory's name (client/checkpoints). */
const STEP_MAX = 10 ** 12 - 1;
/** Longest save id in bytes (client/checkpoints). */
const SAVE_ID_BYTES_MAX = 200;

/** A step to save: 0 .. 10^12 - 1. */
export function checkpointStep(step: number): number {
  if (step > STEP_MAX) throw invalid(`step must be 0 .. ${STEP_MAX}, got ${step}`);
  return step;
}

/** save_id when given: letters, digits, `_` and `-`, at most 200 bytes. */
export function optionalSaveId(saveId: string | undefined): string | undefined {
  if (saveId === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(saveId) || saveId.length > SAVE_ID_BYTES_MAX) {
    throw invalid(
      `save_id must be 1 .. ${SAVE_ID_BYTES_MAX} letters, digits, '_' or '-' (or absent), ` +
        `got ${JSON.stringify(saveId)}`,
    );
  }
  return saveId;
}

/** A count field that must be at least 1 when present (proto3 `optional uint32`). */
export function optionalCount(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (value < 1) throw invalid(`${field} must be at least 1 when given, got ${value}`);
  return value;
}

/** world_size and rank of a Begin: 1 <= world_size, rank < world_size. */
export function placement(worldSize: number, rank: number): { worldSize: number; rank: number } {
  if (worldSize < 1) throw invalid(`world_size must be at least 1, got ${worldSize}`);
  if (rank >= worldSize) throw invalid(`rank must be 0 .. ${worldSize - 1} (world_size ${worldSize}), got ${rank}`);
  return { worldSize, rank };
}

/** A non-empty string field (a save handle, a shard name). */
export function required(value: string, field: string): string {
  if (value === '') throw invalid(`${field} is required`);
  return value;
}

/** user_metadata_json: empty for none, else any JSON value. */
export function userMetadata(json: string): unknown {
  if (json === '') return undefined;
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    throw invalid(`user_metadata_json must be JSON (or empty): ${(err as Error).message}`);
  }
}

export function shardInfo(shard: ShardRecord): ShardInfo {
  return { rank: shard.rank, name: shard.name, bytes: shard.bytes, crc32c: shard.crc32c };
}

export function manifestMessage(manifest: CheckpointManifest): Manifest {
  return {
    step: manifest.step,
    worldSize: manifest.worldSize,
    saveId: manifest.saveId,
    createdAt: manifest.createdAt,
    userMetadataJson: manifest.userMetadata === undefined ? '' : JSON.stringify(manifest.userMetadata),
    shards: manifest.shards.map(shardInfo),
  };
}

export function finishResponse(result: FinishResult): FinishResponse {
  if (!result.committed) {
    return { committed: false, missingRanks: [...result.missingRanks], committer: false, deletedSteps: [] };
  }
  return {
    committed: true,
    missingRanks: [],
    committer: result.committer,
    deletedSteps: [...result.deletedSteps],
    manifest: manifestMessage(result.manifest),
  };
}

/** `data` (the bytes at shard offset `offset`) cut into messages of at most `chunkBytes`. */
export function* shardChunks(
  data: Buffer,
  offset: number,
  chunkBytes: number,
): Generator<{ data: Buffer; offset: number }> {
  for (let at = 0; at < data.length; at += chunkBytes) {
    yield { data: data.subarray(at, Math.min(data.length, at + chunkBytes)), offset: offset + at };
  }
}
