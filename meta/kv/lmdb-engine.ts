// The embedded default KvEngine: one lmdb environment in a local directory, owned by one process.
//
// Transactions are those of optimistic-engine.ts (read its header for the full design): fn runs
// on the JS thread against a snapshot made of lmdb's latest committed state plus an in-memory
// overlay of recent versions — including writes already committed in order but not yet
// committed by lmdb — and is validated (keys read, ranges scanned) in a synchronous critical
// section at commit. lmdb-js cannot run an async fn inside its synchronous write transaction, so
// lmdb only ever sees blind, already-validated writes:
// - Each validated transaction is handed to lmdb-js as one `db.batch()`, in commit order. lmdb-js
//   queues batches to its write thread and commits everything queued in one event turn as one
//   LMDB transaction (group commit): thousands of small transactions share one fsync.
// - `overlappingSync` lets the next LMDB commit start while the previous one is being flushed;
//   `separateFlushed` gives each batch two promises: committed (visible to new lmdb reads; the
//   overlay can let go of it) and flushed (durable). A transaction resolves only after its batch
//   — and every earlier one — is flushed.
// - After kill -9, lmdb reopens at the last committed LMDB transaction (lmdb-js keeps it unless
//   the machine rebooted; after a power loss, at the last flushed one). Either way every
//   transaction whose promise resolved is there, because it resolved only after its flush.
// - A lock file (DIR/spindle-kv.lock with the owner's pid) keeps a second process — or a second
//   engine in this process — from opening the same directory: the overlay assumes one writer.
// Keys and values are raw bytes (`keyEncoding: 'binary'`, `encoding: 'binary'`): lmdb's default
// ordered-binary key encoding stores a bigint as a double, reads `[x]` back as `x` and corrupts a
// Buffer inside an array key.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { LMDB_MAP_SIZE_DEFAULT_BYTES, LMDB_READERS_MAX } from './constants.js';
import type { KvPair } from './engine.js';
import {
  OptimisticEngine,
  type KvApplyResult,
  type KvBackend,
  type KvBackendCursor,
  type KvWrite,
} from './optimistic-engine.js';

export interface LmdbEngineOptions {
  /** Directory of the lmdb environment (created if missing). */
  path: string;
  /** Initial map size; lmdb-js grows it on demand. */
  mapSizeBytes?: number;
  /** Re-runs of a conflicting transaction before TXN_CONFLICT. */
  txnRetriesMax?: number;
  logger?: Logger;
}

export type LmdbEngine = OptimisticEngine;

/** Name of the lock file inside the environment directory. */
export const LMDB_LOCK_FILE = 'spindle-kv.lock';

type BinaryDb = RootDatabase<Buffer, Buffer>;

class LmdbBackend implements KvBackend {
  constructor(
    private readonly db: BinaryDb,
    private readonly releaseLock: () => void,
  ) {}

  get(key: Buffer): Uint8Array | undefined {
    // getBinary returns a buffer the caller owns (getBinaryFast would reuse a shared one).
    return this.db.getBinary(key) ?? undefined;
  }

  scan(start: Buffer, end: Buffer, reverse: boolean): KvBackendCursor {
    // lmdb-js ranges start at `start` and stop before `end` in the direction of travel; a reverse
    // scan of [start, end) therefore starts at `end` (excluded) and ends at `start` (included).
    const options = reverse
      ? { start: end, end: start, reverse: true, exclusiveStart: true, inclusiveEnd: true }
      : start.byteLength === 0
        ? { end }
        : { start, end };
    const iterator = this.db.getRange(options)[Symbol.iterator]();
    let done = false;
    const close = () => {
      if (!done) {
        done = true;
        iterator.return?.();
      }
    };
    return {
      next: (): KvPair | undefined => {
        if (done) return undefined;
        const step = iterator.next();
        if (step.done === true) {
          done = true;
          return undefined;
        }
        const { key, value } = step.value;
        // Belt and braces: never return a key past the bound in the direction of travel.
        if (reverse ? Buffer.compare(key, start) < 0 : Buffer.compare(key, end) >= 0) {
          close();
          return undefined;
        }
        return { key, value };
      },
      close,
    };
  }

  apply(writes: readonly KvWrite[]): KvApplyResult {
    const db = this.db;
    const committed = db.batch(() => {
      for (const write of writes) {
        if (write.value === undefined) void db.remove(write.key);
        else void db.put(write.key, write.value);
      }
    }) as Promise<boolean> & { flushed?: Promise<unknown> };
    const flushed = committed.flushed;
    if (flushed === undefined) throw new Error('lmdb-js did not return a flushed promise (separateFlushed off?)');
    return { visible: committed, durable: flushed };
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      this.releaseLock();
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes DIR/spindle-kv.lock for this process; returns its release function. */
function acquireLock(dir: string): () => void {
  const lockPath = join(dir, LMDB_LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(lockPath, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner = Number.NaN;
      try {
        owner = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
      } catch {
        // Vanished or unreadable: treat as stale and try again.
      }
      if (Number.isInteger(owner) && owner > 0 && (owner === process.pid || pidAlive(owner))) {
        throw new SpindleError(
          ErrorCode.BUSY,
          `kv directory ${dir} is in use by process ${owner}` +
            (owner === process.pid ? ' (this process: close the other engine first)' : '') +
            `; if that process is gone, remove ${lockPath}`,
        );
      }
      try {
        unlinkSync(lockPath);
      } catch {
        // Someone else removed it first; retry.
      }
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      try {
        if (Number.parseInt(readFileSync(lockPath, 'utf8'), 10) === process.pid) unlinkSync(lockPath);
      } catch {
        // Already gone.
      }
    };
  }
  throw new SpindleError(ErrorCode.BUSY, `could not take the lock ${lockPath}: it keeps reappearing`);
}

/** Opens (creating if needed) the lmdb environment at options.path. */
export async function createLmdbEngine(options: LmdbEngineOptions): Promise<LmdbEngine> {
  const dir = resolve(options.path);
  const mapSizeBytes = options.mapSizeBytes ?? LMDB_MAP_SIZE_DEFAULT_BYTES;
  if (!Number.isSafeInteger(mapSizeBytes) || mapSizeBytes < 1024 * 1024) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `mapSizeBytes must be an integer >= 1 MiB, got ${String(options.mapSizeBytes)}`,
    );
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new SpindleError(ErrorCode.IO_ERROR, `cannot create kv directory ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const releaseLock = acquireLock(dir);
  let db: BinaryDb;
  try {
    db = open<Buffer, Buffer>({
      path: dir,
      keyEncoding: 'binary',
      encoding: 'binary',
      mapSize: mapSizeBytes,
      maxReaders: LMDB_READERS_MAX,
      overlappingSync: true,
      separateFlushed: true,
      cache: false,
      compression: false,
    });
  } catch (error) {
    releaseLock();
    throw new SpindleError(ErrorCode.IO_ERROR, `cannot open lmdb environment at ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const backend = new LmdbBackend(db, releaseLock);
  try {
    const engine = new OptimisticEngine({
      name: 'lmdb',
      backend,
      txnRetriesMax: options.txnRetriesMax,
      logger: options.logger,
    });
    options.logger?.debug({ path: dir, mapSizeBytes }, 'lmdb kv engine opened');
    return engine;
  } catch (error) {
    await backend.close();
    throw error;
  }
}
