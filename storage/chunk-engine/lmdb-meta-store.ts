// The chunk-metadata store of a target on lmdb: `chunks.mdb` holds the chunk metadata in its root db
// and the exactly-once records (storage/channel-records.ts) in a named db `channels`, so a chunk's
// commit and the record of the client write it carries out are one transaction (docs/simulation.md
// K2: a record written after the commit, in another env, was lost with a crash right after the
// acknowledgement, and the client's retry ran the write again). lmdb keeps a named db's entry in the
// root db (key `channels\0`, 9 bytes): readers of the root skip keys that are not chunk keys.
import { open as openLmdb, type RangeOptions, type RootDatabase } from 'lmdb';
import type { ChunkMetaStore, CommitRecord, RecordsStore, StoredRecord } from './meta-store.js';

/** Opens `path` (chunks.mdb). `fsync` false: lmdb leaves flushing to the OS (throwaway test targets). */
export function openLmdbMetaStore(path: string, fsync: boolean): ChunkMetaStore {
  const env = openLmdb<Buffer, Buffer>({
    path,
    keyEncoding: 'binary',
    encoding: 'binary',
    compression: false,
    // Each commit is synced before its promise resolves (overlapping sync would resolve first
    // and flush later); with fsync off, lmdb leaves flushing to the OS.
    overlappingSync: false,
    noSync: !fsync,
  });
  return new LmdbMetaStore(env);
}

class LmdbMetaStore implements ChunkMetaStore {
  readonly records: RecordsStore;
  private readonly channels;

  constructor(private readonly env: RootDatabase<Buffer, Buffer>) {
    this.channels = env.openDB<StoredRecord, string>({
      name: 'channels',
      encoding: 'msgpack',
      keyEncoding: 'ordered-binary',
      compression: false,
    });
    const channels = this.channels;
    this.records = {
      put: (key, value) => env.transaction(() => this.putNewer({ key, value })),
      remove: (key, seqnum) =>
        env.transaction(() => {
          const stored = channels.get(key);
          if (stored === undefined || stored.seqnum > seqnum) return false;
          void channels.remove(key);
          return true;
        }),
      getRange: () => channels.getRange({}),
    };
  }

  /** Inside a write transaction: puts `record` unless its channel's stored record is newer. */
  private putNewer(record: CommitRecord): boolean {
    const stored = this.channels.get(record.key);
    if (stored !== undefined && stored.seqnum > record.value.seqnum) return false;
    void this.channels.put(record.key, record.value);
    return true;
  }

  get(key: Buffer): Buffer | undefined {
    return this.env.get(key);
  }

  put(key: Buffer, value: Buffer): Promise<boolean> {
    return this.env.put(key, value);
  }

  remove(key: Buffer): Promise<boolean> {
    return this.env.remove(key);
  }

  commitWith(key: Buffer, value: Buffer | undefined, record: CommitRecord): Promise<boolean> {
    return this.env.transaction(() => {
      const existed = value === undefined ? this.env.get(key) !== undefined : true;
      void (value === undefined ? this.env.remove(key) : this.env.put(key, value));
      this.putNewer(record);
      return existed;
    });
  }

  getRange(options: RangeOptions): Iterable<{ key: Buffer; value: Buffer }> {
    return this.env.getRange(options);
  }

  getKeys(options: RangeOptions): Iterable<Buffer> {
    return this.env.getKeys(options);
  }

  get flushed(): Promise<boolean> {
    return this.env.flushed;
  }

  close(): Promise<void> {
    return this.env.close();
  }
}
