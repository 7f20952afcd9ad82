import { describe, expect, it } from 'vitest';
import { InodeType, type Inode } from '../proto/index.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, SpindleDirent, SpindleStats } from './stats.js';

const inode = (overrides: Partial<Inode> = {}): Inode => ({
  ino: 42,
  type: InodeType.FILE,
  mode: 0o640,
  uid: 1000,
  gid: 100,
  size: 1025,
  nlink: 1,
  atimeUs: 1_700_000_000_123_456,
  mtimeUs: 1_700_000_001_000_000,
  ctimeUs: 1_700_000_002_000_500,
  layout: {
    chunkSizeBytes: 65536,
    stripeWidth: 4,
    chainTableId: 1,
    chainTableVersion: 1,
    chainBase: 0,
    shuffleSeed: 7,
  },
  symlinkTarget: '',
  truncateVersion: 3,
  parentIno: 0,
  ...overrides,
});

describe('SpindleStats', () => {
  it('converts a file inode like fs.Stats', () => {
    const stats = new SpindleStats(inode());
    expect(stats.ino).toBe(42);
    expect(stats.mode & S_IFMT).toBe(S_IFREG);
    expect(stats.mode & 0o7777).toBe(0o640);
    expect(stats.isFile()).toBe(true);
    expect(stats.isDirectory()).toBe(false);
    expect(stats.isSymbolicLink()).toBe(false);
    expect(stats.size).toBe(1025);
    expect(stats.blksize).toBe(65536);
    expect(stats.blocks).toBe(3);
    expect(stats.uid).toBe(1000);
    expect(stats.gid).toBe(100);
    expect(stats.nlink).toBe(1);
    expect(stats.atimeMs).toBeCloseTo(1_700_000_000_123.456, 3);
    expect(stats.mtime.getTime()).toBe(1_700_000_001_000);
    expect(stats.ctimeMs).toBeCloseTo(1_700_000_002_000.5, 3);
    expect(stats.truncateVersion).toBe(3);
  });

  it('lets the caller override the size (bytes a handle wrote but has not synced)', () => {
    expect(new SpindleStats(inode(), { size: 5000 }).size).toBe(5000);
  });

  it('marks directories and symlinks with their type bits', () => {
    const dir = new SpindleStats(inode({ type: InodeType.DIRECTORY, mode: 0o755, size: 3, nlink: 3 }));
    expect(dir.mode).toBe(S_IFDIR | 0o755);
    expect(dir.isDirectory()).toBe(true);
    expect(dir.blocks).toBe(0);
    const link = new SpindleStats(inode({ type: InodeType.SYMLINK, mode: 0o777, symlinkTarget: '/a' }));
    expect(link.mode & S_IFMT).toBe(S_IFLNK);
    expect(link.isSymbolicLink()).toBe(true);
    expect(link.isFile()).toBe(false);
  });
});

describe('SpindleDirent', () => {
  it('describes an entry like fs.Dirent', () => {
    const entry = new SpindleDirent({ name: 'x', ino: 9, type: InodeType.DIRECTORY }, '/data');
    expect(entry.name).toBe('x');
    expect(entry.parentPath).toBe('/data');
    expect(entry.isDirectory()).toBe(true);
    expect(entry.isFile()).toBe(false);
  });
});
