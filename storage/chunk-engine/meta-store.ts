// What a chunk engine stores its metadata in (and the target's exactly-once records beside it):
// lmdb (lmdb-meta-store.ts) or the simulator's in-memory store (test/sim/sim-disk.ts).
import type { RangeOptions } from 'lmdb';

/**
 * The chunk-metadata store under an engine: the target's lmdb env (open()), or the simulator's
 * in-memory store that loses unflushed transactions on a crash (test/sim, through openOn()).
 */
export interface ChunkMetaStore {
  get(key: Buffer): Buffer | undefined;
  put(key: Buffer, value: Buffer): Promise<boolean>;
  remove(key: Buffer): Promise<boolean>;
  getRange(options: RangeOptions): Iterable<{ key: Buffer; value: Buffer }>;
  getKeys(options: RangeOptions): Iterable<Buffer>;
  /**
   * Writes a chunk's metadata (`value`, or its removal when undefined) and `record` in ONE
   * transaction, so a crash loses both or neither: the exactly-once record of the client write the
   * commit carries out (storage/channel-records.ts). The record is skipped when the stored one of
   * its channel has a higher seqnum.
   */
  commitWith(key: Buffer, value: Buffer | undefined, record: CommitRecord): Promise<boolean>;
  /** The exactly-once records, in the same env as the chunk metadata. */
  readonly records: RecordsStore;
  /** Resolves once every write so far is on disk. */
  readonly flushed: Promise<boolean>;
  close(): Promise<void>;
}

/** An exactly-once record as the engine stores it (its fields belong to storage/channel-records.ts). */
export interface StoredRecord {
  seqnum: number;
}

/** A channel's record, written in a chunk commit's transaction. */
export interface CommitRecord {
  key: string;
  value: StoredRecord;
}

/**
 * The records table beside the chunk metadata (a named db `channels` in the target's `chunks.mdb`).
 * Writes keep a channel's newest record: a put of an older seqnum than the stored one, or a removal
 * of a record older than the stored one, changes nothing.
 */
export interface RecordsStore {
  put(key: string, value: StoredRecord): Promise<boolean>;
  remove(key: string, seqnum: number): Promise<boolean>;
  getRange(): Iterable<{ key: string; value: StoredRecord }>;
}
