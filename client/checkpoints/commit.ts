// Committing a save: once every rank's part is in the staging directory, merge the parts into
// manifest.json and publish the staging directory as `step-<N>` with one no-replace rename.
//
// Any rank may commit: each rank calls tryCommit after writing its part (writePart: complete
// before it appears under its name), so the last rank to finish sees every part and commits. Two
// ranks finishing together both see every part; creating manifest.json with 'wx' picks one
// committer, and the other waits for that rename and confirms the committed manifest carries its
// saveId.
//
// Guarantees: nothing is committed before every rank 0..worldSize-1 has a part of this save;
// manifest.json is synced before the rename; a step is published at most once — a rename onto an
// existing step fails with EXISTS naming the save that won, and this save's staging is removed.
// A rename that meta applied but whose answer was lost (meta killed and restarted) is recognised
// by the committed manifest's saveId, not taken for a lost race.
import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Clock, systemClock } from '../../common/clock.js';
import { ErrorCode, SpindleError, isSpindleError } from '../../common/errors.js';
import type { SpindleClient } from '../spindle-client.js';
import { COMMIT_POLL_MS, COMMIT_WAIT_POLLS, MANIFEST_BYTES_MAX } from './constants.js';
import { readSmallFile, writeSyncedFile } from './files.js';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointManifest,
  MANIFEST_FILE,
  type RankPart,
  type ShardRecord,
  parseManifest,
  parsePart,
  partFileName,
  partWritingFileName,
} from './format.js';

export interface SaveLocation {
  readonly step: number;
  readonly worldSize: number;
  readonly saveId: string;
  readonly stagingPath: string;
  readonly stepPath: string;
}

export type CommitOutcome =
  | { readonly committed: false; readonly missingRanks: readonly number[] }
  | { readonly committed: true; readonly committer: boolean; readonly manifest: CheckpointManifest };

/** The committed manifest of `stepPath`, or undefined when the step does not exist. */
export async function readCommittedManifest(
  client: SpindleClient,
  stepPath: string,
): Promise<CheckpointManifest | undefined> {
  const path = posix.join(stepPath, MANIFEST_FILE);
  try {
    return parseManifest(await readSmallFile(client, path, MANIFEST_BYTES_MAX), path);
  } catch (err) {
    if (isSpindleError(err, ErrorCode.NOT_FOUND)) return undefined;
    throw err;
  }
}

function lostError(save: SaveLocation, winner: CheckpointManifest | undefined, cause?: unknown): SpindleError {
  const by = winner === undefined ? 'another save' : `save ${winner.saveId}`;
  return new SpindleError(
    ErrorCode.EXISTS,
    `step ${save.step} was already committed by ${by} in ${save.stepPath}; this save (${save.saveId}) ` +
      'was discarded: delete the step first to save it again, or save another step',
    { cause },
  );
}

/** Resolves how the committed step relates to this save: ours, or another's (EXISTS). */
async function confirm(client: SpindleClient, save: SaveLocation): Promise<CommitOutcome> {
  const manifest = await readCommittedManifest(client, save.stepPath);
  if (manifest?.saveId === save.saveId) return { committed: true, committer: false, manifest };
  throw lostError(save, manifest);
}

async function readParts(client: SpindleClient, save: SaveLocation): Promise<RankPart[]> {
  const parts: RankPart[] = [];
  for (let rank = 0; rank < save.worldSize; rank++) {
    const path = posix.join(save.stagingPath, partFileName(rank));
    const part = parsePart(await readSmallFile(client, path, MANIFEST_BYTES_MAX), path);
    if (part.saveId !== save.saveId || part.step !== save.step || part.worldSize !== save.worldSize) {
      throw new SpindleError(
        ErrorCode.FAILED_PRECONDITION,
        `${path} is of save ${part.saveId} (step ${part.step}, worldSize ${part.worldSize}), not of save ` +
          `${save.saveId} (step ${save.step}, worldSize ${save.worldSize}): every rank must pass the same ` +
          'step, worldSize and saveId',
      );
    }
    parts.push(part);
  }
  return parts;
}

/**
 * Writes a rank's part: synced under a temporary name, then renamed to `rank-<r>.json`, so that a
 * rank that lists the staging directory (tryCommit) never reads a part still being written.
 */
export async function writePart(client: SpindleClient, save: SaveLocation, part: RankPart): Promise<void> {
  const writing = posix.join(save.stagingPath, partWritingFileName(part.rank));
  await writeSyncedFile(client, writing, `${JSON.stringify(part)}\n`);
  await client.rename(writing, posix.join(save.stagingPath, partFileName(part.rank)), { noReplace: true });
}

/** Commits the save when every rank's part is present (see the file comment). */
export async function tryCommit(
  client: SpindleClient,
  save: SaveLocation,
  clock: Clock = systemClock,
): Promise<CommitOutcome> {
  let entries: Set<string>;
  try {
    entries = new Set(await client.readdir(save.stagingPath));
  } catch (err) {
    // The staging directory is gone: renamed by a committer (or collected).
    if (isSpindleError(err, ErrorCode.NOT_FOUND)) return confirm(client, save);
    throw err;
  }
  const missingRanks: number[] = [];
  for (let rank = 0; rank < save.worldSize; rank++) {
    if (!entries.has(partFileName(rank))) missingRanks.push(rank);
  }
  if (missingRanks.length > 0) return { committed: false, missingRanks };
  const parts = await readParts(client, save);
  const shards: ShardRecord[] = parts.flatMap((part) => part.shards);
  const userMetadata = parts[0]?.userMetadata;
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    step: save.step,
    worldSize: save.worldSize,
    saveId: save.saveId,
    createdAt: new Date(clock.nowMs()).toISOString(),
    ...(userMetadata !== undefined ? { userMetadata } : {}),
    shards,
  };
  try {
    await writeSyncedFile(
      client,
      posix.join(save.stagingPath, MANIFEST_FILE),
      `${JSON.stringify(manifest, null, 2)}\n`,
    );
  } catch (err) {
    if (isSpindleError(err, ErrorCode.EXISTS)) return awaitOtherCommitter(client, save);
    if (isSpindleError(err, ErrorCode.NOT_FOUND)) return confirm(client, save);
    throw err;
  }
  try {
    await client.rename(save.stagingPath, save.stepPath, { noReplace: true });
  } catch (err) {
    // The staging directory is gone: this rename was applied by an attempt whose answer was lost
    // (meta restarted), or another rank published it.
    if (isSpindleError(err, ErrorCode.NOT_FOUND)) return confirm(client, save);
    if (!isSpindleError(err, ErrorCode.EXISTS)) throw err;
    const winner = await readCommittedManifest(client, save.stepPath);
    if (winner?.saveId === save.saveId) return { committed: true, committer: true, manifest: winner };
    await client.rm(save.stagingPath, { recursive: true, force: true }).catch(() => undefined);
    throw lostError(save, winner, err);
  }
  return { committed: true, committer: true, manifest };
}

/** Another rank created manifest.json first: wait for its rename and confirm it. */
async function awaitOtherCommitter(client: SpindleClient, save: SaveLocation): Promise<CommitOutcome> {
  for (let poll = 0; poll < COMMIT_WAIT_POLLS; poll++) {
    if (!(await client.exists(save.stagingPath))) return confirm(client, save);
    await sleep(COMMIT_POLL_MS);
  }
  throw new SpindleError(
    ErrorCode.FAILED_PRECONDITION,
    `another rank started committing step ${save.step} (save ${save.saveId}) but has not published ` +
      `${save.stepPath} after ${(COMMIT_POLL_MS * COMMIT_WAIT_POLLS) / 1000} s; check that rank's log`,
  );
}
