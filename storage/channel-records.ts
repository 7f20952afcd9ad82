// Exactly-once across head changes (docs/3fs-notes.md §2.3): every replica of a chain records, per
// client update channel (client id, chain id, channel id), the seqnum of the last client write it
// committed and that write's result. The client's (client id, channel, seqnum) travels down the
// chain with the update (`UpdateRequest.client_write`), so after a failover the new head — a former
// replica — answers a retry of an already committed write from its record instead of applying it
// again (which could overwrite another client's later write to the same range).
//
// The head's in-memory `UpdateDedupe` still handles retries that arrive while the first attempt
// runs; this table is what survives a head change and a restart. Records live in memory and in a
// small lmdb env next to the target's chunks (`channels.mdb`), written after the chunk's commit:
// a crash between the two forgets the record (the retry then re-runs, as before this table).
// Bounded: CHANNEL_RECORDS_MAX channels per target (least recently used forgotten first), and a
// channel unused for DEDUPE_CHANNEL_IDLE_MS is forgotten.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { lmdbWrite } from './chunk-engine/lmdb-failures.js';
import type { Clock } from '../common/clock.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { ClientWriteId, CopiedChannelRecord, WriteRequest, WriteResponse } from '../proto/index.js';
import { CHANNEL_RECORDS_MAX, DEDUPE_CHANNEL_IDLE_MS } from './constants.js';

export interface ChannelRecord {
  seqnum: number;
  /** The client write's digest (chunk, type, offset, length, data CRC); a retry must match it. */
  fingerprint: string;
  response: WriteResponse;
  /** Last recorded or used (ms, the clock's time). */
  atMs: number;
}

/** Where records persist: the target's `channels.mdb` (open()), or the simulator's in-memory store (openOn()). */
export interface ChannelRecordsStore {
  put(key: string, record: ChannelRecord): Promise<boolean>;
  remove(key: string): Promise<boolean>;
  getRange(): Iterable<{ key: string; value: ChannelRecord }>;
  close(): Promise<void>;
}

export interface ChannelRecordsOptions {
  clock: Clock;
  /** Channels kept (default CHANNEL_RECORDS_MAX). */
  capacity?: number;
  /** A channel unused this long is forgotten (default DEDUPE_CHANNEL_IDLE_MS). */
  idleMs?: number;
}

/** The client write carried by a head's Write, or undefined when it has no exactly-once channel. */
export function clientWriteOf(request: WriteRequest): ClientWriteId | undefined {
  const clientId = request.tag?.clientId ?? '';
  if (request.channelId === 0 || clientId === '') return undefined;
  return {
    clientId,
    channelId: request.channelId,
    seqnum: request.seqnum,
    type: request.type,
    offset: request.offset,
    length: request.data.length,
    dataCrc32c: request.dataCrc32c,
  };
}

/** Key of a channel's record (the same channel key as the head's UpdateDedupe). */
function channelKey(chainId: number, write: ClientWriteId): string {
  return `${write.clientId}/${chainId}/${write.channelId}`;
}

/** The chain of a channel key (`client/chain/channel`; the client id may hold slashes), NaN if malformed. */
function chainOfKey(key: string): number {
  const parts = key.split('/');
  return parts.length < 3 ? Number.NaN : Number(parts[parts.length - 2]);
}

/** How every fingerprint of a write to chunk (ino, index) starts. */
function chunkPrefix(ino: number, index: number): string {
  return `${ino}:${index}:`;
}

/** Digest of a client write on a chunk (the same as the head's UpdateDedupe fingerprint). */
function clientWriteFingerprint(chunk: { ino: number; index: number }, write: ClientWriteId): string {
  return `${chunk.ino}:${chunk.index}:${write.type}:${write.offset}:${write.length}:${write.dataCrc32c}`;
}

export class ChannelRecords {
  /** Insertion order = least recently used first. */
  private readonly records = new Map<string, ChannelRecord>();
  private readonly capacity: number;
  private readonly idleMs: number;
  /** lmdb writes not finished yet (close waits for them). */
  private readonly writing = new Set<Promise<unknown>>();

  private constructor(
    private readonly options: ChannelRecordsOptions,
    private readonly db: ChannelRecordsStore | undefined,
  ) {
    this.capacity = options.capacity ?? CHANNEL_RECORDS_MAX;
    this.idleMs = options.idleMs ?? DEDUPE_CHANNEL_IDLE_MS;
  }

  /** A table kept in memory only (tests, the simulator). */
  static inMemory(options: ChannelRecordsOptions): ChannelRecords {
    return new ChannelRecords(options, undefined);
  }

  /** Opens (creating if needed) `dir/channels.mdb` and loads the records that have not expired. */
  static async open(dir: string, options: ChannelRecordsOptions & { fsync?: boolean }): Promise<ChannelRecords> {
    await mkdir(dir, { recursive: true });
    const db = openLmdb<ChannelRecord, string>({
      path: join(dir, 'channels.mdb'),
      compression: false,
      noSync: options.fsync === false,
    });
    return ChannelRecords.openOn(db, options);
  }

  /** A table on a given store, loading the records that have not expired (open() on lmdb; the simulator's store). */
  static openOn(db: ChannelRecordsStore, options: ChannelRecordsOptions): ChannelRecords {
    const table = new ChannelRecords(options, db);
    const now = options.clock.nowMs();
    const loaded: Array<[string, ChannelRecord]> = [];
    for (const { key, value } of db.getRange()) {
      if (now - value.atMs >= table.idleMs) void table.persist(() => db.remove(key));
      else loaded.push([key, value]);
    }
    loaded.sort((a, b) => a[1].atMs - b[1].atMs);
    for (const [key, value] of loaded) table.records.set(key, value);
    table.evictOverCapacity();
    return table;
  }

  get size(): number {
    return this.records.size;
  }

  /**
   * The recorded result of this very write (same channel, seqnum and content), or undefined when
   * the channel has no record of it (a newer write: run it). Throws DUPLICATE_REQUEST_MISMATCH for
   * an outdated seqnum or a seqnum already used for another write.
   */
  lookup(key: string, seqnum: number, fingerprint: string): WriteResponse | undefined {
    const now = this.options.clock.nowMs();
    this.expire(now);
    const record = this.records.get(key);
    if (record === undefined || seqnum > record.seqnum) return undefined;
    if (seqnum < record.seqnum) {
      throw new SpindleError(
        ErrorCode.DUPLICATE_REQUEST_MISMATCH,
        `write channel ${key} committed sequence number ${record.seqnum}; request ${seqnum} is an outdated retry`,
      );
    }
    if (fingerprint !== record.fingerprint) {
      throw new SpindleError(
        ErrorCode.DUPLICATE_REQUEST_MISMATCH,
        `write channel ${key} sequence number ${seqnum} was already committed for a different write`,
      );
    }
    record.atMs = now;
    this.records.delete(key);
    this.records.set(key, record);
    return { ...record.response };
  }

  /**
   * Records that this replica committed client write `seqnum` of channel `key` with `response`.
   * An older seqnum than the one recorded is ignored. The memory table changes at once; the lmdb
   * write runs in the background (close waits for it).
   */
  record(key: string, seqnum: number, fingerprint: string, response: WriteResponse): void {
    const existing = this.records.get(key);
    if (existing !== undefined && seqnum < existing.seqnum) return;
    const now = this.options.clock.nowMs();
    const record: ChannelRecord = {
      seqnum,
      fingerprint,
      response: { length: response.length, commitVersion: response.commitVersion, chunkCrc32c: response.chunkCrc32c },
      atMs: now,
    };
    this.records.delete(key);
    this.records.set(key, record);
    const db = this.db;
    if (db !== undefined) void this.persist(() => db.put(key, record));
    this.expire(now);
    this.evictOverCapacity();
  }

  /**
   * Forgets every record of a write to chunk (ino, index): a resync copy just replaced the chunk,
   * so what this replica recorded may no longer be in it (a record of a version the copy undid
   * would answer a retry with a write that is gone; docs/simulation.md K4). A retry then runs again.
   */
  forgetChunk(ino: number, index: number): void {
    const prefix = chunkPrefix(ino, index);
    for (const [key, record] of [...this.records]) if (record.fingerprint.startsWith(prefix)) this.forget(key);
  }

  /**
   * The records whose last write went to chunk (ino, index), as a resync copy of that chunk carries
   * them (resync-worker.ts): the copy is made from this replica's committed chunk under its lock,
   * so each record names a version the copy holds or one it has overwritten since.
   */
  ofChunk(ino: number, index: number): CopiedChannelRecord[] {
    const prefix = chunkPrefix(ino, index);
    const out: CopiedChannelRecord[] = [];
    for (const [key, record] of this.records) {
      if (!record.fingerprint.startsWith(prefix)) continue;
      out.push({
        channelKey: key,
        seqnum: record.seqnum,
        fingerprint: record.fingerprint,
        response: { ...record.response },
      });
    }
    return out;
  }

  /** Every record of chain `chainId` (a resync's SyncDone carries them: resync-worker.ts). */
  ofChain(chainId: number): CopiedChannelRecord[] {
    const out: CopiedChannelRecord[] = [];
    for (const [key, record] of this.records) {
      if (chainOfKey(key) !== chainId) continue;
      out.push({
        channelKey: key,
        seqnum: record.seqnum,
        fingerprint: record.fingerprint,
        response: { ...record.response },
      });
    }
    return out;
  }

  /**
   * Installs the records a SyncDone of chain `chainId` carried (resync-receiver.ts): the target
   * holds what its predecessor holds, so the predecessor's records hold here too. A channel's
   * newer record here (a forwarded write) is kept. Throws INVALID_ARGUMENT for another chain's record.
   */
  adoptSynced(chainId: number, synced: readonly CopiedChannelRecord[]): void {
    for (const c of synced) {
      if (chainOfKey(c.channelKey) !== chainId || c.response === undefined) {
        throw new SpindleError(
          ErrorCode.INVALID_ARGUMENT,
          `a SyncDone of chain ${chainId} carried a record of another channel (${c.channelKey})`,
        );
      }
    }
    for (const c of synced) this.record(c.channelKey, c.seqnum, c.fingerprint, c.response!);
  }

  /**
   * Installs the records a resync copy of chunk (ino, index) carried (resync-receiver.ts, under the
   * chunk lock, once the copy is committed). A channel's newer record here (a forwarded write that
   * committed after the copy was read) is kept. Throws INVALID_ARGUMENT for a record of another chunk.
   */
  adoptCopied(ino: number, index: number, copied: readonly CopiedChannelRecord[]): void {
    const prefix = chunkPrefix(ino, index);
    for (const c of copied) {
      if (c.channelKey === '' || c.response === undefined || !c.fingerprint.startsWith(prefix)) {
        throw new SpindleError(
          ErrorCode.INVALID_ARGUMENT,
          `a resync copy of chunk ${ino}:${index} carried a record of another write (${c.fingerprint})`,
        );
      }
    }
    for (const c of copied) this.record(c.channelKey, c.seqnum, c.fingerprint, c.response!);
  }

  /** Waits for the lmdb writes in flight, then closes the env. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.writing]);
    await this.db?.close();
  }

  private evictOverCapacity(): void {
    while (this.records.size > this.capacity) {
      const oldest = this.records.keys().next().value as string;
      this.forget(oldest);
    }
  }

  private expire(now: number): void {
    for (const [key, record] of this.records) {
      if (now - record.atMs < this.idleMs) break;
      this.forget(key);
    }
  }

  private forget(key: string): void {
    this.records.delete(key);
    const db = this.db;
    if (db !== undefined) void this.persist(() => db.remove(key));
  }

  private persist(write: () => Promise<unknown>): Promise<void> {
    // A failed write only loses the record (a later retry re-runs, as without this table).
    const pending = lmdbWrite('exactly-once record', write).then(
      () => undefined,
      () => undefined,
    );
    this.writing.add(pending);
    void pending.finally(() => this.writing.delete(pending));
    return pending;
  }
}

/**
 * At the head, under the chunk lock: the recorded result when this replica already committed
 * `write` (a retry after a head change or restart), undefined when it must run. `channels` is
 * undefined for targets without a table (the simulator's).
 */
export function recordedResult(
  channels: ChannelRecords | undefined,
  chainId: number,
  chunk: { ino: number; index: number },
  write: ClientWriteId | undefined,
): WriteResponse | undefined {
  if (channels === undefined || write === undefined) return undefined;
  return channels.lookup(channelKey(chainId, write), write.seqnum, clientWriteFingerprint(chunk, write));
}

/** After a commit that carried `write` out: records it (no-op without a write or a table). */
export function recordCommitted(
  channels: ChannelRecords | undefined,
  chainId: number,
  chunk: { ino: number; index: number },
  write: ClientWriteId | undefined,
  response: WriteResponse,
): void {
  if (channels === undefined || write === undefined || write.channelId === 0 || write.clientId === '') return;
  channels.record(channelKey(chainId, write), write.seqnum, clientWriteFingerprint(chunk, write), response);
}
