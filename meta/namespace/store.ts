// MetaTxn: the namespace's view of one KvEngine transaction. It keeps an identity map of the
// inodes it loaded (so two paths that reach the same directory mutate one object), writes the
// changed ones once at the end, keeps the sharded usage counters (inodes, bytes) in step with
// every create, delete and length change, and collects actions to run after the commit.
//
// A MetaTxn lives for one attempt of a transaction function: the engine may re-run the function
// on a conflict, and each run builds a fresh MetaTxn.
import { ErrorCode, SpindleError, assert } from '../../common/errors.js';
import type { Rng } from '../../common/clock.js';
import type { KvTxn } from '../kv/engine.js';
import { InodeType, type Inode } from '../../proto/index.js';
import { USAGE_SHARDS } from './constants.js';
import {
  decodeEntry,
  decodeGcRecord,
  decodeInode,
  decodeUsage,
  dentryKey,
  dentryName,
  dentryRange,
  encodeEntry,
  encodeGcRecord,
  encodeInode,
  encodeUsage,
  gcOrderKey,
  gcRecordKey,
  inodeKey,
  usageShardKey,
  xattrKey,
  xattrName,
  xattrRange,
  type EntryValue,
  type GcRecord,
} from './schema.js';

export interface ListedEntry extends EntryValue {
  name: string;
}

export interface ListedEntryKey extends EntryValue {
  /** The entry's DENT key: its name's UTF-8 bytes start at DENTRY_NAME_OFFSET. */
  key: Uint8Array;
}

export class MetaTxn {
  /** Loaded inodes; null = known not to exist (or deleted in this transaction). */
  private readonly inodes = new Map<number, Inode | null>();
  private readonly dirty = new Set<number>();
  /**
   * Directory entries read or written by this transaction, by parent ino and name; null = known
   * absent. Many paths of one batch share their directories (BatchStat, a group of creates), so
   * each shared entry is read and decoded once.
   */
  private readonly entries = new Map<string, EntryValue | null>();
  private usageInodes = 0;
  private usageBytes = 0;
  private readonly afterCommitActions: Array<() => Promise<void>> = [];
  /** Inodes deleted by this transaction that had extended attributes (removed at flush). */
  private readonly xattrsToDrop = new Set<number>();
  /** Inodes whose records this transaction wrote or deleted (published after the commit). */
  private readonly changed = new Set<number>();

  constructor(
    readonly txn: KvTxn,
    /** Time of this attempt, µs since the epoch: every timestamp the transaction writes. */
    readonly nowUs: number,
  ) {}

  // -------------------------------------------------------------------------------------------
  // Inodes

  async getInode(ino: number): Promise<Inode | undefined> {
    const cached = this.inodes.get(ino);
    if (cached !== undefined) return cached ?? undefined;
    const bytes = await this.txn.get(inodeKey(ino));
    const inode = bytes === undefined ? null : decodeInode(bytes);
    this.inodes.set(ino, inode);
    return inode ?? undefined;
  }

  async requireInode(ino: number): Promise<Inode> {
    const inode = await this.getInode(ino);
    if (inode === undefined) throw new SpindleError(ErrorCode.NOT_FOUND, `inode ${ino} does not exist`);
    return inode;
  }

  /** Adds a new inode (counted in usage). */
  createInode(inode: Inode): void {
    assert(this.inodes.get(inode.ino) == null, `inode ${inode.ino} created twice`);
    this.inodes.set(inode.ino, inode);
    this.dirty.add(inode.ino);
    this.usageInodes += 1;
    if (inode.type === InodeType.FILE) this.usageBytes += inode.size;
  }

  /** Marks a loaded inode as changed; it is written at the end of the transaction. */
  touch(inode: Inode): void {
    assert(this.inodes.get(inode.ino) === inode, `inode ${inode.ino} was not loaded by this transaction`);
    this.dirty.add(inode.ino);
  }

  /** Sets a file's length, keeping the usage counters in step. */
  setFileLength(inode: Inode, length: number): void {
    assert(inode.type === InodeType.FILE, 'setFileLength on a non-file');
    this.usageBytes += length - inode.size;
    inode.size = length;
    this.touch(inode);
  }

  /** Deletes an inode record (and its share of usage). */
  deleteInode(inode: Inode): void {
    assert(this.inodes.get(inode.ino) === inode, `inode ${inode.ino} was not loaded by this transaction`);
    this.inodes.set(inode.ino, null);
    this.dirty.delete(inode.ino);
    this.txn.delete(inodeKey(inode.ino));
    this.changed.add(inode.ino);
    if (inode.hasXattrs) this.xattrsToDrop.add(inode.ino);
    this.usageInodes -= 1;
    if (inode.type === InodeType.FILE) this.usageBytes -= inode.size;
  }

  /**
   * Moves a file whose last link went away to the GC queue: its inode record leaves INOD and waits
   * under GCQU (with nlink 0) until the collector has removed its chunks.
   */
  queueForGc(inode: Inode): void {
    assert(inode.type === InodeType.FILE, 'only files have chunks to collect');
    this.deleteInode(inode);
    const queued: Inode = { ...inode, nlink: 0, ctimeUs: this.nowUs };
    this.txn.put(gcRecordKey(inode.ino), encodeGcRecord({ queuedAtUs: this.nowUs, inode: queued }));
    this.txn.put(gcOrderKey(this.nowUs, inode.ino), new Uint8Array());
  }

  /** A file waiting in the GC queue (nlink 0): still open somewhere, so sync and fstat find it. */
  async getQueuedInode(ino: number): Promise<GcRecord | undefined> {
    const bytes = await this.txn.get(gcRecordKey(ino));
    return bytes === undefined ? undefined : decodeGcRecord(bytes);
  }

  /** Rewrites a queued file's record (a late length report from a writer that still had it open). */
  putQueuedInode(record: GcRecord): void {
    this.txn.put(gcRecordKey(record.inode.ino), encodeGcRecord(record));
  }

  // -------------------------------------------------------------------------------------------
  // Directory entries

  async getEntry(parentIno: number, name: string): Promise<EntryValue | undefined> {
    const cacheKey = `${parentIno}/${name}`;
    const cached = this.entries.get(cacheKey);
    if (cached !== undefined) return cached === null ? undefined : { ...cached };
    const bytes = await this.txn.get(dentryKey(parentIno, name));
    const entry = bytes === undefined ? null : decodeEntry(bytes);
    this.entries.set(cacheKey, entry);
    return entry === null ? undefined : { ...entry };
  }

  putEntry(parentIno: number, name: string, entry: EntryValue): void {
    this.txn.put(dentryKey(parentIno, name), encodeEntry(entry));
    this.entries.set(`${parentIno}/${name}`, { ino: entry.ino, type: entry.type });
  }

  deleteEntry(parentIno: number, name: string): void {
    this.txn.delete(dentryKey(parentIno, name));
    this.entries.set(`${parentIno}/${name}`, null);
  }

  /** Entries of a directory in byte order of their names, strictly after `afterName` when given. */
  async listEntries(parentIno: number, limit: number, afterName?: string): Promise<ListedEntry[]> {
    const range = dentryRange(parentIno);
    const start = afterName ? Buffer.concat([dentryKey(parentIno, afterName), Buffer.of(0)]) : range.start;
    const pairs = await this.txn.getRange(start, range.end, { limit });
    return pairs.map((pair) => {
      const entry = decodeEntry(pair.value);
      return { name: dentryName(pair.key), ino: entry.ino, type: entry.type };
    });
  }

  /**
   * As listEntries, with each name left in its stored key (from DENTRY_NAME_OFFSET): a listing
   * page copies the bytes into its packed form without a string or a view per entry.
   */
  async listEntryKeys(parentIno: number, limit: number, afterName?: string): Promise<ListedEntryKey[]> {
    const range = dentryRange(parentIno);
    const start = afterName ? Buffer.concat([dentryKey(parentIno, afterName), Buffer.of(0)]) : range.start;
    const pairs = await this.txn.getRange(start, range.end, { limit });
    return pairs.map((pair) => {
      const entry = decodeEntry(pair.value);
      return { key: pair.key, ino: entry.ino, type: entry.type };
    });
  }

  async isEmptyDirectory(ino: number): Promise<boolean> {
    return (await this.listEntries(ino, 1)).length === 0;
  }

  // -------------------------------------------------------------------------------------------
  // Extended attributes (the inode's has_xattrs flag spares a range read on every delete)

  async getXattr(ino: number, name: string): Promise<Uint8Array | undefined> {
    return this.txn.get(xattrKey(ino, name));
  }

  putXattr(inode: Inode, name: string, value: Uint8Array): void {
    this.txn.put(xattrKey(inode.ino, name), value);
    if (!inode.hasXattrs) {
      inode.hasXattrs = true;
      this.touch(inode);
    }
  }

  deleteXattr(ino: number, name: string): void {
    this.txn.delete(xattrKey(ino, name));
  }

  /** Names and value sizes of an inode's extended attributes, in byte order of their names. */
  async listXattrs(ino: number, limit: number): Promise<Array<{ name: string; size: number }>> {
    const range = xattrRange(ino);
    const pairs = await this.txn.getRange(range.start, range.end, { limit });
    return pairs.map((pair) => ({ name: xattrName(pair.key), size: pair.value.byteLength }));
  }

  // -------------------------------------------------------------------------------------------
  // Commit

  /** Runs `action` once the transaction has committed (never for an attempt that is re-run). */
  afterCommit(action: () => Promise<void>): void {
    this.afterCommitActions.push(action);
  }

  /** Inodes whose records were written or deleted (complete after flush). */
  get changedInodes(): ReadonlySet<number> {
    return this.changed;
  }

  get afterCommitList(): ReadonlyArray<() => Promise<void>> {
    return this.afterCommitActions;
  }

  /** Writes the changed inodes and this transaction's usage delta (to one random shard). */
  async flush(rng: Rng): Promise<void> {
    for (const ino of this.xattrsToDrop) {
      const range = xattrRange(ino);
      for (const pair of await this.txn.getRange(range.start, range.end)) this.txn.delete(pair.key);
    }
    this.xattrsToDrop.clear();
    for (const ino of this.dirty) {
      const inode = this.inodes.get(ino);
      assert(inode, `dirty inode ${ino} vanished`);
      this.txn.put(inodeKey(ino), encodeInode(inode));
      this.changed.add(ino);
    }
    this.dirty.clear();
    if (this.usageInodes !== 0 || this.usageBytes !== 0) {
      const key = usageShardKey(rng.nextInt(USAGE_SHARDS));
      const current = await this.txn.get(key);
      const usage = current === undefined ? { inodes: 0, bytes: 0 } : decodeUsage(current);
      this.txn.put(key, encodeUsage({ inodes: usage.inodes + this.usageInodes, bytes: usage.bytes + this.usageBytes }));
      this.usageInodes = 0;
      this.usageBytes = 0;
    }
  }
}
