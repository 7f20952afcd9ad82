// Who a namespace call acts as, and the POSIX permission checks meta makes for it.
//
// The identity comes from the call's credential (common/auth/principal.ts), never from the
// request: a client credential acts as its user (its uid and gid; the uid/gid and caller_uid a
// request carries are ignored), while an admin credential may act as any user — new inodes get the
// uid/gid the request names and the sticky-bit check uses its caller_uid — and passes every
// permission check, as root does (the mount runs with an admin credential and the kernel has
// checked the bits for the local caller). uid 0 passes every check.
//
// Checks (Linux's rules for the owner / group / other classes; the gid is the credential's one
// group):
// - every directory a path walks through needs x (search), including the one holding the last name;
// - listing a directory needs r; creating, removing or renaming an entry needs w on its directory;
//   moving a directory to another parent also needs w on it (its '..' changes);
// - an open with O_CREAT or O_TRUNC of an existing file needs w, any other open r (Open carries no
//   access mode; writes to the chunks themselves are not checked by storage), truncate and a Sync
//   that wrote need w;
// - chmod and changing times to given values need the owner; chown needs root; chgrp needs the
//   owner changing to its own group; setting the layout of a directory needs its owner;
// - extended attributes: reading needs r, changing needs w, trusted.* needs root;
// - a sticky directory's entries are removed or replaced only by their owner, the directory's
//   owner or root (helpers.ts, checkSticky);
// - calls that name an inode by id (BatchStat's inos, Sync) walk no path: only the inode's own
//   bits count (an id is a handle, as in NFS); Lock and PollChanges are not checked.
// Refusals are PERMISSION_DENIED naming the operation, the path and the uid.
import { ANONYMOUS_ADMIN, type Principal } from '../../common/auth/principal.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { Inode } from '../../proto/index.js';

export const READ = 4;
export const WRITE = 2;
export const SEARCH = 1;

/** The caller of a namespace operation. */
export interface Caller {
  readonly uid: number;
  readonly gid: number;
  /** An admin credential: acts as any user the request names and passes every check. */
  readonly admin: boolean;
}

/** In-process callers (tests, meta's own work) and every caller of a server with auth off. */
export const ADMIN_CALLER: Caller = Object.freeze({ uid: 0, gid: 0, admin: true });

/** The caller a call's principal makes (absent: an in-process call, as an admin). */
export function callerOf(principal: Principal | undefined): Caller {
  if (principal === undefined || principal === ANONYMOUS_ADMIN || principal.role === 'admin') return ADMIN_CALLER;
  return { uid: principal.uid, gid: principal.gid, admin: false };
}

/** Passes every check: an admin credential, or uid 0. */
function bypasses(caller: Caller): boolean {
  return caller.admin || caller.uid === 0;
}

/** The owner of an inode the caller creates: the request's for an admin, the caller itself otherwise. */
export function ownerFor<T extends { uid: number; gid: number }>(caller: Caller, request: T): T {
  return caller.admin ? request : { ...request, uid: caller.uid, gid: caller.gid };
}

/** The uid the sticky-bit check uses: the request's caller_uid for an admin, the caller's uid otherwise. */
export function stickyUid(caller: Caller, requestCallerUid: number | undefined): number | undefined {
  return caller.admin ? requestCallerUid : caller.uid;
}

/** Whether the caller has every bit of `want` (READ | WRITE | SEARCH) on `inode`. */
function mayAccess(caller: Caller, inode: Inode, want: number): boolean {
  if (bypasses(caller)) return true;
  const shift = caller.uid === inode.uid ? 6 : caller.gid === inode.gid ? 3 : 0;
  return ((inode.mode >> shift) & want) === want;
}

function bitsNamed(want: number): string {
  return [want & READ ? 'read' : '', want & WRITE ? 'write' : '', want & SEARCH ? 'search' : '']
    .filter((word) => word !== '')
    .join(' and ');
}

function denied(method: string, message: string): SpindleError {
  return new SpindleError(ErrorCode.PERMISSION_DENIED, `${method}: ${message}`);
}

/** Refuses unless the caller has `want` on `inode`; `what` names it ("the directory /a"). */
export function requireAccess(caller: Caller, inode: Inode, want: number, method: string, what: string): void {
  if (mayAccess(caller, inode, want)) return;
  throw denied(
    method,
    `uid ${caller.uid} has no ${bitsNamed(want)} permission on ${what} ` +
      `(mode ${(inode.mode & 0o7777).toString(8).padStart(4, '0')}, owner ${inode.uid}:${inode.gid})`,
  );
}

/** The path walk's check (path.ts ResolveOptions.search), or undefined when the caller passes all. */
export function searchCheck(caller: Caller, method: string): ((directory: Inode) => void) | undefined {
  if (bypasses(caller)) return undefined;
  return (directory) => requireAccess(caller, directory, SEARCH, method, `directory inode ${directory.ino}`);
}

/** Owner-only changes (chmod, times to given values, layout): the owner or root. */
export function requireOwner(caller: Caller, inode: Inode, method: string, change: string): void {
  if (bypasses(caller) || caller.uid === inode.uid) return;
  throw denied(method, `only the owner (uid ${inode.uid}) or root may ${change}; the caller is uid ${caller.uid}`);
}

/** chown needs root; chgrp needs the owner changing to its own group (its one gid). */
export function requireOwnershipChange(
  caller: Caller,
  inode: Inode,
  change: { uid?: number; gid?: number },
  method: string,
): void {
  if (bypasses(caller)) return;
  if (change.uid !== undefined && change.uid !== inode.uid)
    throw denied(method, `only root may change the owner (uid ${caller.uid} tried to give uid ${change.uid})`);
  if (change.gid !== undefined && change.gid !== inode.gid) {
    if (caller.uid !== inode.uid || change.gid !== caller.gid)
      throw denied(method, `uid ${caller.uid} may not change the group to ${change.gid}`);
  }
}

/** trusted.* extended attributes belong to root. */
export function requireRoot(caller: Caller, method: string, what: string): void {
  if (bypasses(caller)) return;
  throw denied(method, `only root may ${what}; the caller is uid ${caller.uid}`);
}
