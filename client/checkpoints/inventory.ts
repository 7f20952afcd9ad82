// What a checkpoint directory holds, for tools (`spindle ckpt ls`, `gc --dry-run`): committed
// steps with their manifests, saves in progress or abandoned, interrupted deletes, other entries.
//
// Guarantees: read-only; a step whose manifest cannot be read is listed with the reason instead of
// failing the whole listing; an entry removed while listing (a commit, a collection) is skipped.
import { posix } from 'node:path';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import type { SpindleClient } from '../spindle-client.js';
import { readCommittedManifest } from './commit.js';
import {
  type CheckpointManifest,
  isDeletingDirName,
  parseOwnerFileName,
  parseStagingDirName,
  parseStepDirName,
} from './format.js';
import { type StagingOptions, abandonedReason } from './staging.js';

export interface StepEntry {
  readonly step: number;
  readonly path: string;
  /** Undefined when the manifest could not be read: then `damage` says why. */
  readonly manifest?: CheckpointManifest;
  readonly damage?: string;
}

export interface SaveEntry {
  readonly path: string;
  readonly step: number;
  readonly saveId: string;
  /** Ranks with an owner file (they began) and with a part (they finished), ascending. */
  readonly ranksBegun: readonly number[];
  readonly ranksFinished: readonly number[];
  /** Why the save can no longer commit (collected by gc), or undefined while it may. */
  readonly abandoned?: string;
}

export interface CheckpointInventory {
  readonly dir: string;
  readonly steps: readonly StepEntry[];
  readonly saves: readonly SaveEntry[];
  /** Leftovers of interrupted deletes (collected by gc). */
  readonly deleting: readonly string[];
  /** Entries that are none of the above (a checkpoint directory normally has none). */
  readonly other: readonly string[];
}

async function readStep(client: SpindleClient, dir: string, name: string, step: number): Promise<StepEntry> {
  const path = posix.join(dir, name);
  try {
    const manifest = await readCommittedManifest(client, path);
    if (manifest === undefined) return { step, path, damage: 'it has no manifest.json' };
    return { step, path, manifest };
  } catch (err) {
    if (!isSpindleError(err)) throw err;
    if (err.errorCode !== ErrorCode.DATA_CORRUPTED && err.errorCode !== ErrorCode.FAILED_PRECONDITION) throw err;
    return { step, path, damage: err.message };
  }
}

function ranksOf(entries: readonly string[], parse: (entry: string) => number | undefined): number[] {
  return entries
    .map(parse)
    .filter((rank) => rank !== undefined)
    .sort((a, b) => a - b);
}

async function readSave(
  client: SpindleClient,
  path: string,
  staging: { step: number; saveId: string },
  options: StagingOptions,
): Promise<SaveEntry> {
  const entries = await client.readdir(path);
  return {
    path,
    ...staging,
    ranksBegun: ranksOf(entries, parseOwnerFileName),
    ranksFinished: ranksOf(entries, (entry) => {
      const match = /^rank-(\d+)\.json$/.exec(entry);
      return match === null ? undefined : Number(match[1]);
    }),
    abandoned: await abandonedReason(client, path, options),
  };
}

/** Lists `dir` (which must exist); steps and saves ascending by step. */
export async function inventoryOf(
  client: SpindleClient,
  dir: string,
  options: StagingOptions,
): Promise<CheckpointInventory> {
  const steps: StepEntry[] = [];
  const saves: SaveEntry[] = [];
  const deleting: string[] = [];
  const other: string[] = [];
  for (const entry of await client.readdir(dir, { withFileTypes: true })) {
    const path = posix.join(dir, entry.name);
    const step = parseStepDirName(entry.name);
    const staging = parseStagingDirName(entry.name);
    try {
      if (!entry.isDirectory()) other.push(path);
      else if (step !== undefined) steps.push(await readStep(client, dir, entry.name, step));
      else if (staging !== undefined) saves.push(await readSave(client, path, staging, options));
      else if (isDeletingDirName(entry.name)) deleting.push(path);
      else other.push(path);
    } catch (err) {
      if (!isSpindleError(err, ErrorCode.NOT_FOUND)) throw err;
    }
  }
  steps.sort((a, b) => a.step - b.step);
  saves.sort((a, b) => a.step - b.step || a.saveId.localeCompare(b.saveId));
  return { dir, steps, saves, deleting, other };
}
