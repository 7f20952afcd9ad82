// Path resolution inside one transaction: a PathAt (absolute, or relative to parent_ino) becomes
// the directory holding its last name, that name, and the inode it names if it exists.
//
// Rules (POSIX path resolution, as Linux does it):
// - '/' starts at the root; otherwise at parent_ino (0 also means the root). An empty path names
//   parent_ino itself.
// - Repeated slashes collapse. '.' stays, '..' goes to the directory's parent (the root's parent
//   is the root); both are resolved physically, never lexically.
// - Every intermediate component must be a directory (else ENOTDIR); a missing one is ENOENT.
// - Symlinks met before the last component are always followed; the last one only when the
//   caller asks (stat vs lstat) or when the path ends with '/'. More than SYMLINK_FOLLOW_MAX
//   symlinks in one resolution is ELOOP. A relative target is resolved from the symlink's
//   directory, an absolute one from the root.
// - Names are validated (common/names.ts): NUL, over-long names and paths are rejected before
//   anything is read.
// - `search`, when given, sees every directory before a name is looked up in it (permissions.ts).
import { ROOT_INO } from '../../common/constants.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { splitPath } from '../../common/names.js';
import { InodeType, type Inode, type PathAt } from '../../proto/index.js';
import { SYMLINK_FOLLOW_MAX } from './constants.js';
import type { MetaTxn } from './store.js';

export interface ResolveOptions {
  /** Follow a symlink in the last component (stat, open) instead of naming it (lstat, unlink). */
  followLast: boolean;
  /**
   * A trailing '/' follows a final symlink (default true, as for stat). Operations on the entry
   * itself (unlink, rmdir, rename, link) pass false: 'link/' then names the symlink, which the
   * caller refuses with ENOTDIR, as Linux does.
   */
  slashFollows?: boolean;
  /**
   * Called when an intermediate directory is missing; returns the directory to continue in
   * (mkdir -p creates it), or undefined for ENOENT.
   */
  onMissingDirectory?: (parent: Inode, name: string) => Promise<Inode | undefined>;
  /**
   * Called with every directory a name is looked up in, before the lookup; throws to refuse it
   * (the caller's search permission: permissions.ts searchCheck).
   */
  search?: (directory: Inode) => void;
}

export interface Resolved {
  /**
   * Directory holding the last component and that component's name. Undefined when the path ends
   * in no name: '', '/', '.', '..' (the result is then a directory reached without a name).
   */
  parent?: Inode;
  name?: string;
  /** The inode named, if it exists. */
  inode?: Inode;
  /** The path ended with '/': the result must be a directory. */
  trailingSlash: boolean;
}

function describe(at: PathAt): string {
  return at.path.startsWith('/') || at.parentIno === 0 || at.parentIno === ROOT_INO
    ? JSON.stringify(at.path)
    : `${JSON.stringify(at.path)} under inode ${at.parentIno}`;
}

/** The inode a relative path starts from. */
async function startInode(mt: MetaTxn, parentIno: number): Promise<Inode> {
  const ino = parentIno === 0 ? ROOT_INO : parentIno;
  const inode = await mt.getInode(ino);
  if (inode === undefined) throw new SpindleError(ErrorCode.NOT_FOUND, `inode ${ino} does not exist`);
  return inode;
}

export async function resolvePath(mt: MetaTxn, at: PathAt, options: ResolveOptions): Promise<Resolved> {
  const absolute = at.path.startsWith('/');
  const split = at.path === '' ? { absolute: false, names: [] as string[] } : splitPath(at.path, { allowDots: true });
  const trailingSlash = at.path.length > 1 && at.path.endsWith('/') && split.names.length > 0;
  let current = absolute ? await startInode(mt, ROOT_INO) : await startInode(mt, at.parentIno);
  let names = split.names;
  let index = 0;
  let follows = 0;

  while (index < names.length) {
    const name = names[index]!;
    const last = index === names.length - 1;
    if (current.type !== InodeType.DIRECTORY) {
      throw new SpindleError(
        ErrorCode.NOT_DIRECTORY,
        `path ${describe(at)}: a component before ${JSON.stringify(name)} is not a directory`,
      );
    }
    options.search?.(current);
    if (name === '.' || name === '..') {
      if (name === '..' && current.ino !== ROOT_INO) current = await mt.requireInode(current.parentIno);
      index++;
      continue;
    }
    const entry = await mt.getEntry(current.ino, name);
    let child = entry === undefined ? undefined : await mt.getInode(entry.ino);
    if (entry !== undefined && child === undefined) {
      // A dentry whose inode is gone: the store is inconsistent. Treat as missing rather than crash a reader.
      child = undefined;
    }
    if (child === undefined) {
      if (last) return { parent: current, name, trailingSlash };
      const made = options.onMissingDirectory ? await options.onMissingDirectory(current, name) : undefined;
      if (made === undefined) {
        throw new SpindleError(ErrorCode.NOT_FOUND, `path ${describe(at)}: ${JSON.stringify(name)} does not exist`);
      }
      current = made;
      index++;
      continue;
    }
    if (
      child.type === InodeType.SYMLINK &&
      (!last || options.followLast || (trailingSlash && options.slashFollows !== false))
    ) {
      follows++;
      if (follows > SYMLINK_FOLLOW_MAX) {
        throw new SpindleError(
          ErrorCode.SYMLINK_LOOP,
          `path ${describe(at)}: more than ${SYMLINK_FOLLOW_MAX} symlinks (a loop?)`,
        );
      }
      let target: { absolute: boolean; names: string[] };
      try {
        target = splitPath(child.symlinkTarget, { allowDots: true });
      } catch (err) {
        throw new SpindleError(
          ErrorCode.NOT_FOUND,
          `path ${describe(at)}: symlink ${JSON.stringify(name)} has an unusable target`,
          { cause: err },
        );
      }
      if (target.absolute) current = await startInode(mt, ROOT_INO);
      names = [...target.names, ...names.slice(index + 1)];
      index = 0;
      continue;
    }
    if (last) return { parent: current, name, inode: child, trailingSlash };
    current = child;
    index++;
  }
  return { inode: current, trailingSlash };
}

/** The path named an existing inode; ENOENT otherwise (and ENOTDIR for 'file/'). */
export function requireExisting(resolved: Resolved, at: PathAt): Inode {
  const inode = resolved.inode;
  if (inode === undefined) {
    throw new SpindleError(ErrorCode.NOT_FOUND, `${describe(at)} does not exist`);
  }
  if (resolved.trailingSlash && inode.type !== InodeType.DIRECTORY) {
    throw new SpindleError(ErrorCode.NOT_DIRECTORY, `${describe(at)} ends with '/' but is not a directory`);
  }
  return inode;
}

export interface NamedEntry {
  parent: Inode;
  name: string;
  inode?: Inode;
}

/**
 * The path ends in a name inside a directory (what create, remove, rename and link need).
 * `onNoName` explains the failure for '', '/', '.' and '..' in the caller's terms.
 */
export function requireNamed(resolved: Resolved, onNoName: (inode: Inode) => SpindleError): NamedEntry {
  if (resolved.parent === undefined || resolved.name === undefined) {
    throw onNoName(resolved.inode!);
  }
  return { parent: resolved.parent, name: resolved.name, inode: resolved.inode };
}

export { describe as describePath };

/**
 * The spelling of the directory that holds a path's last name, as a write-lane key
 * (write-lanes.ts): '/a/b' → '//a', 'b' under inode 7 → '7/'. Cheap and lexical on purpose — a
 * lane is a hint, so '..' and symlinks need not be resolved.
 */
export function directoryKey(at: PathAt): string {
  const path = at.path;
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 0x2f) end--;
  const slash = path.lastIndexOf('/', end - 1);
  const directory = slash <= 0 ? '' : path.slice(0, slash);
  return path.charCodeAt(0) === 0x2f ? `/${directory}` : `${at.parentIno}/${directory}`;
}
