// Rename: move an entry to a new name, with POSIX rules, in one transaction.
//
// - Neither path's final symlink is followed (the link itself moves or is replaced).
// - Target exists: with no_replace → EEXIST (also when both names are hard links of one file,
//   as Linux answers RENAME_NOREPLACE).
// - Same inode at both names (including two hard links of one file): nothing happens.
// - Target exists: file over file (or symlink) replaces it; directory
//   over an empty directory replaces it; directory over a non-empty one → ENOTEMPTY; file over a
//   directory → EISDIR; directory over a file → ENOTDIR. The replaced inode loses a link (its
//   last → GC queue for files).
// - A directory cannot move into its own subtree (EINVAL): the loop check walks the target
//   parent's ancestors through their parent ids up to the root.
// - The root cannot be renamed or replaced, and a path ending in '.' or '..' is EBUSY (as Linux).
// - exchange (RENAME_EXCHANGE): both names must exist; they swap inodes in the same transaction
//   (any types; a directory may not move into its own subtree either way).
// - Sticky directories (with caller_uid): the moved entry and a replaced or swapped one must be
//   the caller's, or their directory's, or the caller is root (EPERM otherwise).
// - Permissions (permissions.ts): w on both directories; a directory that changes parent (moved,
//   or swapped by exchange) needs w on itself too, since its '..' changes.
// - A moved directory gets its new parent id; both parents' entry counts, nlinks, mtime and
//   ctime change; the moved inode's ctime changes.
import { ROOT_INO } from '../../../common/constants.js';
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { InodeType, RenameRequest, RenameResponse, type Inode, type PathAt } from '../../../proto/index.js';
import { DIRECTORY_DEPTH_MAX } from '../constants.js';
import type { NamespaceContext } from '../context.js';
import { describePath, directoryKey, requireNamed, resolvePath } from '../path.js';
import type { MetaTxn } from '../store.js';
import { ADMIN_CALLER, type Caller, requireAccess, searchCheck, stickyUid, WRITE } from '../permissions.js';
import { requirePathAt } from '../validate.js';
import { addEntry, checkSticky, checkTrailingSlash, dropLink, noNameError, removeEntry, snapshot } from './helpers.js';

/** The method name of Rename's idempotency records (BatchRename items are Renames). */
export const RENAME_METHOD = 'Rename';
const METHOD = RENAME_METHOD;

export async function rename(
  ctx: NamespaceContext,
  request: RenameRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<RenameResponse> {
  const fromAt = requirePathAt(request.from, METHOD, 'from');
  const toAt = requirePathAt(request.to, METHOD, 'to');
  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: RenameRequest.encode(request).finish(),
      response: RenameResponse,
      lanes: [directoryKey(fromAt), directoryKey(toAt)],
      signal,
    },
    (mt) => renameInTxn(mt, request, fromAt, toAt, caller),
  );
}

/**
 * The body of one rename in a transaction (also a member of a BatchRename group): every check
 * throws before anything is written, so a failed rename leaves the transaction's other writes alone.
 */
export async function renameInTxn(
  mt: MetaTxn,
  request: RenameRequest,
  fromAt: PathAt,
  toAt: PathAt,
  caller: Caller,
): Promise<RenameResponse> {
  const search = searchCheck(caller, METHOD);
  const fromResolved = await resolvePath(mt, fromAt, { followLast: false, slashFollows: false, search });
  const from = requireNamed(fromResolved, noNameError(METHOD, ErrorCode.BUSY, ErrorCode.BUSY));
  const source = from.inode;
  if (source === undefined)
    throw new SpindleError(ErrorCode.NOT_FOUND, `${METHOD}: ${describePath(fromAt)} does not exist`);
  checkTrailingSlash(fromResolved, source, METHOD);

  const toResolved = await resolvePath(mt, toAt, { followLast: false, slashFollows: false, search });
  const to = requireNamed(toResolved, noNameError(METHOD, ErrorCode.BUSY, ErrorCode.BUSY));
  const target = to.inode;
  if (toResolved.trailingSlash && source.type !== InodeType.DIRECTORY) {
    throw new SpindleError(
      ErrorCode.NOT_DIRECTORY,
      `${METHOD}: ${describePath(toAt)} ends with '/' but the source is not a directory`,
    );
  }
  if (target !== undefined && request.noReplace)
    throw new SpindleError(ErrorCode.EXISTS, `${METHOD}: ${describePath(toAt)} already exists`);
  if (request.exchange && target === undefined)
    throw new SpindleError(ErrorCode.NOT_FOUND, `${METHOD}: ${describePath(toAt)} does not exist (exchange)`);
  if (target !== undefined && target.ino === source.ino) return { inode: snapshot(source) };

  checkRenamePermissions(caller, from.parent, source, to.parent, target, request.exchange === true);
  const uid = stickyUid(caller, request.callerUid);
  checkSticky(uid, from.parent, source, METHOD);
  if (target !== undefined) checkSticky(uid, to.parent, target, METHOD);
  if (source.type === InodeType.DIRECTORY) await checkNotIntoOwnSubtree(mt, source, to.parent);
  if (request.exchange && target !== undefined) {
    if (target.ino === ROOT_INO)
      throw new SpindleError(ErrorCode.BUSY, `${METHOD}: the root directory cannot be exchanged`);
    if (target.type === InodeType.DIRECTORY) await checkNotIntoOwnSubtree(mt, target, from.parent);
    exchange(
      mt,
      { parent: from.parent, name: from.name, inode: source },
      { parent: to.parent, name: to.name, inode: target },
    );
    return { inode: snapshot(source) };
  }

  if (target !== undefined) {
    if (target.ino === ROOT_INO)
      throw new SpindleError(ErrorCode.BUSY, `${METHOD}: the root directory cannot be replaced`);
    if (source.type === InodeType.DIRECTORY) {
      if (target.type !== InodeType.DIRECTORY) {
        throw new SpindleError(
          ErrorCode.NOT_DIRECTORY,
          `${METHOD}: cannot replace non-directory ${describePath(toAt)} with a directory`,
        );
      }
      if (!(await mt.isEmptyDirectory(target.ino))) {
        throw new SpindleError(ErrorCode.NOT_EMPTY, `${METHOD}: directory ${describePath(toAt)} is not empty`);
      }
    } else if (target.type === InodeType.DIRECTORY) {
      throw new SpindleError(
        ErrorCode.IS_DIRECTORY,
        `${METHOD}: cannot replace directory ${describePath(toAt)} with a non-directory`,
      );
    }
    removeEntry(mt, to.parent, to.name, target);
    dropLink(mt, target);
  }

  removeEntry(mt, from.parent, from.name, source);
  addEntry(mt, to.parent, to.name, source);
  if (source.type === InodeType.DIRECTORY) source.parentIno = to.parent.ino;
  source.ctimeUs = mt.nowUs;
  mt.touch(source);
  return { inode: snapshot(source) };
}

interface Named {
  parent: Inode;
  name: string;
  inode: Inode;
}

/** Swaps the inodes of two entries (RENAME_EXCHANGE): entry counts stay, subdirectory counts move. */
function exchange(mt: MetaTxn, a: Named, b: Named): void {
  mt.putEntry(a.parent.ino, a.name, { ino: b.inode.ino, type: b.inode.type });
  mt.putEntry(b.parent.ino, b.name, { ino: a.inode.ino, type: a.inode.type });
  const aDir = a.inode.type === InodeType.DIRECTORY;
  const bDir = b.inode.type === InodeType.DIRECTORY;
  if (a.parent.ino !== b.parent.ino && aDir !== bDir) {
    const delta = aDir ? 1 : -1; // a subdirectory moves from a's parent to b's (or back)
    a.parent.nlink -= delta;
    b.parent.nlink += delta;
  }
  if (aDir) a.inode.parentIno = b.parent.ino;
  if (bDir) b.inode.parentIno = a.parent.ino;
  for (const inode of [a.parent, b.parent, a.inode, b.inode]) {
    inode.ctimeUs = mt.nowUs;
    if (inode === a.parent || inode === b.parent) inode.mtimeUs = mt.nowUs;
    mt.touch(inode);
  }
}

/** EINVAL when `newParent` is `directory` or below it (walks parent ids up to the root). */
async function checkNotIntoOwnSubtree(mt: MetaTxn, directory: Inode, newParent: Inode): Promise<void> {
  let current = newParent;
  for (let depth = 0; ; depth++) {
    if (current.ino === directory.ino) {
      throw new SpindleError(
        ErrorCode.RENAME_INTO_SELF,
        `${METHOD}: cannot move a directory into itself or its own subtree`,
      );
    }
    if (current.ino === ROOT_INO) return;
    if (depth >= DIRECTORY_DEPTH_MAX) {
      throw new SpindleError(
        ErrorCode.INTERNAL,
        `${METHOD}: directory ${newParent.ino} is more than ${DIRECTORY_DEPTH_MAX} levels deep ` +
          'or its parent chain loops',
      );
    }
    current = await mt.requireInode(current.parentIno);
  }
}

/** w on both directories, and on a directory whose parent changes (its '..' entry changes). */
function checkRenamePermissions(
  caller: Caller,
  fromParent: Inode,
  source: Inode,
  toParent: Inode,
  target: Inode | undefined,
  exchange: boolean,
): void {
  requireAccess(caller, fromParent, WRITE, METHOD, 'the source directory');
  requireAccess(caller, toParent, WRITE, METHOD, 'the target directory');
  if (fromParent.ino === toParent.ino) return;
  if (source.type === InodeType.DIRECTORY) requireAccess(caller, source, WRITE, METHOD, 'the moved directory');
  if (exchange && target?.type === InodeType.DIRECTORY)
    requireAccess(caller, target, WRITE, METHOD, 'the exchanged directory');
}
