// Loads the libfuse3 addon (native/fuse, built by scripts/setup.sh) and types its surface. The
// addon hands every FUSE request to one JS handler `(op, req, args)`; the handler answers later
// with exactly one reply*() call for that `req` (see native/fuse/src/addon.cc).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BUILD_ADDONS_HINT, nativeAddonPath } from '../common/package-root.js';

/** Request kinds, as numbered by the addon. */
export const FuseOp = {
  LOOKUP: 1,
  GETATTR: 2,
  SETATTR: 3,
  READLINK: 4,
  MKNOD: 5,
  MKDIR: 6,
  UNLINK: 7,
  RMDIR: 8,
  SYMLINK: 9,
  RENAME: 10,
  LINK: 11,
  OPEN: 12,
  READ: 13,
  WRITE: 14,
  FLUSH: 15,
  RELEASE: 16,
  FSYNC: 17,
  OPENDIR: 18,
  READDIR: 19,
  RELEASEDIR: 20,
  STATFS: 21,
  CREATE: 22,
  FORGET: 23,
  SETXATTR: 24,
  GETXATTR: 25,
  LISTXATTR: 26,
  REMOVEXATTR: 27,
  GETLK: 28,
  SETLK: 29,
  FLOCK: 30,
  /** Not a request: the loop thread ended (unmounted from outside, or unmount()). */
  EXIT: 100,
  /** Not a request: an invalidateInode() finished (`offset` is its token). */
  INVALIDATED: 101,
} as const;

/** setattr `valid` bits (fuse_lowlevel.h FUSE_SET_ATTR_*). */
export const SetAttrBits = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
} as const;

/** What the addon passes with a request (fields not used by an op are absent or 0). */
export interface FuseRequest {
  ino: number;
  parent?: number;
  newParent?: number;
  name?: string;
  newName?: string;
  /** symlink target */
  link?: string;
  size: number;
  offset: number;
  fh?: number;
  flags: number;
  mode: number;
  uid: number;
  gid: number;
  pid: number;
  umask: number;
  /** mknod: device number */
  rdev?: number;
  /** flush, release (flock), locks: the FUSE lock owner, 16 hex digits. */
  lockOwner?: string;
  /** release: the open file description's flock lock goes. */
  flockRelease?: boolean;
  /** getlk/setlk: fcntl type (F_RDLCK 0, F_WRLCK 1, F_UNLCK 2); flock: LOCK_SH 1, LOCK_EX 2, LOCK_UN 8. */
  lock?: FuseLock & { sleep: boolean };
  valid?: number;
  attr?: { mode: number; uid: number; gid: number; size: number; atimeUs: number; mtimeUs: number };
  plus?: boolean;
  datasync?: boolean;
  data?: Buffer;
  exitCode?: number;
}

export interface FuseAttr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  atimeUs: number;
  mtimeUs: number;
  ctimeUs: number;
  blksize?: number;
  rdev?: number;
}

/** A lock range as getlk answers it (`end` inclusive; 2^63-1 or more: to the end of the file). */
export interface FuseLock {
  type: number;
  start: number;
  end: number;
  pid: number;
}

export interface FuseEntry {
  /** 0: a negative entry (cached for entryTimeoutS). */
  ino: number;
  attr?: FuseAttr;
  attrTimeoutS: number;
  entryTimeoutS: number;
}

export interface FuseDirEntry {
  name: string;
  ino: number;
  /** File type bits (S_IFDIR, …). */
  mode: number;
  /** Cookie of the entry after this one (what the next readdir passes as offset). */
  off: number;
  /** readdirplus only. */
  entry?: FuseEntry;
}

interface FuseStatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

type FuseHandler = (op: number, req: number, args: FuseRequest) => void;

export interface FuseAddon {
  /** Mounts and starts the loop thread; returns the /dev/fuse fd. Throws if mounting failed. */
  mount(mountpoint: string, options: string[], handler: FuseHandler): number;
  /** Asks the loop to stop and detaches the mount (non-blocking, idempotent). */
  unmount(): void;
  /** After the EXIT call: joins the loop thread and frees the session. Idempotent. */
  destroy(): void;
  replyErr(req: number, errno: number): void;
  replyEntry(req: number, entry: FuseEntry): void;
  replyCreate(req: number, entry: FuseEntry, fh: number, keepCache: boolean): void;
  replyAttr(req: number, attr: FuseAttr, timeoutS: number): void;
  replyReadlink(req: number, target: string): void;
  replyOpen(req: number, fh: number, keepCache: boolean): void;
  replyWrite(req: number, count: number): void;
  /** getxattr/listxattr asked for the size only (size 0): the size of the answer. */
  replyXattrSize(req: number, size: number): void;
  replyLock(req: number, lock: FuseLock): void;
  /** Whether the caller of a request still waiting (a blocking lock) was interrupted by a signal. */
  interrupted(req: number): boolean;
  /**
   * Drops the kernel's cached attributes and pages of an inode on a thread of the addon; reports
   * INVALIDATED with `offset` = token when done. False: not mounted (nothing to drop).
   */
  invalidateInode(ino: number, token: number): boolean;
  replyBuf(req: number, data: Uint8Array): void;
  replyStatfs(req: number, statfs: FuseStatFs): void;
  /** Packs as many entries as fit in `size` bytes and replies; returns how many were packed. */
  replyDir(req: number, size: number, plus: boolean, entries: FuseDirEntry[]): number;
}

/** Where node-gyp puts the addon (scripts/setup.sh builds it). */
export const ADDON_PATH = nativeAddonPath('fuse');

let loaded: FuseAddon | undefined;

/** The addon, or a clear error saying how to build it. */
export function loadFuseAddon(): FuseAddon {
  if (loaded !== undefined) return loaded;
  if (!existsSync(ADDON_PATH)) {
    throw Object.assign(
      new Error(
        `the FUSE addon is not built (${ADDON_PATH} is missing): ${BUILD_ADDONS_HINT} ` +
          '(it installs fuse3 and libfuse3-dev and builds native/fuse)',
      ),
      { code: 'ENOSYS' },
    );
  }
  const require = createRequire(import.meta.url);
  loaded = require(ADDON_PATH) as FuseAddon;
  return loaded;
}
