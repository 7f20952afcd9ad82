// Abandoned saves in a checkpoint directory: staging directories (`.step-<N>.saving-<id>`) whose
// save can no longer commit, and the leftovers of interrupted deletes (`.step-<N>.deleting-<x>`).
//
// A staging directory is abandoned when a rank that has not written its part yet has an owner file
// naming a process on this host that no longer exists (that rank will never finish), when every
// rank wrote its part and every owner is a process on this host that no longer exists (the commit
// failed — meta unreachable past the retry deadline, say — and no rank is left to retry it), when its
// earliest owner started more than `maxAgeMs` ago (24 h by default: ranks on other hosts cannot be
// checked from here), or when it has no readable owner file and is older than
// STAGING_OWNERLESS_GRACE_MS (a rank that crashed between mkdir and its owner file).
//
// Guarantees: never removes a committed step, nor the staging directory of a save younger than
// maxAgeMs that a live rank may still finish or commit (every unfinished rank on this host alive,
// and some rank alive or on another host); two collectors at once are harmless (a directory
// already gone is skipped).
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { type Clock, systemClock } from '../../common/clock.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { processAlive } from '../process-alive.js';
import type { SpindleClient } from '../spindle-client.js';
import { MANIFEST_BYTES_MAX, STAGING_AGE_MAX_MS, STAGING_OWNERLESS_GRACE_MS } from './constants.js';
import { readSmallFile } from './files.js';
import {
  type RankOwner,
  isDeletingDirName,
  ownerFileName,
  parseOwnerFileName,
  parsePart,
  parseStagingDirName,
  partFileName,
} from './format.js';

export interface StagingOptions {
  /** A save started longer ago than this is abandoned (default STAGING_AGE_MAX_MS: 24 h). */
  readonly maxAgeMs?: number;
  readonly clock?: Clock;
}

/** A staging directory that was collected, and why. */
export interface CollectedStaging {
  readonly path: string;
  readonly reason: string;
}

async function readOwner(client: SpindleClient, path: string): Promise<RankOwner | undefined> {
  try {
    const value = JSON.parse(await client.readFile(path, 'utf8')) as Partial<RankOwner>;
    if (typeof value.host === 'string' && Number.isSafeInteger(value.pid) && typeof value.startedAt === 'string') {
      return value as RankOwner;
    }
  } catch (err) {
    if (!isSpindleError(err) && !(err instanceof SyntaxError)) throw err;
  }
  return undefined;
}

/** Why the staging directory at `path` is abandoned, or undefined while its save may still commit. */
export async function abandonedReason(
  client: SpindleClient,
  path: string,
  options: StagingOptions,
): Promise<string | undefined> {
  const nowMs = (options.clock ?? systemClock).nowMs();
  const maxAgeMs = options.maxAgeMs ?? STAGING_AGE_MAX_MS;
  const entries = new Set(await client.readdir(path));
  let earliestMs = Number.POSITIVE_INFINITY;
  let owners = 0;
  let everyOwnerGone = true;
  for (const entry of entries) {
    const rank = parseOwnerFileName(entry);
    if (rank === undefined) continue;
    const owner = await readOwner(client, posix.join(path, ownerFileName(rank)));
    if (owner === undefined) continue;
    owners++;
    const finished = entries.has(partFileName(rank));
    const gone = owner.host === hostname() && !processAlive(owner.pid);
    if (!finished && gone) {
      return `rank ${rank} (pid ${owner.pid} on host ${owner.host}) died before finishing`;
    }
    if (!gone) everyOwnerGone = false;
    const startedMs = Date.parse(owner.startedAt);
    earliestMs = Math.min(earliestMs, Number.isFinite(startedMs) ? startedMs : Number.NEGATIVE_INFINITY);
  }
  if (owners === 0) {
    const ageMs = nowMs - (await client.lstat(path)).mtimeMs;
    return ageMs > STAGING_OWNERLESS_GRACE_MS ? `it has no readable owner file and is ${ageMs} ms old` : undefined;
  }
  if (nowMs - earliestMs > maxAgeMs) return `its save started more than ${maxAgeMs} ms ago`;
  if (everyOwnerGone && (await everyPartPresent(client, path, entries))) {
    return 'every rank finished and its process is gone, but the commit did not happen (it failed)';
  }
  return undefined;
}

/**
 * Every rank 0..worldSize-1 of the save has its part (worldSize read from one part): no rank is
 * still writing. Unreadable parts count as not present (the save is left to the age rule).
 */
async function everyPartPresent(client: SpindleClient, path: string, entries: Set<string>): Promise<boolean> {
  const first = [...entries].find((entry) => /^rank-\d+\.json$/.test(entry));
  if (first === undefined) return false;
  let worldSize: number;
  try {
    const partPath = posix.join(path, first);
    worldSize = parsePart(await readSmallFile(client, partPath, MANIFEST_BYTES_MAX), partPath).worldSize;
  } catch (err) {
    if (isSpindleError(err)) return false;
    throw err;
  }
  for (let rank = 0; rank < worldSize; rank++) if (!entries.has(partFileName(rank))) return false;
  return true;
}

/** Removes the abandoned staging and deleting directories in `dir` and returns them. */
export async function collectAbandonedSaves(
  client: SpindleClient,
  dir: string,
  options: StagingOptions = {},
): Promise<CollectedStaging[]> {
  const collected: CollectedStaging[] = [];
  for (const entry of await client.readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = posix.join(dir, entry.name);
    let reason: string | undefined;
    try {
      if (isDeletingDirName(entry.name)) reason = 'an interrupted delete';
      else if (parseStagingDirName(entry.name) !== undefined) reason = await abandonedReason(client, path, options);
    } catch (err) {
      // Gone in the meantime: committed or collected by someone else.
      if (isSpindleError(err, ErrorCode.NOT_FOUND)) continue;
      throw err;
    }
    if (reason === undefined) continue;
    await client.rm(path, { recursive: true, force: true });
    collected.push({ path, reason });
  }
  return collected;
}
