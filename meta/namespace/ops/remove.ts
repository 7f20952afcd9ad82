// Remove: unlink a file or symlink, remove an empty directory (rmdir), or remove a whole tree.
//
// - unlink (`directory` false): EISDIR on a directory. rmdir (`directory` true): ENOTDIR on a
//   non-directory, ENOTEMPTY unless empty. The root is EBUSY; '.' and '..' are EINVAL.
// - The last link of a file moves its inode to the GC queue in the same transaction; an open
//   file stays readable (its chunks stay) until the collector removes them.
// - `recursive` (rm -r) on a directory deletes the tree bottom-up in a loop of transactions of at
//   most REMOVE_BATCH_ENTRIES entries each; the directory itself goes in the last one. Like
//   `rm -r`, this is not atomic as a whole: a concurrent reader may see a partly emptied tree,
//   and a crash leaves it partly removed (a retry finishes it). Entries created inside the tree
//   while it is being removed are removed too. If the directory is renamed away mid-way, its
//   contents are still removed but the (now empty) directory stays at its new name.
//   `recursive` on a non-directory is a plain unlink.
// - With caller_uid, a sticky directory's entry goes only for root, its owner or the directory's
//   owner (EPERM otherwise; checked for the named entry, not for a recursive removal's contents).
// - Permissions (permissions.ts): w on the entry's directory; a recursive removal also needs r, w
//   and x on every directory it empties.
import { ErrorCode, SpindleError, assert } from '../../../common/errors.js';
import { InodeType, RemoveRequest, RemoveResponse, type Inode, type PathAt } from '../../../proto/index.js';
import { REMOVE_BATCH_ENTRIES, REMOVE_TRANSACTIONS_MAX } from '../constants.js';
import type { NamespaceContext } from '../context.js';
import { describePath, directoryKey, requireNamed, resolvePath } from '../path.js';
import type { MetaTxn } from '../store.js';
import {
  ADMIN_CALLER,
  type Caller,
  READ,
  requireAccess,
  SEARCH,
  searchCheck,
  stickyUid,
  WRITE,
} from '../permissions.js';
import { requirePathAt } from '../validate.js';
import { checkSticky, checkTrailingSlash, dropLink, noNameError, removeEntry } from './helpers.js';

/** The method name of Remove's idempotency records (BatchRemove items are Removes). */
export const REMOVE_METHOD = 'Remove';
const METHOD = REMOVE_METHOD;

export async function remove(
  ctx: NamespaceContext,
  request: RemoveRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<RemoveResponse> {
  const at = requirePathAt(request.at, METHOD);
  const requestBytes = RemoveRequest.encode(request).finish();
  let removedSoFar = 0;
  for (let round = 0; round < REMOVE_TRANSACTIONS_MAX; round++) {
    let more = false;
    let removedNow = 0;
    const response = await ctx.mutate(
      {
        method: METHOD,
        tag: request.tag,
        requestBytes,
        response: RemoveResponse,
        lanes: [directoryKey(at)],
        signal,
        partial: () => more,
      },
      async (mt) => {
        const step = await removeStep(mt, request, at, caller);
        more = step.more;
        removedNow = step.removed;
        return { removedInodes: removedSoFar + step.removed };
      },
    );
    if (!more) return response;
    removedSoFar += removedNow;
  }
  throw new SpindleError(
    ErrorCode.BUSY,
    `${METHOD}: ${describePath(at)} kept growing while it was being removed; try again`,
  );
}

/**
 * The body of one non-recursive remove in a transaction (also a member of a BatchRemove group):
 * every check throws before anything is written, so a failed remove leaves the transaction's
 * other writes alone.
 */
export async function removeInTxn(
  mt: MetaTxn,
  request: RemoveRequest,
  at: PathAt,
  caller: Caller,
): Promise<RemoveResponse> {
  assert(!request.recursive, 'a recursive remove may take several transactions');
  return { removedInodes: (await removeStep(mt, request, at, caller)).removed };
}

/** What one transaction of a remove did: inodes whose last link went, and whether a tree has more. */
interface RemoveStep {
  removed: number;
  more: boolean;
}

async function removeStep(mt: MetaTxn, request: RemoveRequest, at: PathAt, caller: Caller): Promise<RemoveStep> {
  const resolved = await resolvePath(mt, at, {
    followLast: false,
    slashFollows: false,
    search: searchCheck(caller, METHOD),
  });
  const named = requireNamed(resolved, noNameError(METHOD, ErrorCode.BUSY));
  const inode = named.inode;
  if (inode === undefined) throw new SpindleError(ErrorCode.NOT_FOUND, `${METHOD}: ${describePath(at)} does not exist`);
  checkTrailingSlash(resolved, inode, METHOD);
  requireAccess(caller, named.parent, WRITE, METHOD, `the directory of ${describePath(at)}`);
  checkSticky(stickyUid(caller, request.callerUid), named.parent, inode, METHOD);
  let removed = 0;
  if (inode.type === InodeType.DIRECTORY) {
    if (!request.directory && !request.recursive) {
      throw new SpindleError(
        ErrorCode.IS_DIRECTORY,
        `${METHOD}: ${describePath(at)} is a directory (remove it as a directory)`,
      );
    }
    if (request.recursive) {
      const budget = { entries: REMOVE_BATCH_ENTRIES, removed: 0 };
      const empty = await drain(mt, inode, budget, caller);
      removed = budget.removed;
      if (!empty) return { removed, more: true };
    } else if (!(await mt.isEmptyDirectory(inode.ino))) {
      throw new SpindleError(ErrorCode.NOT_EMPTY, `${METHOD}: directory ${describePath(at)} is not empty`);
    }
  } else if (request.directory && !request.recursive) {
    throw new SpindleError(ErrorCode.NOT_DIRECTORY, `${METHOD}: ${describePath(at)} is not a directory`);
  }
  removeEntry(mt, named.parent, named.name, inode);
  if (dropLink(mt, inode)) removed += 1;
  return { removed, more: false };
}

/**
 * Deletes entries below `directory`, depth first, until the budget runs out. Returns true when
 * `directory` is empty afterwards (the caller removes it).
 */
async function drain(
  mt: MetaTxn,
  directory: Inode,
  budget: { entries: number; removed: number },
  caller: Caller,
): Promise<boolean> {
  assert(directory.type === InodeType.DIRECTORY, 'drain of a non-directory');
  // As `rm -r`: listing and emptying a directory needs read, write and search on it.
  requireAccess(caller, directory, READ | WRITE | SEARCH, METHOD, `directory inode ${directory.ino}`);
  for (;;) {
    if (budget.entries <= 0) return mt.isEmptyDirectory(directory.ino);
    const entries = await mt.listEntries(directory.ino, budget.entries);
    if (entries.length === 0) return true;
    for (const entry of entries) {
      if (budget.entries <= 0) return false;
      const child = await mt.getInode(entry.ino);
      if (child?.type === InodeType.DIRECTORY && !(await drain(mt, child, budget, caller))) return false;
      removeEntry(mt, directory, entry.name, child);
      if (child !== undefined && dropLink(mt, child)) budget.removed += 1;
      budget.entries -= 1;
    }
  }
}
