// BatchStat: attributes of many entries in one read-only transaction (one consistent snapshot).
// Paths are resolved like stat (a final symlink is followed), or like lstat with `no_follow`;
// inode ids are looked up directly, including files whose last link went away but that are still
// in the GC queue (nlink 0, like fstat of an unlinked open file). Each item has its own status.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import type { BatchStatRequest, BatchStatResponse, BatchStatResult, Inode } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { requireExisting, resolvePath } from '../path.js';
import type { MetaTxn } from '../store.js';
import { ADMIN_CALLER, type Caller, searchCheck } from '../permissions.js';
import { requireIno, requirePathAt } from '../validate.js';
import { snapshot } from './helpers.js';

const METHOD = 'BatchStat';

export async function batchStat(
  ctx: NamespaceContext,
  request: BatchStatRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<BatchStatResponse> {
  const count = request.paths.length + request.inos.length;
  const max = ctx.config.batchStatMax;
  if (count > max) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${METHOD}: ${count} entries requested; at most ${max} per call (split the batch)`,
    );
  }
  // Malformed items fail the whole call before any lookup (they are the caller's bug, not a state).
  request.paths.forEach((at, i) => requirePathAt(at, METHOD, `paths[${i}]`));
  request.inos.forEach((ino, i) => requireIno(ino, METHOD, `inos[${i}]`));
  const followLast = request.noFollow !== true;
  const search = searchCheck(caller, METHOD);
  return ctx.read(async (mt) => {
    const results: BatchStatResult[] = [];
    for (const at of request.paths) {
      results.push(await item(async () => requireExisting(await resolvePath(mt, at, { followLast, search }), at)));
    }
    for (const ino of request.inos) results.push(await item(() => inodeById(mt, ino)));
    return { results };
  }, signal);
}

/** A live inode, or a queued one (nlink 0) still readable by whoever has it open. */
export async function inodeById(mt: MetaTxn, ino: number): Promise<Inode> {
  const inode = await mt.getInode(ino);
  if (inode !== undefined) return inode;
  const queued = await mt.getQueuedInode(ino);
  if (queued !== undefined) return queued.inode;
  throw new SpindleError(ErrorCode.NOT_FOUND, `inode ${ino} does not exist`);
}

async function item(lookup: () => Promise<Inode>): Promise<BatchStatResult> {
  try {
    return { status: { code: ErrorCode.OK, message: '' }, inode: snapshot(await lookup()) };
  } catch (err) {
    if (!(err instanceof SpindleError)) throw err;
    return { status: { code: err.errorCode, message: err.message }, inode: undefined };
  }
}
