// The on-disk layout of a checkpoint directory DIR (docs/checkpoints.md): names of committed
// steps, staging and deleting directories, rank files, and the JSON of parts and manifests.
//
// Guarantees: stepDirName sorts as the step does; every parse function accepts only what the
// matching name/encode function produces (anything else is undefined or DATA_CORRUPTED), so a
// stray entry in DIR is never taken for a step or a staging directory.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { STEP_DIGITS } from './constants.js';

export const MANIFEST_FILE = 'manifest.json';
export const CHECKPOINT_FORMAT = 'spindle-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;

/** One shard as recorded in a part and in the manifest. */
export interface ShardRecord {
  readonly rank: number;
  readonly name: string;
  readonly bytes: number;
  readonly crc32c: number;
}

/** What one rank wrote: rank-<r>.json in the staging directory, written last by that rank. */
export interface RankPart {
  readonly saveId: string;
  readonly step: number;
  readonly worldSize: number;
  readonly rank: number;
  readonly shards: readonly ShardRecord[];
  /** finish()'s userMetadata of this rank (the committer's goes into the manifest). */
  readonly userMetadata?: unknown;
}

/** manifest.json of a committed step. */
export interface CheckpointManifest {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly formatVersion: number;
  readonly step: number;
  readonly worldSize: number;
  readonly saveId: string;
  readonly createdAt: string;
  /** The userMetadata given to finish() by rank 0 (undefined when it gave none). */
  readonly userMetadata?: unknown;
  /** Every shard of every rank, by rank then name. */
  readonly shards: readonly ShardRecord[];
}

/** Owner file of one rank in a staging directory (owner-<rank>.json). */
export interface RankOwner {
  readonly host: string;
  readonly pid: number;
  readonly startedAt: string;
}

export function stepDirName(step: number): string {
  return `step-${String(step).padStart(STEP_DIGITS, '0')}`;
}

export function parseStepDirName(entry: string): number | undefined {
  const match = new RegExp(`^step-(\\d{${STEP_DIGITS}})$`).exec(entry);
  return match === null ? undefined : Number(match[1]);
}

export function stagingDirName(step: number, saveId: string): string {
  return `.${stepDirName(step)}.saving-${saveId}`;
}

export function parseStagingDirName(entry: string): { step: number; saveId: string } | undefined {
  const match = new RegExp(`^\\.step-(\\d{${STEP_DIGITS}})\\.saving-([A-Za-z0-9_-]+)$`).exec(entry);
  return match === null ? undefined : { step: Number(match[1]), saveId: match[2]! };
}

/** Where delete() moves a step before removing it, so that it leaves list() in one rename. */
export function deletingDirName(step: number, token: string): string {
  return `.${stepDirName(step)}.deleting-${token}`;
}

export function isDeletingDirName(entry: string): boolean {
  return /^\.step-\d+\.deleting-[0-9a-f]+$/.test(entry);
}

export function rankDirName(rank: number): string {
  return `rank-${rank}`;
}

export function partFileName(rank: number): string {
  return `rank-${rank}.json`;
}

/** Where a rank writes its part before renaming it to partFileName: a part is never seen half-written. */
export function partWritingFileName(rank: number): string {
  return `.rank-${rank}.json.writing`;
}

export function ownerFileName(rank: number): string {
  return `owner-${rank}.json`;
}

export function parseOwnerFileName(entry: string): number | undefined {
  const match = /^owner-(\d+)\.json$/.exec(entry);
  return match === null ? undefined : Number(match[1]);
}

function corrupted(what: string, detail: string): SpindleError {
  return new SpindleError(ErrorCode.DATA_CORRUPTED, `${what} is damaged: ${detail}`);
}

function isShardRecord(value: unknown): value is ShardRecord {
  const shard = value as Partial<ShardRecord>;
  return (
    typeof shard === 'object' &&
    shard !== null &&
    Number.isSafeInteger(shard.rank) &&
    typeof shard.name === 'string' &&
    Number.isSafeInteger(shard.bytes) &&
    (shard.bytes as number) >= 0 &&
    Number.isSafeInteger(shard.crc32c)
  );
}

export function parsePart(text: string, what: string): RankPart {
  let value: Partial<RankPart>;
  try {
    value = JSON.parse(text) as Partial<RankPart>;
  } catch (err) {
    throw corrupted(what, `not JSON (${(err as Error).message})`);
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof value.saveId !== 'string' ||
    !Number.isSafeInteger(value.step) ||
    !Number.isSafeInteger(value.worldSize) ||
    !Number.isSafeInteger(value.rank) ||
    !Array.isArray(value.shards) ||
    !value.shards.every(isShardRecord)
  ) {
    throw corrupted(what, 'fields are missing or of the wrong type');
  }
  return value as RankPart;
}

export function parseManifest(text: string, what: string): CheckpointManifest {
  let value: Partial<CheckpointManifest>;
  try {
    value = JSON.parse(text) as Partial<CheckpointManifest>;
  } catch (err) {
    throw corrupted(what, `not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || value.format !== CHECKPOINT_FORMAT) {
    throw corrupted(what, `it is not a ${CHECKPOINT_FORMAT} manifest`);
  }
  if (value.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new SpindleError(
      ErrorCode.FAILED_PRECONDITION,
      `${what} has format version ${String(value.formatVersion)}; this client reads version ` +
        `${CHECKPOINT_FORMAT_VERSION}: upgrade the client`,
    );
  }
  if (
    !Number.isSafeInteger(value.step) ||
    !Number.isSafeInteger(value.worldSize) ||
    typeof value.saveId !== 'string' ||
    typeof value.createdAt !== 'string' ||
    !Array.isArray(value.shards) ||
    !value.shards.every(isShardRecord)
  ) {
    throw corrupted(what, 'fields are missing or of the wrong type');
  }
  return value as CheckpointManifest;
}
