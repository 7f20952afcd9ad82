// removeDataset: removes a dataset directory, and the abandoned staging directories beside it.
//
// Guarantees: only a directory whose manifest.json says it is a Spindle dataset (damaged or of
// another format version included) is removed; anything else is refused with INVALID_ARGUMENT and
// left as it was. A dataset still being packed is refused with FAILED_PRECONDITION. Removing the
// leftovers of an abandoned pack of `path` (no dataset there) succeeds with `removed` undefined.
import { posix } from 'node:path';
import { ErrorCode, isSpindleError } from '../../../common/errors.js';
import type { SpindleClient } from '../../spindle-client.js';
import { checkDatasetPath, requireDatasetDir } from './dataset-path.js';
import { readManifest } from './manifest.js';
import { collectAbandonedStaging, type StagingDir, type StagingOptions } from './staging.js';

export interface RemovedDataset {
  /** The dataset directory removed (undefined: there was none, only an abandoned pack of it). */
  readonly removed?: string;
  /** Abandoned staging directories removed from its parent. */
  readonly collected: readonly StagingDir[];
}

export async function removeDataset(
  client: SpindleClient,
  path: string,
  options: StagingOptions = {},
): Promise<RemovedDataset> {
  const dir = checkDatasetPath(path, 'path');
  const collected = await collectAbandonedStaging(client, posix.dirname(dir), options);
  try {
    await requireDatasetDir(client, dir);
  } catch (err) {
    const collectedOwn = collected.some((staging) => staging.name === posix.basename(dir));
    if (collectedOwn && isSpindleError(err, ErrorCode.NOT_FOUND)) return { collected };
    throw err;
  }
  try {
    await readManifest(client, dir);
  } catch (err) {
    // Damaged, or another format version: still a dataset. Not one at all: refused.
    if (isSpindleError(err, ErrorCode.INVALID_ARGUMENT)) throw err;
    if (!isSpindleError(err, ErrorCode.DATA_CORRUPTED) && !isSpindleError(err, ErrorCode.FAILED_PRECONDITION)) {
      throw err;
    }
  }
  await client.rm(dir, { recursive: true });
  return { removed: dir, collected };
}
