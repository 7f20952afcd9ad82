// Building blocks shared by the operations: new inodes, linking and unlinking an entry with the
// parent's bookkeeping (entry count, nlink, times), dropping a link (last link of a file → GC
// queue), and truncation.
//
// Directory bookkeeping: a directory's `size` is its entry count and its `nlink` is 2 plus its
// subdirectories; adding or removing an entry updates the parent's mtime and ctime (POSIX).
import { ROOT_INO } from '../../../common/constants.js';
import { withTimeBudget } from '../../../common/deadline.js';
import { ErrorCode, SpindleError, assert } from '../../../common/errors.js';
import { InodeType, type Inode, type Layout } from '../../../proto/index.js';
import { DIRECTORY_MODE_DEFAULT, FILE_MODE_DEFAULT, SYMLINK_MODE } from '../constants.js';
import type { NamespaceContext } from '../context.js';
import type { Resolved } from '../path.js';
import type { MetaTxn } from '../store.js';

const STICKY_BIT = 0o1000;

interface Owner {
  mode: number;
  uid: number;
  gid: number;
  /** Take mode as given, 0 included (FUSE: the kernel applied the umask); else 0 means the default. */
  exactMode?: boolean;
}

function modeOf(owner: Owner, fallback: number): number {
  return owner.exactMode ? owner.mode : owner.mode || fallback;
}

function baseInode(ino: number, type: InodeType, owner: Owner, nowUs: number): Inode {
  return {
    ino,
    type,
    mode: owner.mode,
    uid: owner.uid,
    gid: owner.gid,
    size: 0,
    nlink: 1,
    atimeUs: nowUs,
    mtimeUs: nowUs,
    ctimeUs: nowUs,
    layout: undefined,
    symlinkTarget: '',
    truncateVersion: 0,
    parentIno: 0,
  };
}

export function newFileInode(ino: number, owner: Owner, layout: Layout, nowUs: number): Inode {
  return { ...baseInode(ino, InodeType.FILE, { ...owner, mode: modeOf(owner, FILE_MODE_DEFAULT) }, nowUs), layout };
}

export function newDirectoryInode(ino: number, parentIno: number, owner: Owner, layout: Layout, nowUs: number): Inode {
  return {
    ...baseInode(ino, InodeType.DIRECTORY, { ...owner, mode: modeOf(owner, DIRECTORY_MODE_DEFAULT) }, nowUs),
    nlink: 2,
    parentIno,
    layout,
  };
}

export function newSymlinkInode(ino: number, owner: Omit<Owner, 'mode'>, target: string, nowUs: number): Inode {
  return {
    ...baseInode(ino, InodeType.SYMLINK, { ...owner, mode: SYMLINK_MODE }, nowUs),
    symlinkTarget: target,
    size: Buffer.byteLength(target, 'utf8'),
  };
}

/** A FIFO, socket or device: attributes only, nothing on storage (mode taken as given). */
export function newSpecialInode(ino: number, type: InodeType, owner: Owner, rdev: number, nowUs: number): Inode {
  return { ...baseInode(ino, type, owner, nowUs), rdev };
}

/**
 * The sticky-bit rule (Linux `check_sticky`): in a directory with S_ISVTX, an entry may be
 * removed, renamed or replaced only by root, the directory's owner or the entry's owner. No
 * caller uid: not checked (library clients carry no identity).
 */
export function checkSticky(callerUid: number | undefined, parent: Inode, child: Inode, method: string): void {
  if (callerUid === undefined || callerUid === 0 || (parent.mode & STICKY_BIT) === 0) return;
  if (callerUid === parent.uid || callerUid === child.uid) return;
  throw new SpindleError(
    ErrorCode.PERMISSION_DENIED,
    `${method}: the directory is sticky and uid ${callerUid} owns neither it nor the entry`,
  );
}

/** Adds `name` → child in `parent`, with the parent's entry count, nlink and times. */
export function addEntry(mt: MetaTxn, parent: Inode, name: string, child: Inode): void {
  assert(parent.type === InodeType.DIRECTORY, 'addEntry into a non-directory');
  mt.putEntry(parent.ino, name, { ino: child.ino, type: child.type });
  parent.size += 1;
  if (child.type === InodeType.DIRECTORY) parent.nlink += 1;
  parent.mtimeUs = mt.nowUs;
  parent.ctimeUs = mt.nowUs;
  mt.touch(parent);
}

/** Removes `name` (naming child) from `parent`, with the parent's entry count, nlink and times. */
export function removeEntry(mt: MetaTxn, parent: Inode, name: string, child: Inode | undefined): void {
  mt.deleteEntry(parent.ino, name);
  parent.size = Math.max(0, parent.size - 1);
  if (child?.type === InodeType.DIRECTORY) parent.nlink = Math.max(2, parent.nlink - 1);
  parent.mtimeUs = mt.nowUs;
  parent.ctimeUs = mt.nowUs;
  mt.touch(parent);
}

/**
 * Drops one link of an inode whose entry was just removed. A directory goes at once (the caller
 * checked it is empty); a file or symlink loses one nlink, and at zero a symlink is deleted and a
 * file moves to the GC queue. Returns true when the inode went away.
 */
export function dropLink(mt: MetaTxn, inode: Inode): boolean {
  if (inode.type === InodeType.DIRECTORY) {
    assert(inode.ino !== ROOT_INO, 'the root directory cannot be removed');
    mt.deleteInode(inode);
    return true;
  }
  inode.nlink = Math.max(0, inode.nlink - 1);
  inode.ctimeUs = mt.nowUs;
  if (inode.nlink > 0) {
    mt.touch(inode);
    return false;
  }
  if (inode.type === InodeType.FILE) mt.queueForGc(inode);
  else mt.deleteInode(inode); // symlinks and special files have nothing on storage
  return true;
}

/**
 * Sets a file's length and bumps its truncate version, so length reports of writers that opened
 * before the truncate are ignored. Ordering: the metadata commits first, then storage cuts the
 * chunks past the new length (a post-commit action). Readers never see a length that covers cut
 * bytes; if the cut fails, the caller gets the error and its retry (same tag) repeats the cut,
 * because the result is recorded only after the cut succeeded. Chunks left past the length by a
 * failed cut are invisible to reads (reads stop at the length).
 *
 * The cut has a time budget, requestStorageBudgetMs (below the clients' per-attempt timeout):
 * past it meta stops the cut and answers a retryable TIMEOUT naming the inode, so the client's
 * retry runs the truncate and the cut again — after this one stopped, not alongside it. Without
 * a budget a slow storage kept the cut going for up to two storage retry deadlines (remove, then
 * cut the boundary chunk) while the client's attempt timed out and its retry started a second
 * cut; with a budget as short as one storage call's deadline, any cut slower than one call was
 * cut short with CANCELLED, which the client takes as final (a truncate on a loaded machine
 * answered ECANCELED).
 */
export function truncateFile(ctx: NamespaceContext, mt: MetaTxn, inode: Inode, length: number): void {
  assert(inode.type === InodeType.FILE, 'truncateFile on a non-file');
  const previous = inode.size;
  mt.setFileLength(inode, length);
  inode.truncateVersion += 1;
  inode.mtimeUs = mt.nowUs;
  inode.ctimeUs = mt.nowUs;
  mt.touch(inode);
  if (length <= previous) {
    const { ino } = inode;
    const layout = inode.layout;
    assert(layout, `file ${ino} has no layout`);
    const { storage, clock } = ctx.deps;
    const budgetMs = ctx.config.requestStorageBudgetMs;
    mt.afterCommit(() =>
      withTimeBudget(
        budgetMs,
        `storage cut of inode ${ino} to ${length} bytes`,
        (signal) => storage.truncateFile(ino, layout, length, { signal }),
        { clock },
      ),
    );
  }
}

/** For operations that need a name: explains '', '/', '.' and '..' in the operation's terms. */
export function noNameError(method: string, rootCode: ErrorCode, otherCode = ErrorCode.INVALID_ARGUMENT) {
  return (inode: Inode): SpindleError =>
    inode.ino === ROOT_INO
      ? new SpindleError(
          rootCode,
          `${method}: the root directory ` +
            (rootCode === ErrorCode.BUSY ? 'cannot be changed this way' : 'already exists'),
        )
      : new SpindleError(otherCode, `${method}: the path must end in a name (not '.', '..' or empty)`);
}

/** ENOTDIR for 'name/' when name is not a directory. */
export function checkTrailingSlash(resolved: Resolved, inode: Inode | undefined, method: string): void {
  if (resolved.trailingSlash && inode !== undefined && inode.type !== InodeType.DIRECTORY) {
    throw new SpindleError(ErrorCode.NOT_DIRECTORY, `${method}: the path ends with '/' but names a non-directory`);
  }
}

/** A copy for a response (the stored object may still change within the transaction). */
export function snapshot(inode: Inode): Inode {
  return { ...inode, layout: inode.layout === undefined ? undefined : { ...inode.layout } };
}
