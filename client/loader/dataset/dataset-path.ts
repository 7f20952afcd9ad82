// Checking a dataset path given by a caller, and what a dataset path must have in the namespace.
//
// Guarantees: checkDatasetPath accepts only absolute, normalized paths below the root whose
// staging name fits a file name; every refusal is INVALID_ARGUMENT naming `field`.
// requireDatasetDir tells a dataset from anything else at the path without changing anything.
import { posix } from 'node:path';
import { ErrorCode, SpindleError, isSpindleError } from '../../../common/errors.js';
import type { SpindleClient } from '../../spindle-client.js';
import { normalizePath } from '../../spindle-client.js';
import { DATASET_ID_BYTES } from './constants.js';
import { MANIFEST_FILE, stagingDirName } from './format.js';
import { missingDatasetError } from './staging.js';

/** Longest name a file system entry may have, in UTF-8 bytes. */
const NAME_BYTES_MAX = 255;

/** The path, when it is an absolute normalized dataset path; throws INVALID_ARGUMENT naming `field`. */
export function checkDatasetPath(path: unknown, field: string): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${field} must be an absolute path such as /datasets/train, got ${JSON.stringify(path)}`,
    );
  }
  let normalized: string;
  try {
    normalized = normalizePath(path);
  } catch (err) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${field} ${JSON.stringify(path)} is not a valid path: ${(err as Error).message}`,
    );
  }
  if (normalized !== path || normalized === '/') {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${field} must be a normalized path below the root (no '//', '.', '..' or trailing '/'), ` +
        `got ${JSON.stringify(path)}${normalized !== '/' ? `; did you mean ${normalized}?` : ''}`,
    );
  }
  const stagingBytes = Buffer.byteLength(stagingDirName(posix.basename(path), 'x'.repeat(2 * DATASET_ID_BYTES)));
  if (stagingBytes > NAME_BYTES_MAX) {
    const longest = NAME_BYTES_MAX - (stagingBytes - Buffer.byteLength(posix.basename(path)));
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${field}: the dataset name ${JSON.stringify(posix.basename(path))} is too long; at most ${longest} bytes`,
    );
  }
  return path;
}

/**
 * Resolves when `path` is a directory with a manifest.json. Otherwise: the missing-dataset error
 * (NOT_FOUND, or FAILED_PRECONDITION while a pack of it runs or was abandoned) or INVALID_ARGUMENT
 * "not a dataset".
 */
export async function requireDatasetDir(client: SpindleClient, path: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await client.stat(path)).isDirectory();
  } catch (err) {
    if (isSpindleError(err, ErrorCode.NOT_FOUND)) throw await missingDatasetError(client, path);
    throw err;
  }
  if (!isDirectory) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${path} is not a dataset: it is a file, not a directory`);
  }
  if (!(await client.exists(posix.join(path, MANIFEST_FILE)))) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${path} is not a dataset: it has no ${MANIFEST_FILE}`);
  }
}
