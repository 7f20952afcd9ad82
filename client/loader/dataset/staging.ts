// Staging directories of packs (`.<name>.packing-<id>` beside the dataset, format.ts): telling a
// running pack from an abandoned one, collecting abandoned ones, and the error a reader gets for a
// dataset that is not there yet.
//
// A staging directory is abandoned when its owner.json names a process on this host that no
// longer exists, when its pack started more than `maxAgeMs` ago (24 h by default: the owner may be
// on another host, whose pids cannot be checked from here), or when it has no readable owner.json
// and is older than STAGING_OWNERLESS_GRACE_MS (a pack that crashed between mkdir and owner.json).
//
// Guarantees: collectAbandonedStaging never removes the staging directory of a live pack on this
// host nor one younger than maxAgeMs owned elsewhere; it never removes anything but staging
// directories; two collectors at once are harmless (a directory already gone is skipped).
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { systemClock, type Clock } from '../../../common/clock.js';
import { ErrorCode, SpindleError, isSpindleError } from '../../../common/errors.js';
import { processAlive } from '../../process-alive.js';
import type { SpindleClient } from '../../spindle-client.js';
import { STAGING_AGE_MAX_MS, STAGING_OWNERLESS_GRACE_MS } from './constants.js';
import { STAGING_OWNER_FILE, type StagingOwner, isStagingDirOf, parseStagingDirName } from './format.js';

export interface StagingOptions {
  /** A pack started longer ago than this is abandoned (default STAGING_AGE_MAX_MS: 24 h). */
  readonly maxAgeMs?: number;
  readonly clock?: Clock;
}

/** A staging directory and what became of it. */
export interface StagingDir {
  readonly path: string;
  /** The dataset name it would be published as. */
  readonly name: string;
  /** Its owner.json, when readable. */
  readonly owner?: StagingOwner;
  readonly abandoned: boolean;
  /** Why it is, or is not, taken for abandoned (a phrase: 'pid 123 on host h is gone'). */
  readonly reason: string;
}

function describeOwner(owner: StagingOwner): string {
  return `pid ${owner.pid} on host ${owner.host} since ${owner.startedAt}`;
}

function parseOwner(text: string): StagingOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<StagingOwner>;
    if (
      typeof value.host === 'string' &&
      Number.isSafeInteger(value.pid) &&
      typeof value.startedAt === 'string' &&
      typeof value.dest === 'string'
    ) {
      return value as StagingOwner;
    }
  } catch {
    // not JSON: as if there were no owner.json
  }
  return undefined;
}

async function readOwner(client: SpindleClient, dir: string): Promise<StagingOwner | undefined> {
  try {
    return parseOwner(await client.readFile(posix.join(dir, STAGING_OWNER_FILE), 'utf8'));
  } catch (err) {
    if (isSpindleError(err)) return undefined;
    throw err;
  }
}

/** The verdict on one staging directory. */
async function inspect(
  client: SpindleClient,
  path: string,
  name: string,
  options: StagingOptions,
): Promise<StagingDir> {
  const nowMs = (options.clock ?? systemClock).nowMs();
  const maxAgeMs = options.maxAgeMs ?? STAGING_AGE_MAX_MS;
  const owner = await readOwner(client, path);
  if (owner === undefined) {
    const modifiedMs = (await client.lstat(path)).mtimeMs;
    const abandoned = nowMs - modifiedMs > STAGING_OWNERLESS_GRACE_MS;
    const age = `${Math.round((nowMs - modifiedMs) / 1000)} s old`;
    return { path, name, abandoned, reason: `it has no readable ${STAGING_OWNER_FILE} and is ${age}` };
  }
  if (owner.host === hostname() && !processAlive(owner.pid)) {
    return {
      path,
      name,
      owner,
      abandoned: true,
      reason: `its packer, pid ${owner.pid} on host ${owner.host}, is gone`,
    };
  }
  const startedMs = Date.parse(owner.startedAt);
  if (!Number.isFinite(startedMs) || nowMs - startedMs > maxAgeMs) {
    return {
      path,
      name,
      owner,
      abandoned: true,
      reason: `its pack (${describeOwner(owner)}) started more than ${Math.round(maxAgeMs / 1000)} s ago`,
    };
  }
  return { path, name, owner, abandoned: false, reason: `being packed by ${describeOwner(owner)}` };
}

/** The staging directories in `parentDir` (of dataset `name` only, when given). */
async function stagingDirs(
  client: SpindleClient,
  parentDir: string,
  name: string | undefined,
  options: StagingOptions,
): Promise<StagingDir[]> {
  const found: StagingDir[] = [];
  for (const entry of await client.readdir(parentDir, { withFileTypes: true })) {
    if (name !== undefined && !isStagingDirOf(entry.name, name)) continue;
    const parsed = parseStagingDirName(entry.name);
    if (parsed === undefined || !entry.isDirectory() || (name !== undefined && parsed.name !== name)) continue;
    try {
      found.push(await inspect(client, posix.join(parentDir, entry.name), parsed.name, options));
    } catch (err) {
      // Gone in the meantime: published or collected by someone else.
      if (!isSpindleError(err, ErrorCode.NOT_FOUND)) throw err;
    }
  }
  return found;
}

/**
 * Removes the abandoned staging directories in `parentDir` (see the file comment) and returns
 * them. Packs call it before they start, `spindle dataset rm` too.
 */
export async function collectAbandonedStaging(
  client: SpindleClient,
  parentDir: string,
  options: StagingOptions = {},
): Promise<StagingDir[]> {
  const collected: StagingDir[] = [];
  for (const dir of await stagingDirs(client, parentDir, undefined, options)) {
    if (!dir.abandoned) continue;
    await client.rm(dir.path, { recursive: true, force: true });
    collected.push(dir);
  }
  return collected;
}

/**
 * The error for dataset `path` that does not exist: FAILED_PRECONDITION while a pack of it is
 * running or abandoned, NOT_FOUND otherwise.
 */
export async function missingDatasetError(
  client: SpindleClient,
  path: string,
  options: StagingOptions = {},
): Promise<SpindleError> {
  const parent = posix.dirname(path);
  let dirs: StagingDir[] = [];
  try {
    dirs = await stagingDirs(client, parent, posix.basename(path), options);
  } catch (err) {
    if (!isSpindleError(err, ErrorCode.NOT_FOUND) && !isSpindleError(err, ErrorCode.NOT_DIRECTORY)) throw err;
  }
  const running = dirs.find((dir) => !dir.abandoned);
  if (running !== undefined) {
    const by = running.owner === undefined ? 'a pack that has not written its owner yet' : describeOwner(running.owner);
    return new SpindleError(
      ErrorCode.FAILED_PRECONDITION,
      `dataset ${path} is still being packed (by ${by}); wait for the pack to finish`,
    );
  }
  const abandoned = dirs[0];
  if (abandoned !== undefined) {
    return new SpindleError(
      ErrorCode.FAILED_PRECONDITION,
      `dataset ${path} does not exist: its pack was abandoned (${abandoned.reason}); ` +
        `\`spindle dataset rm ${path}\` or the next pack into ${parent} collects ${abandoned.path}, then pack it again`,
    );
  }
  return new SpindleError(ErrorCode.NOT_FOUND, `dataset ${path} does not exist`);
}
