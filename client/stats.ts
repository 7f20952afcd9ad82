// File attributes in the shape of node:fs Stats and Dirent, built from Meta's Inode, so code
// written for node:fs/promises reads Spindle metadata unchanged. Times: Inode carries
// microseconds; Stats exposes milliseconds (fractional, like node) and Dates.
import { constants as fsConstants } from 'node:fs';
import { CHUNK_SIZE_DEFAULT_BYTES } from '../common/constants.js';
import { InodeType, type Inode, type Layout } from '../proto/index.js';

export const S_IFMT = fsConstants.S_IFMT;
export const S_IFREG = fsConstants.S_IFREG;
export const S_IFDIR = fsConstants.S_IFDIR;
export const S_IFLNK = fsConstants.S_IFLNK;

/** Unit of `blocks`, as in POSIX stat. */
const STAT_BLOCK_BYTES = 512;

/** The file-type bits of an inode type (0 for an invalid one). */
export function fileTypeBits(type: InodeType): number {
  switch (type) {
    case InodeType.FILE:
      return S_IFREG;
    case InodeType.DIRECTORY:
      return S_IFDIR;
    case InodeType.SYMLINK:
      return S_IFLNK;
    case InodeType.FIFO:
      return fsConstants.S_IFIFO;
    case InodeType.SOCKET:
      return fsConstants.S_IFSOCK;
    case InodeType.CHAR_DEVICE:
      return fsConstants.S_IFCHR;
    case InodeType.BLOCK_DEVICE:
      return fsConstants.S_IFBLK;
    default:
      return 0;
  }
}

/** Attributes of one entry, shaped like fs.Stats. */
/** The fs.Stats / fs.Dirent type predicates, from an inode type. */
abstract class TypedEntry {
  protected abstract readonly type: InodeType;

  isFile(): boolean {
    return this.type === InodeType.FILE;
  }
  isDirectory(): boolean {
    return this.type === InodeType.DIRECTORY;
  }
  isSymbolicLink(): boolean {
    return this.type === InodeType.SYMLINK;
  }
  isBlockDevice(): boolean {
    return this.type === InodeType.BLOCK_DEVICE;
  }
  isCharacterDevice(): boolean {
    return this.type === InodeType.CHAR_DEVICE;
  }
  isFIFO(): boolean {
    return this.type === InodeType.FIFO;
  }
  isSocket(): boolean {
    return this.type === InodeType.SOCKET;
  }
}

export class SpindleStats extends TypedEntry {
  readonly dev = 0;
  readonly rdev = 0;
  readonly ino: number;
  /** File-type bits (S_IFREG/S_IFDIR/S_IFLNK) | permission bits. */
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Preferred I/O size: the file's chunk size. */
  readonly blksize: number;
  /** 512-byte blocks covered by the data (sparse regions are not subtracted). */
  readonly blocks: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly birthtimeMs: number;
  readonly atime: Date;
  readonly mtime: Date;
  readonly ctime: Date;
  readonly birthtime: Date;
  /** Layout of the file's data, or the one a directory's new children inherit. */
  readonly layout: Layout | undefined;
  /** Bumped by every truncate. */
  readonly truncateVersion: number;
  protected readonly type: InodeType;

  constructor(inode: Inode, options: { size?: number } = {}) {
    super();
    this.type = inode.type;
    this.ino = inode.ino;
    this.mode = fileTypeBits(inode.type) | (inode.mode & 0o7777);
    this.nlink = inode.nlink;
    this.uid = inode.uid;
    this.gid = inode.gid;
    this.size = options.size ?? inode.size;
    this.layout = inode.layout;
    this.blksize = inode.layout?.chunkSizeBytes || CHUNK_SIZE_DEFAULT_BYTES;
    this.blocks = inode.type === InodeType.FILE ? Math.ceil(this.size / STAT_BLOCK_BYTES) : 0;
    this.atimeMs = inode.atimeUs / 1000;
    this.mtimeMs = inode.mtimeUs / 1000;
    this.ctimeMs = inode.ctimeUs / 1000;
    // Spindle does not keep a birth time; like many Linux file systems, report ctime.
    this.birthtimeMs = this.ctimeMs;
    this.atime = new Date(this.atimeMs);
    this.mtime = new Date(this.mtimeMs);
    this.ctime = new Date(this.ctimeMs);
    this.birthtime = new Date(this.birthtimeMs);
    this.truncateVersion = inode.truncateVersion;
  }
}

/** One directory entry, shaped like fs.Dirent (readdir with withFileTypes). */
export class SpindleDirent extends TypedEntry {
  readonly name: string;
  /** The directory listed. */
  readonly parentPath: string;
  /** Same as parentPath (the older node:fs name). */
  readonly path: string;
  readonly ino: number;
  protected readonly type: InodeType;

  constructor(entry: { name: string; ino: number; type: InodeType }, parentPath: string) {
    super();
    this.name = entry.name;
    this.parentPath = parentPath;
    this.path = parentPath;
    this.ino = entry.ino;
    this.type = entry.type;
  }
}

/** Capacity and usage, in bytes and in fs.StatFs's block terms. */
export interface SpindleStatFs {
  capacityBytes: number;
  usedBytes: number;
  freeBytes: number;
  inodes: number;
  /** fs.StatFs shape: block size 4096 and counts in blocks. */
  type: number;
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}
