// The FUSE operations of `spindle mount`, mapped onto the client library: names and attributes go
// to meta (MetaRpc, addressed by inode id: FUSE node ids are Spindle inode ids, root = 1), bytes go
// through FileHandles to the chunk store. Every request is answered exactly once: with its reply,
// or with a POSIX errno (SpindleError.errno; EIO for anything unexpected).
//
// Caching (docs/mount.md): the kernel may keep attributes and lookups for ATTR_TIMEOUT_S /
// ENTRY_TIMEOUT_S; missing names are not cached; file pages are dropped on every open (close-to-
// open consistency with other clients). Writes are buffered per open file (open-file.ts) and are
// on the chains and their length in meta when close(2) or fsync(2) returns.
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import type { Logger } from 'pino';
import { ROOT_INO } from '../common/constants.js';
import { isSpindleError } from '../common/errors.js';
import { unpackDirEntries } from '../common/packed-dir-entries.js';
import { InodeType, type Inode, type PathAt } from '../proto/index.js';
import { FileHandle, type ParsedFlags } from '../client/file-handle.js';
import type { SpindleClient } from '../client/spindle-client.js';
import { S_IFDIR, S_IFREG, fileTypeBits } from '../client/stats.js';
import {
  ABSENT_CAPABILITY_INODES_MAX,
  ATTR_TIMEOUT_S,
  ENTRY_TIMEOUT_S,
  NAME_MAX_BYTES,
  OPEN_HANDLES_MAX,
  READDIR_PAGE_ENTRIES,
  STAT_BLOCK_SIZE_BYTES,
} from './constants.js';
import {
  FuseOp,
  SetAttrBits,
  type FuseAddon,
  type FuseAttr,
  type FuseDirEntry,
  type FuseEntry,
  type FuseRequest,
} from './native.js';
import { MountLocks } from './locks.js';
import { AbsentCapabilities, CAPABILITY_XATTR } from './absent-capabilities.js';
import { OpenFile, type InodeShared } from './open-file.js';

const E = osConstants.errno;
const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
/** setxattr flags (linux/xattr.h). */
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
/** Special file types mknod creates as MakeNode inodes (S_IFMT bits → inode type). */
const SPECIAL_TYPES = new Map<number, InodeType>([
  [0o010000, InodeType.FIFO],
  [0o140000, InodeType.SOCKET],
  [0o020000, InodeType.CHAR_DEVICE],
  [0o060000, InodeType.BLOCK_DEVICE],
]);
/**
 * The directory (under the root) where files unlinked while open through a mount keep a name until
 * released: not in the directory they were unlinked from, so that one lists as empty and can be
 * removed. Sticky and world-writable as /tmp: any user's unlink may move a name there.
 */
const HOLDING_DIR = '.spindle-open';
const HOLDING_DIR_MODE = 0o1777;
/** Free inodes statfs reports: Spindle has no fixed inode table, but tools refuse 0. */
const STATFS_FREE_INODES = 1 << 30;

/** An errno for any error (SpindleError carries one; node errors have a code). */
function errnoOf(err: unknown): number {
  if (isSpindleError(err)) return err.errno;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code in E) return (E as Record<string, number>)[code]!;
  return E.EIO;
}

/** Errnos that are answers, not failures (logged at debug). */
const EXPECTED_ERRNOS = new Set([
  E.ENOENT,
  E.EEXIST,
  E.ENOTEMPTY,
  E.ENOTDIR,
  E.EISDIR,
  E.EINVAL,
  E.EPERM,
  E.EACCES,
  E.ENAMETOOLONG,
  E.ELOOP,
  E.EXDEV,
  E.ENODATA,
  E.ERANGE,
  E.EOPNOTSUPP,
  E.EAGAIN,
  E.EINTR,
  E.ESTALE,
]);

interface DirHandle {
  ino: number;
  parentIno: number;
  entries: FuseDirEntry[];
  afterName: string;
  done: boolean;
}

/** What a FUSE request handler needs (the addon, or a fake in unit tests). */
export type FuseReplies = Pick<
  FuseAddon,
  | 'replyErr'
  | 'replyEntry'
  | 'replyCreate'
  | 'replyAttr'
  | 'replyReadlink'
  | 'replyOpen'
  | 'replyWrite'
  | 'replyXattrSize'
  | 'replyLock'
  | 'interrupted'
  | 'invalidateInode'
  | 'replyBuf'
  | 'replyStatfs'
  | 'replyDir'
>;

export interface FuseFsOptions {
  client: SpindleClient;
  replies: FuseReplies;
  logger?: Logger;
  /** Microseconds since the epoch (for utimensat's UTIME_NOW). */
  nowUs?: () => number;
  /** How long the kernel may cache attributes and lookups, seconds (default ATTR_TIMEOUT_S / ENTRY_TIMEOUT_S). */
  attrTimeoutS?: number;
}

function byIno(ino: number): PathAt {
  return { parentIno: ino, path: '' };
}

function at(parent: number, name: string): PathAt {
  return { parentIno: parent, path: name };
}

function requireInode(inode: Inode | undefined): Inode {
  if (inode === undefined) throw Object.assign(new Error('meta answered without attributes'), { code: 'EIO' });
  return inode;
}

function fuseError(errno: number, message: string): Error {
  const name = Object.entries(E).find(([, value]) => value === errno)?.[0] ?? 'EIO';
  return Object.assign(new Error(message), { code: name });
}

/**
 * An inode the kernel knows by a cached name that another client removed: ESTALE, not ENOENT, so
 * the kernel looks the name up again (LOOKUP_REVAL) and the caller gets the current answer — a
 * file created again under the name, or ENOENT (NFS does the same). SQLite opening a journal
 * another client just deleted depends on it.
 */
async function staleIfGone<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (errnoOf(err) === E.ENOENT) throw fuseError(E.ESTALE, 'the inode was removed by another client');
    throw err;
  }
}

export class SpindleFuseFs {
  private readonly client: SpindleClient;
  private readonly replies: FuseReplies;
  private readonly logger: Logger | undefined;
  private readonly nowUs: () => number;
  private readonly attrTimeoutS: number;
  private readonly entryTimeoutS: number;
  private readonly files = new Map<number, OpenFile>();
  private readonly dirs = new Map<number, DirHandle>();
  private readonly inodes = new Map<number, { shared: InodeShared; files: Set<OpenFile> }>();
  private nextFh = 1;
  /** Names that open files were moved to when unlinked or replaced (removed at last release). */
  private readonly hidden = new Map<number, Array<{ parent: number; name: string }>>();
  private hiddenCounter = 0;
  /** Names this mount gives held files start with it (unique per mount process). */
  private readonly mountId = randomBytes(4).toString('hex');
  /** Inode of HOLDING_DIR once created or found. */
  private holdingDirIno: number | undefined;
  private inflightCount = 0;
  private idleWaiters: Array<() => void> = [];
  /** Requests answered, by op (for tests and `spindle doctor`-style inspection). */
  readonly answered = new Map<number, number>();
  private readonly locks: MountLocks;
  /** invalidateInode() calls in progress, by token. */
  private readonly invalidations = new Map<number, () => void>();
  private invalidationToken = 0;
  /** Inodes known to have no security.capability (the kernel asks before every write). */
  private readonly absentCapabilities: AbsentCapabilities;

  constructor(options: FuseFsOptions) {
    this.client = options.client;
    this.replies = options.replies;
    this.logger = options.logger;
    this.nowUs = options.nowUs ?? (() => Date.now() * 1000);
    this.attrTimeoutS = options.attrTimeoutS ?? ATTR_TIMEOUT_S;
    this.entryTimeoutS = options.attrTimeoutS ?? ENTRY_TIMEOUT_S;
    this.absentCapabilities = new AbsentCapabilities(this.attrTimeoutS * 1e6, ABSENT_CAPABILITY_INODES_MAX, this.nowUs);
    this.locks = new MountLocks({
      meta: this.client.meta,
      replies: this.replies,
      logger: this.logger,
      // Before a lock is released, this mount's writes to the file are on storage and in meta.
      publish: (ino) => this.syncInode(ino),
      // After a lock is taken, the kernel's and this mount's cached bytes of the file are dropped.
      refresh: (ino) => this.forgetCached(ino),
    });
  }

  /** Requests being handled right now. */
  get inflight(): number {
    return this.inflightCount;
  }

  get openFiles(): number {
    return this.files.size;
  }

  /** The addon's handler: runs the op and answers `req` exactly once. */
  handle(op: number, req: number, args: FuseRequest): void {
    if (op === FuseOp.INVALIDATED) {
      this.invalidations.get(args.offset)?.();
      this.invalidations.delete(args.offset);
      return;
    }
    this.inflightCount++;
    let promise: Promise<void>;
    try {
      promise = this.run(op, req, args);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise
      .catch((err: unknown) => {
        const errno = errnoOf(err);
        if (EXPECTED_ERRNOS.has(errno))
          this.logger?.debug({ op, errno, err: (err as Error)?.message }, 'fuse request refused');
        else this.logger?.warn({ op, errno, err }, 'fuse request failed');
        this.replies.replyErr(req, errno);
      })
      .finally(() => {
        this.answered.set(op, (this.answered.get(op) ?? 0) + 1);
        this.inflightCount--;
        if (this.inflightCount === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
  }

  /** Resolves when no request is in flight (or after `timeoutMs`). */
  waitIdle(timeoutMs: number): Promise<void> {
    if (this.inflightCount === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Flushes and closes every open file (before unmount: buffered writes must not be lost). */
  async closeAll(): Promise<void> {
    const files = [...this.files.values()];
    this.files.clear();
    this.dirs.clear();
    const results = await Promise.allSettled(files.map((file) => file.close()));
    for (const result of results) {
      if (result.status === 'rejected')
        this.logger?.error({ err: result.reason }, 'open file failed to flush at unmount');
    }
    this.inodes.clear();
    await Promise.allSettled([...this.hidden.keys()].map((ino) => this.removeHidden(ino)));
    await this.locks.endSession();
  }

  // --- dispatch --------------------------------------------------------------------------------

  private async run(op: number, req: number, a: FuseRequest): Promise<void> {
    const r = this.replies;
    switch (op) {
      case FuseOp.LOOKUP: {
        const { inode } = await this.client.meta.stat({ at: at(a.parent!, a.name!), followSymlink: false });
        r.replyEntry(req, this.entryOf(requireInode(inode)));
        return;
      }
      case FuseOp.GETATTR: {
        const inode = await staleIfGone(this.statIno(a.ino));
        r.replyAttr(req, this.attrOf(inode), this.attrTimeoutS);
        return;
      }
      case FuseOp.SETATTR:
        r.replyAttr(req, this.attrOf(await this.setattr(a)), this.attrTimeoutS);
        return;
      case FuseOp.READLINK: {
        const { target } = await this.client.meta.readLink({ at: byIno(a.ino), followSymlink: false });
        r.replyReadlink(req, target);
        return;
      }
      case FuseOp.MKNOD: {
        const special = SPECIAL_TYPES.get(a.mode & 0o170000);
        if (special !== undefined) {
          const { inode } = await this.client.meta.makeNode({
            at: at(a.parent!, a.name!),
            type: special,
            mode: a.mode & 0o7777,
            uid: a.uid,
            gid: a.gid,
            rdev: a.rdev ?? 0,
          });
          r.replyEntry(req, this.entryOf(requireInode(inode)));
          return;
        }
        if ((a.mode & 0o170000) !== S_IFREG) throw fuseError(E.EINVAL, 'mknod of an unknown file type');
        const response = await this.client.meta.open({
          at: at(a.parent!, a.name!),
          create: true,
          exclusive: true,
          truncate: false,
          mode: a.mode & 0o7777,
          exactMode: true,
          uid: a.uid,
          gid: a.gid,
        });
        r.replyEntry(req, this.entryOf(requireInode(response.inode)));
        return;
      }
      case FuseOp.MKDIR: {
        const { inode } = await this.client.meta.mkdirs({
          at: at(a.parent!, a.name!),
          mode: a.mode & 0o7777,
          exactMode: true,
          recursive: false,
          uid: a.uid,
          gid: a.gid,
        });
        r.replyEntry(req, this.entryOf(requireInode(inode)));
        return;
      }
      case FuseOp.UNLINK:
        if (!(await this.hideIfOpen(a.parent!, a.name!, a.uid))) {
          await this.client.meta.remove({
            at: at(a.parent!, a.name!),
            directory: false,
            recursive: false,
            callerUid: a.uid,
          });
        }
        r.replyErr(req, 0);
        return;
      case FuseOp.RMDIR:
        await this.client.meta.remove({
          at: at(a.parent!, a.name!),
          directory: true,
          recursive: false,
          callerUid: a.uid,
        });
        r.replyErr(req, 0);
        return;
      case FuseOp.SYMLINK: {
        const { inode } = await this.client.meta.symlink({
          at: at(a.parent!, a.name!),
          target: a.link!,
          uid: a.uid,
          gid: a.gid,
        });
        r.replyEntry(req, this.entryOf(requireInode(inode)));
        return;
      }
      case FuseOp.RENAME: {
        if ((a.flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) !== 0)
          throw fuseError(E.EINVAL, 'RENAME_WHITEOUT is not supported');
        const exchange = (a.flags & RENAME_EXCHANGE) !== 0;
        const noReplace = (a.flags & RENAME_NOREPLACE) !== 0;
        // A file replaced while open here keeps its data until released (moved aside first).
        if (!noReplace && !exchange) await this.hideIfOpen(a.newParent!, a.newName!, a.uid);
        await this.client.meta.rename({
          from: at(a.parent!, a.name!),
          to: at(a.newParent!, a.newName!),
          noReplace,
          exchange,
          callerUid: a.uid,
        });
        r.replyErr(req, 0);
        return;
      }
      case FuseOp.LINK: {
        const { inode } = await this.client.meta.hardLink({
          existing: byIno(a.ino),
          link: at(a.newParent!, a.newName!),
        });
        r.replyEntry(req, this.entryOf(requireInode(inode)));
        return;
      }
      case FuseOp.OPEN: {
        const response = await staleIfGone(
          this.client.meta.open({
            at: byIno(a.ino),
            create: false,
            exclusive: false,
            truncate: false,
            mode: 0,
            uid: a.uid,
            gid: a.gid,
          }),
        );
        const file = this.register(requireInode(response.inode), a.flags);
        r.replyOpen(req, file.fh, false);
        return;
      }
      case FuseOp.CREATE: {
        const response = await this.client.meta.open({
          at: at(a.parent!, a.name!),
          create: true,
          exclusive: (a.flags & O_EXCL) !== 0,
          truncate: (a.flags & O_TRUNC) !== 0,
          mode: a.mode & 0o7777,
          exactMode: true,
          uid: a.uid,
          gid: a.gid,
        });
        const inode = requireInode(response.inode);
        const file = this.register(inode, a.flags);
        r.replyCreate(req, this.entryOf(inode), file.fh, false);
        return;
      }
      case FuseOp.READ: {
        const file = this.file(a.fh);
        await this.flushWritersOf(file);
        r.replyBuf(req, await file.read(a.offset, a.size));
        return;
      }
      case FuseOp.WRITE: {
        const file = this.file(a.fh);
        if (!file.writable) throw fuseError(E.EBADF, 'file not open for writing');
        r.replyWrite(req, await file.write(a.offset, a.data!));
        return;
      }
      case FuseOp.FLUSH:
        await this.file(a.fh).sync();
        // close(2) drops the closing process's fcntl locks on the file (POSIX).
        if (a.lockOwner !== undefined) await this.locks.releaseOwner(a.ino, a.lockOwner, 'posix');
        r.replyErr(req, 0);
        return;
      case FuseOp.FSYNC:
        await this.file(a.fh).sync();
        r.replyErr(req, 0);
        return;
      case FuseOp.RELEASE: {
        if (a.flockRelease && a.lockOwner !== undefined) await this.locks.releaseOwner(a.ino, a.lockOwner, 'flock');
        const file = this.files.get(a.fh ?? 0);
        if (file !== undefined) {
          this.files.delete(file.fh);
          const state = this.inodes.get(file.ino);
          try {
            await file.close();
          } catch (err) {
            this.logger?.error({ ino: file.ino, err }, 'file failed to flush on release');
          } finally {
            state?.files.delete(file);
            if (state !== undefined && state.files.size === 0) {
              this.inodes.delete(file.ino);
              await this.removeHidden(file.ino);
            }
          }
        }
        r.replyErr(req, 0);
        return;
      }
      case FuseOp.OPENDIR: {
        const inode = await this.statIno(a.ino);
        if (inode.type !== InodeType.DIRECTORY) throw fuseError(E.ENOTDIR, 'not a directory');
        const fh = this.newFh();
        this.dirs.set(fh, { ino: a.ino, parentIno: inode.parentIno || a.ino, entries: [], afterName: '', done: false });
        r.replyOpen(req, fh, false);
        return;
      }
      case FuseOp.READDIR:
        await this.readdir(req, a);
        return;
      case FuseOp.RELEASEDIR:
        this.dirs.delete(a.fh ?? 0);
        r.replyErr(req, 0);
        return;
      case FuseOp.STATFS: {
        const fs = await this.client.statfs();
        r.replyStatfs(req, {
          bsize: fs.bsize,
          frsize: fs.bsize,
          blocks: fs.blocks,
          bfree: fs.bfree,
          bavail: fs.bavail,
          files: fs.files + STATFS_FREE_INODES,
          ffree: STATFS_FREE_INODES,
          favail: STATFS_FREE_INODES,
          namemax: NAME_MAX_BYTES,
        });
        return;
      }
      case FuseOp.GETLK:
        r.replyLock(req, await this.locks.test(a));
        return;
      case FuseOp.SETLK:
      case FuseOp.FLOCK:
        await this.locks.set(req, a, op === FuseOp.FLOCK ? 'flock' : 'posix');
        r.replyErr(req, 0);
        return;
      case FuseOp.SETXATTR:
        await this.setxattr(a);
        r.replyErr(req, 0);
        return;
      case FuseOp.GETXATTR: {
        const name = this.xattrName(a);
        const isCapability = name === CAPABILITY_XATTR;
        if (isCapability && this.absentCapabilities.has(a.ino)) throw fuseError(E.ENODATA, 'no such attribute');
        let value: Uint8Array;
        try {
          ({ value } = await this.client.meta.getXattr({ at: byIno(a.ino), name }));
        } catch (err) {
          if (isCapability && errnoOf(err) === E.ENODATA) this.absentCapabilities.remember(a.ino);
          throw err;
        }
        this.replyXattr(req, a.size, value);
        return;
      }
      case FuseOp.LISTXATTR: {
        const { names } = await this.client.meta.listXattr({ at: byIno(a.ino), followSymlink: false });
        this.replyXattr(req, a.size, Buffer.from(names.map((name) => `${name}\0`).join(''), 'utf8'));
        return;
      }
      case FuseOp.REMOVEXATTR:
        this.absentCapabilities.forget(a.ino);
        await this.client.meta.removeXattr({ at: byIno(a.ino), name: this.xattrName(a) });
        r.replyErr(req, 0);
        return;
      default:
        throw fuseError(E.ENOSYS, `operation ${op} is not supported`);
    }
  }

  // --- operations ------------------------------------------------------------------------------

  private async setattr(a: FuseRequest): Promise<Inode> {
    const valid = a.valid ?? 0;
    const attr = a.attr!;
    let inode: Inode | undefined;
    if (valid & SetAttrBits.SIZE) {
      const state = this.inodes.get(a.ino);
      // Buffered writes land before the cut, never after it.
      if (state !== undefined) await Promise.all([...state.files].map((file) => file.flushAll()));
      ({ inode } = await this.client.meta.truncate({ at: byIno(a.ino), length: attr.size }));
      if (state !== undefined) {
        state.shared.generation++;
        await Promise.all([...state.files].map((file) => file.afterTruncate()));
      }
    }
    const request: { mode?: number; uid?: number; gid?: number; atimeUs?: number; mtimeUs?: number } = {};
    if (valid & SetAttrBits.MODE) request.mode = attr.mode & 0o7777;
    if (valid & SetAttrBits.UID) request.uid = attr.uid;
    if (valid & SetAttrBits.GID) request.gid = attr.gid;
    if (valid & SetAttrBits.ATIME_NOW) request.atimeUs = this.nowUs();
    else if (valid & SetAttrBits.ATIME) request.atimeUs = Math.max(0, Math.round(attr.atimeUs));
    if (valid & SetAttrBits.MTIME_NOW) request.mtimeUs = this.nowUs();
    else if (valid & SetAttrBits.MTIME) request.mtimeUs = Math.max(0, Math.round(attr.mtimeUs));
    if (Object.keys(request).length > 0) {
      ({ inode } = await this.client.meta.setAttr({ at: byIno(a.ino), noFollow: true, ...request }));
    }
    return inode ?? (await this.statIno(a.ino));
  }

  /**
   * Names Spindle stores: user.*, trusted.*, security.*. system.* (POSIX ACLs, capabilities) is
   * EOPNOTSUPP, so tools such as `cp --preserve=all` skip ACLs instead of storing rules that
   * nothing would enforce.
   */
  private xattrName(a: FuseRequest): string {
    const name = a.name ?? '';
    if (!/^(user|trusted|security)\./.test(name))
      throw fuseError(E.EOPNOTSUPP, `extended attribute namespace of '${name}' is not supported`);
    return name;
  }

  private async setxattr(a: FuseRequest): Promise<void> {
    const name = this.xattrName(a);
    this.absentCapabilities.forget(a.ino);
    if ((a.flags & ~(XATTR_CREATE | XATTR_REPLACE)) !== 0) throw fuseError(E.EINVAL, 'unknown setxattr flags');
    await this.client.meta.setXattr({
      at: byIno(a.ino),
      name,
      value: a.data ?? Buffer.alloc(0),
      createOnly: (a.flags & XATTR_CREATE) !== 0,
      replaceOnly: (a.flags & XATTR_REPLACE) !== 0,
    });
  }

  /** getxattr/listxattr: size 0 asks for the length; a smaller buffer than the answer is ERANGE. */
  private replyXattr(req: number, size: number, value: Uint8Array): void {
    if (size === 0) this.replies.replyXattrSize(req, value.byteLength);
    else if (value.byteLength > size) throw fuseError(E.ERANGE, 'the buffer is smaller than the attribute');
    else this.replies.replyBuf(req, value);
  }

  private async readdir(req: number, a: FuseRequest): Promise<void> {
    const dir = this.dirs.get(a.fh ?? 0);
    if (dir === undefined) throw fuseError(E.EBADF, 'unknown directory handle');
    if (a.offset === 0) {
      // rewinddir(): a fresh listing.
      dir.entries = [
        { name: '.', ino: dir.ino, mode: S_IFDIR, off: 1 },
        { name: '..', ino: dir.parentIno, mode: S_IFDIR, off: 2 },
      ];
      dir.afterName = '';
      dir.done = false;
    }
    // Enough entries for a full reply: a dirent takes at least 24 bytes (plus: ~150).
    const wanted = a.offset + Math.ceil(a.size / (a.plus ? 150 : 24)) + 1;
    while (!dir.done && dir.entries.length < wanted) {
      const page = await this.client.meta.readDir({
        at: byIno(dir.ino),
        afterName: dir.afterName,
        limit: READDIR_PAGE_ENTRIES,
        withAttributes: true,
      });
      const listed = unpackDirEntries(page);
      listed.forEach((entry, i) => {
        // The holding directory is this mount's bookkeeping, not a file of the application's.
        if (dir.ino === ROOT_INO && entry.name === HOLDING_DIR) return;
        const inode = page.attributes[i];
        const off = dir.entries.length + 1;
        dir.entries.push({
          name: entry.name,
          ino: entry.ino,
          mode: fileTypeBits(entry.type),
          off,
          entry: inode !== undefined && inode.ino !== 0 ? this.entryOf(inode) : undefined,
        });
      });
      if (listed.length > 0) dir.afterName = listed[listed.length - 1]!.name;
      if (!page.hasMore || listed.length === 0) dir.done = true;
    }
    // In readdirplus an entry without attributes goes out with node id 0: the kernel then skips
    // caching it and looks the name up when it is used ('.' and '..' are never cached).
    const slice = dir.entries.slice(a.offset, wanted);
    this.replies.replyDir(req, a.size, a.plus === true, slice);
  }

  // --- helpers ---------------------------------------------------------------------------------

  /**
   * POSIX keeps an unlinked file's data while it is open; Spindle frees it with the last name.
   * So when the last name of a file open through this mount goes away (unlink, or rename over
   * it), the name is moved into HOLDING_DIR instead (as NFS keeps `.nfsXXXX`, but out of the
   * directory the application sees) and removed at the last release. Returns true when it moved it.
   */
  private async hideIfOpen(parent: number, name: string, callerUid: number): Promise<boolean> {
    if (this.inodes.size === 0) return false;
    let inode: Inode | undefined;
    try {
      ({ inode } = await this.client.meta.stat({ at: at(parent, name), followSymlink: false }));
    } catch (err) {
      if (errnoOf(err) === E.ENOENT) return false;
      throw err;
    }
    if (inode === undefined || inode.type !== InodeType.FILE || inode.nlink > 1 || !this.inodes.has(inode.ino))
      return false;
    const heldName = `${this.mountId}-${inode.ino.toString(16)}-${(++this.hiddenCounter).toString(16)}`;
    // callerUid: a sticky directory's rules hold for the move as for the unlink it stands for.
    const move = async () => {
      const holding = await this.holdingDir();
      await this.client.meta.rename({ from: at(parent, name), to: at(holding, heldName), noReplace: true, callerUid });
      return holding;
    };
    let holding: number;
    try {
      holding = await move();
    } catch (err) {
      // The holding directory was removed since this mount found it: make it again, once.
      if (errnoOf(err) !== E.ENOENT || this.holdingDirIno === undefined) throw err;
      this.holdingDirIno = undefined;
      holding = await move();
    }
    const names = this.hidden.get(inode.ino) ?? [];
    names.push({ parent: holding, name: heldName });
    this.hidden.set(inode.ino, names);
    this.logger?.debug(
      { ino: inode.ino, heldName },
      'open file unlinked: kept in the holding directory until released',
    );
    return true;
  }

  /** The holding directory's inode: made (mode 1777) or found on first use. */
  private async holdingDir(): Promise<number> {
    if (this.holdingDirIno !== undefined) return this.holdingDirIno;
    const { inode } = await this.client.meta.mkdirs({
      at: at(ROOT_INO, HOLDING_DIR),
      mode: HOLDING_DIR_MODE,
      exactMode: true,
      recursive: true,
      uid: 0,
      gid: 0,
    });
    this.holdingDirIno = requireInode(inode).ino;
    return this.holdingDirIno;
  }

  private async removeHidden(ino: number): Promise<void> {
    const names = this.hidden.get(ino);
    if (names === undefined) return;
    this.hidden.delete(ino);
    for (const { parent, name } of names) {
      try {
        await this.client.meta.remove({ at: at(parent, name), directory: false, recursive: false });
      } catch (err) {
        if (errnoOf(err) !== E.ENOENT)
          this.logger?.warn({ ino, name, err }, 'could not remove the hidden name of a released file');
      }
    }
  }

  private async statIno(ino: number): Promise<Inode> {
    const { inode } = await this.client.meta.stat({ at: byIno(ino), followSymlink: false });
    return requireInode(inode);
  }

  private newFh(): number {
    if (this.files.size + this.dirs.size >= OPEN_HANDLES_MAX)
      throw fuseError(E.ENFILE, `more than ${OPEN_HANDLES_MAX} open files on this mount`);
    return this.nextFh++;
  }

  private register(inode: Inode, flags: number): OpenFile {
    const writable = (flags & O_ACCMODE) !== O_RDONLY;
    const parsed: ParsedFlags = {
      read: true,
      write: writable,
      create: false,
      exclusive: false,
      truncate: false,
      append: false,
    };
    const handle = new FileHandle(
      { meta: this.client.meta, chunks: this.client.chunks },
      `inode ${inode.ino}`,
      inode,
      parsed,
    );
    const fh = this.newFh();
    let state = this.inodes.get(inode.ino);
    if (state === undefined) {
      state = { shared: { generation: 0 }, files: new Set() };
      this.inodes.set(inode.ino, state);
    }
    const file = new OpenFile(fh, handle, state.shared, writable);
    state.files.add(file);
    this.files.set(fh, file);
    return file;
  }

  private file(fh: number | undefined): OpenFile {
    const file = this.files.get(fh ?? 0);
    if (file === undefined) throw fuseError(E.EBADF, `unknown file handle ${fh}`);
    return file;
  }

  /** fsync of every open file of an inode: its bytes on storage, its length in meta. */
  private async syncInode(ino: number): Promise<void> {
    const state = this.inodes.get(ino);
    if (state !== undefined) await Promise.all([...state.files].map((file) => file.sync()));
  }

  /** Drops what this mount and its kernel cache of an inode's data and attributes. */
  async forgetCached(ino: number): Promise<void> {
    const token = ++this.invalidationToken;
    await new Promise<void>((resolve) => {
      this.invalidations.set(token, resolve);
      if (!this.replies.invalidateInode(ino, token)) {
        this.invalidations.delete(token);
        resolve();
      }
    });
    const state = this.inodes.get(ino);
    if (state !== undefined) await Promise.all([...state.files].map((file) => file.forgetCachedData()));
  }

  /**
   * A read must see this mount's own writes: the reader's buffered bytes are sent, and other handles
   * of the inode sync theirs — sent and their length reported to meta, which the reader's handle
   * asks when it reads past the length it knows (without that it would read 0 bytes there).
   */
  private async flushWritersOf(reader: OpenFile): Promise<void> {
    const state = this.inodes.get(reader.ino);
    if (state === undefined) return;
    const writers = [...state.files].filter((file) =>
      file === reader ? file.hasPendingWrites : file.hasUnsyncedWrites,
    );
    if (writers.length > 0) await Promise.all(writers.map((file) => (file === reader ? file.flushAll() : file.sync())));
  }

  /** Attributes as the kernel sees them: a file's size includes what open files wrote and buffered. */
  private attrOf(inode: Inode): FuseAttr {
    let size = inode.size;
    if (inode.type === InodeType.FILE) {
      const state = this.inodes.get(inode.ino);
      if (state !== undefined) for (const file of state.files) size = Math.max(size, file.writtenEnd);
    }
    // Hidden names of unlinked open files are this mount's bookkeeping: they are not links the
    // application made, so fstat of an unlinked open file shows nlink 0 as on a local file system.
    const hiddenNames = this.hidden.get(inode.ino)?.length ?? 0;
    return {
      ino: inode.ino,
      mode: fileTypeBits(inode.type) | (inode.mode & 0o7777),
      nlink: Math.max(0, inode.nlink - hiddenNames),
      rdev: inode.rdev ?? 0,
      uid: inode.uid,
      gid: inode.gid,
      size,
      atimeUs: inode.atimeUs,
      mtimeUs: inode.mtimeUs,
      ctimeUs: inode.ctimeUs,
      blksize: STAT_BLOCK_SIZE_BYTES,
    };
  }

  private entryOf(inode: Inode): FuseEntry {
    return {
      ino: inode.ino,
      attr: this.attrOf(inode),
      attrTimeoutS: this.attrTimeoutS,
      entryTimeoutS: this.entryTimeoutS,
    };
  }
}
