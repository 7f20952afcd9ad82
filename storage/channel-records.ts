// Exactly-once across head changes (docs/3fs-notes.md §2.3): every replica of a chain records, per
// client update channel (client id, chain id, channel id), the seqnum of the last client write it
// committed and that write's result. The client's (client id, channel, seqnum) travels down the
// chain with the update (`UpdateRequest.client_write`), so after a failover the new head — a former
// replica — answers a retry of an already committed write from its record instead of applying it
// again (which could overwrite another client's later write to the same range).
//
// The head's in-memory `UpdateDedupe` still handles retries that arrive while the first attempt
// runs; this table is what survives a head change and a restart. Records live in memory and in a
// named db `channels` of the target's chunk-metadata env (`chunks.mdb`, lmdb-meta-store.ts): the
// record of a client write is written in the same transaction as the chunk commit that carries it
// out (ChunkEngine.commit's `record`), so a crash loses both or neither (docs/simulation.md K2).
// Records a resync brings (adoptCopied, adoptSynced) and forgotten ones are written in the
// background: a target that crashes before they are durable returns through another resync.
// Targets written before this kept their records in a separate env, `channels.mdb`: open() moves
// them into the chunk env and deletes it.
// Bounded: CHANNEL_RECORDS_MAX channels per target (least recently used forgotten first), and a
// channel unused for DEDUPE_CHANNEL_IDLE_MS is forgotten.
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import type { CommitRecord, RecordsStore, StoredRecord } from './chunk-engine/meta-store.js';
import { lmdbWrite } from './chunk-engine/lmdb-failures.js';
import type { Clock } from '../common/clock.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { ClientWriteId, CopiedChannelRecord, WriteRequest, WriteResponse } from '../proto/index.js';
import { CHANNEL_RECORDS_MAX, DEDUPE_CHANNEL_IDLE_MS } from './constants.js';

export interface ChannelRecord extends StoredRecord {
  /** The client write's digest (chunk, type, offset, length, data CRC); a retry must match it. */
  fingerprint: string;
  response: WriteResponse;
  /** Last recorded or used (ms, the clock's time). */
  atMs: number;
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
    private readonly db: RecordsStore | undefined,
  ) {
    this.capacity = options.capacity ?? CHANNEL_RECORDS_MAX;
    this.idleMs = options.idleMs ?? DEDUPE_CHANNEL_IDLE_MS;
  }

  /** A table kept in memory only (tests, the simulator). */
  static inMemory(options: ChannelRecordsOptions): ChannelRecords {
    return new ChannelRecords(options, undefined);
  }

  /**
   * The table on a target's records store (`engine.records`), loading the records that have not
   * expired; first moves the records of an older target's `dir/channels.mdb` into it (and deletes it).
   */
  static async open(dir: string, store: RecordsStore, options: ChannelRecordsOptions): Promise<ChannelRecords> {
    await migrateChannelsEnv(dir, store);
    return ChannelRecords.openOn(store, options);
  }

  /** A table on a given store, loading the records that have not expired (open(); the simulator's store). */
  static openOn(db: RecordsStore, options: ChannelRecordsOptions): ChannelRecords {
    const table = new ChannelRecords(options, db);
    const now = options.clock.nowMs();
    const loaded: Array<[string, ChannelRecord]> = [];
    for (const { key, value } of db.getRange()) {
      const record = value as ChannelRecord;
      if (now - record.atMs >= table.idleMs) void table.persist(() => db.remove(key, record.seqnum));
      else loaded.push([key, structuredClone(record)]);
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
   * Records that this replica committed client write `seqnum` of channel `key` with `response` (a
   * resync brought the record). An older seqnum than the one recorded is ignored. The memory table
   * changes at once; the lmdb write runs in the background (close waits for it).
   */
  record(key: string, seqnum: number, fingerprint: string, response: WriteResponse): void {
    const record = this.prepare(key, seqnum, fingerprint, response);
    if (record === undefined) return;
    this.remember(record);
    const db = this.db;
    if (db !== undefined) void this.persist(() => db.put(record.key, record.value));
  }

  /**
   * The record of client write `seqnum` of channel `key`, for the chunk commit that carries the
   * write out to write in its transaction; undefined when a newer one is recorded. Once the commit
   * is durable, remember() puts it in memory.
   */
  prepare(key: string, seqnum: number, fingerprint: string, response: WriteResponse): CommitRecord | undefined {
    const existing = this.records.get(key);
    if (existing !== undefined && seqnum < existing.seqnum) return undefined;
    const value: ChannelRecord = {
      seqnum,
      fingerprint,
      response: { length: response.length, commitVersion: response.commitVersion, chunkCrc32c: response.chunkCrc32c },
      atMs: this.options.clock.nowMs(),
    };
    return { key, value };
  }

  /** Puts a prepared record in memory (newer one kept); its lmdb write is the caller's. */
  remember(prepared: CommitRecord): void {
    const { key } = prepared;
    const record = structuredClone(prepared.value as ChannelRecord);
    const existing = this.records.get(key);
    if (existing !== undefined && record.seqnum < existing.seqnum) return;
    this.records.delete(key);
    this.records.set(key, record);
    this.expire(this.options.clock.nowMs());
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

  /** Waits for the lmdb writes in flight (the env is the chunk engine's: it closes it). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.writing]);
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
    const record = this.records.get(key);
    if (record === undefined) return;
    this.records.delete(key);
    const db = this.db;
    // Removes the stored record only if it is no newer than this one (a commit may have written one).
    if (db !== undefined) void this.persist(() => db.remove(key, record.seqnum));
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

/**
 * Before a commit that carries `write` out: the record to write in the commit's transaction
 * (ChunkEngine.commit's `record`); undefined without a write or a table, or when a newer one is
 * recorded. Once the commit resolved, recordCommitted() puts it in memory.
 */
export function commitRecordOf(
  channels: ChannelRecords | undefined,
  chainId: number,
  chunk: { ino: number; index: number },
  write: ClientWriteId | undefined,
  response: WriteResponse,
): CommitRecord | undefined {
  if (channels === undefined || write === undefined || write.channelId === 0 || write.clientId === '') return undefined;
  return channels.prepare(channelKey(chainId, write), write.seqnum, clientWriteFingerprint(chunk, write), response);
}

/** After the commit that wrote `record` (commitRecordOf) resolved: the record in memory too. */
export function recordCommitted(channels: ChannelRecords | undefined, record: CommitRecord | undefined): void {
  if (record !== undefined) channels?.remember(record);
}

/**
 * Moves the records of a target's former separate env (`dir/channels.mdb`, before records shared
 * the chunk env) into `store` (a channel's newer record there kept), then deletes the old env. A
 * crash before the deletion repeats the move at the next start, which changes nothing.
 */
async function migrateChannelsEnv(dir: string, store: RecordsStore): Promise<void> {
  const path = join(dir, 'channels.mdb');
  try {
    await access(path);
  } catch {
    return;
  }
  const old = openLmdb<ChannelRecord, string>({ path, compression: false });
  try {
    const moved = [...old.getRange({})].map(({ key, value }) => lmdbWrite('records move', () => store.put(key, value)));
    await Promise.all(moved);
  } finally {
    await old.close();
  }
  await rm(path, { force: true });
  await rm(`${path}-lock`, { force: true });
}
