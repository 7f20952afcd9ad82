// CheckpointSave: one rank's part of saving one step (docs/checkpoints.md).
//
// begin (Checkpoints.begin → CheckpointSave.start) makes the staging directory
// `.step-<N>.saving-<saveId>` if no rank has yet, then `rank-<r>/` and `owner-<r>.json`.
// writeShard writes `rank-<r>/<name>` in large writes, computing its CRC32C on the way (a buffer, or
// captured staging pieces, go to the writes as they are; a stream's pieces are gathered); adoptShard
// records such a file the caller wrote itself (through a mount) after reading it back. finish
// writes `rank-<r>.json` (the rank's shards, sizes and CRCs) last, synced, then tries to commit
// (commit.ts): the last rank to finish commits; the committer then applies retention.
//
// Guarantees: nothing of a save is visible in list() before its commit; a rank's part is written
// only after every one of its shards is synced and closed; a committed step is never written to.
// Bad arguments are INVALID_ARGUMENT naming the field and change nothing (the save stays usable);
// after a failed write the save only aborts. Calls run one at a time in call order.
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { type Clock, systemClock } from '../../common/clock.js';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError, isSpindleError } from '../../common/errors.js';
import { BufferedFileWriter } from '../buffered-file-writer.js';
import type { SpindleClient } from '../spindle-client.js';
import { checkShardName } from './args.js';
import { type Capture, captureBytes } from './capture.js';
import { type CommitOutcome, type SaveLocation, readCommittedManifest, tryCommit, writePart } from './commit.js';
import { SHARD_WRITES_IN_FLIGHT, VERIFY_READ_BYTES } from './constants.js';
import { writeSyncedFile } from './files.js';
import { type RankOwner, type RankPart, type ShardRecord, ownerFileName, rankDirName } from './format.js';
import type { StagingPool } from './staging-pool.js';

/** What finish() did: committed (by this rank or another) or waiting for other ranks. */
export type FinishResult = CommitOutcome & {
  /** Steps retention removed (only on the committing rank). */
  readonly deletedSteps: readonly number[];
};

export interface SaveContext {
  readonly client: SpindleClient;
  readonly location: SaveLocation;
  readonly rank: number;
  readonly clock?: Clock;
  /** The staging memory captureShard copies into (shared by a Checkpoints' saves, bounded). */
  readonly stagingPool: StagingPool;
  /** Run by the committing rank after its commit: retention; resolves with the deleted steps. */
  readonly afterCommit: () => Promise<number[]>;
}

type SaveState = 'open' | 'failed' | 'finished' | 'aborted';

/** Bytes to write; `release` present: lent until written (no copy), called once the writer is done. */
interface ShardPiece {
  readonly bytes: Uint8Array;
  readonly release?: () => void;
}

function noRelease(): void {}

async function* callerPieces(data: AsyncIterable<Uint8Array>): AsyncGenerator<ShardPiece> {
  for await (const bytes of data) yield { bytes };
}

function existsError(location: SaveLocation, saveId: string | undefined): SpindleError {
  return new SpindleError(
    ErrorCode.EXISTS,
    `step ${location.step} is already committed${saveId === undefined ? '' : ` (save ${saveId})`} in ` +
      `${location.stepPath}: delete it first to save it again, or save another step`,
  );
}

export class CheckpointSave {
  readonly step: number;
  readonly rank: number;
  readonly worldSize: number;
  readonly saveId: string;
  /** The staging directory every rank of this save writes into until the commit. */
  readonly stagingPath: string;
  private readonly context: SaveContext;
  private readonly shards: ShardRecord[] = [];
  private readonly names = new Set<string>();
  private state: SaveState = 'open';
  private failure: unknown;
  private queue: Promise<unknown> = Promise.resolve();
  /** The last captureShard copy: the next one starts after it. */
  private captures: Promise<unknown> = Promise.resolve();

  private constructor(context: SaveContext) {
    this.context = context;
    this.step = context.location.step;
    this.rank = context.rank;
    this.worldSize = context.location.worldSize;
    this.saveId = context.location.saveId;
    this.stagingPath = context.location.stagingPath;
  }

  /** Starts this rank's part: EXISTS when the step is committed already. */
  static async start(context: SaveContext): Promise<CheckpointSave> {
    const { client, location, rank } = context;
    const committed = await readCommittedManifest(client, location.stepPath);
    if (committed !== undefined) throw existsError(location, committed.saveId);
    try {
      await client.mkdir(location.stagingPath);
    } catch (err) {
      // Another rank made it first.
      if (!isSpindleError(err, ErrorCode.EXISTS)) throw err;
    }
    try {
      await client.mkdir(posix.join(location.stagingPath, rankDirName(rank)));
    } catch (err) {
      if (!isSpindleError(err, ErrorCode.EXISTS)) throw err;
      throw new SpindleError(
        ErrorCode.FAILED_PRECONDITION,
        `rank ${rank} already began save ${location.saveId} of step ${location.step}; a restarted job ` +
          'must use a new saveId',
        { cause: err },
      );
    }
    const owner: RankOwner = {
      host: hostname(),
      pid: process.pid,
      startedAt: new Date((context.clock ?? systemClock).nowMs()).toISOString(),
    };
    await writeSyncedFile(client, posix.join(location.stagingPath, ownerFileName(rank)), `${JSON.stringify(owner)}\n`);
    return new CheckpointSave(context);
  }

  /** Shards written so far by this rank. */
  get written(): readonly ShardRecord[] {
    return this.shards;
  }

  /**
   * Writes shard `name` of this rank (`rank-<r>/<name>`) and resolves with its size and CRC32C once
   * it is synced and closed. `data` is one buffer or an async iterable of buffers (a stream). One
   * buffer is written as it is: do not change it until the promise settles.
   */
  writeShard(name: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<ShardRecord> {
    return this.serialize(() => this.writeShardNow(name, data));
  }

  /**
   * Like writeShard for one buffer, but returns at once: `captured` resolves once `data` has been
   * copied into staging memory (the caller may change it from then on), `written` once the shard is
   * synced. Copies wait while the Checkpoints' stagingBytes are held by copies not yet written.
   * finish() waits for every write.
   */
  captureShard(name: string, data: Uint8Array): { captured: Promise<void>; written: Promise<ShardRecord> } {
    let capture: ReturnType<typeof captureBytes>;
    try {
      this.checkShard(name, data);
      if (!(data instanceof Uint8Array)) {
        throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `data must be a Uint8Array, got ${typeof data}`);
      }
      this.names.add(name);
      capture = captureBytes(data, this.context.stagingPool, this.captures);
    } catch (err) {
      const failed = Promise.reject(err);
      failed.catch(() => undefined);
      return { captured: failed, written: failed };
    }
    this.captures = capture.captured;
    const written = this.serialize(async () => {
      try {
        this.checkOpen();
        return await this.writeData(name, capture.pieces);
      } finally {
        capture.discard();
      }
    });
    // Whoever awaits either promise sees its failure; the other must not crash the process.
    capture.captured.catch(() => undefined);
    written.catch(() => undefined);
    return { captured: capture.captured, written };
  }

  /**
   * Writes a shard whose bytes `capture` copies (Checkpoints.save, which starts copying before
   * begin resolves): its pieces go to the writes without another copy; discards the capture's
   * untaken pieces once done, in any case.
   */
  writeCaptured(name: string, capture: Capture): Promise<ShardRecord> {
    return this.serialize(async () => {
      try {
        this.checkShard(name, capture.pieces);
        this.names.add(name);
        return await this.writeData(name, capture.pieces);
      } finally {
        capture.discard();
      }
    });
  }

  /**
   * Records a shard the caller wrote itself as the file `rank-<r>/<name>` of the staging directory
   * (through `spindle mount`, say: closed and fsynced first): reads it back for its size and CRC32C.
   * NOT_FOUND when there is no such file; like bad arguments, that changes nothing.
   */
  adoptShard(name: string): Promise<ShardRecord> {
    return this.serialize(() => this.adoptShardNow(name));
  }

  /**
   * Writes this rank's part (its shards; `userMetadata` as JSON — rank 0's goes into the manifest)
   * and commits when every rank has finished. Resolves with the outcome; a save that lost to
   * another save of the same step fails with EXISTS.
   */
  finish(userMetadata?: unknown): Promise<FinishResult> {
    return this.serialize(() => this.finishNow(userMetadata));
  }

  /** Abandons the whole save (every rank's part): removes the staging directory. Idempotent. */
  abort(): Promise<void> {
    if (this.state === 'finished') return Promise.resolve();
    this.state = 'aborted';
    return this.queue.then(() =>
      this.context.client.rm(this.stagingPath, { recursive: true, force: true }).catch(() => undefined),
    );
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private checkOpen(): void {
    if (this.state === 'failed') {
      throw new SpindleError(
        ErrorCode.FAILED_PRECONDITION,
        `save ${this.saveId} of step ${this.step} failed earlier on rank ${this.rank} ` +
          `(${(this.failure as Error)?.message}); abort() it and save again with a new saveId`,
        { cause: this.failure },
      );
    }
    if (this.state !== 'open') {
      throw new SpindleError(
        ErrorCode.FAILED_PRECONDITION,
        `save ${this.saveId} of step ${this.step} on rank ${this.rank} was already ${this.state}`,
      );
    }
  }

  private checkShard(name: string, data: unknown): void {
    this.checkOpen();
    checkShardName(name);
    if (this.names.has(name)) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `name: rank ${this.rank} already wrote shard ${name}`);
    }
    const isIterable = typeof (data as AsyncIterable<Uint8Array>)?.[Symbol.asyncIterator] === 'function';
    if (!(data instanceof Uint8Array) && !isIterable) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `data must be a Uint8Array or an AsyncIterable of Uint8Array, got ${typeof data}`,
      );
    }
  }

  private async writeShardNow(name: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<ShardRecord> {
    this.checkShard(name, data);
    this.names.add(name);
    // The caller awaits this write: its one buffer is lent to the writes, not copied.
    return this.writeData(
      name,
      data instanceof Uint8Array ? [{ bytes: data, release: noRelease }] : callerPieces(data),
    );
  }

  private async adoptShardNow(name: string): Promise<ShardRecord> {
    this.checkShard(name, new Uint8Array(0));
    const path = posix.join(this.stagingPath, rankDirName(this.rank), name);
    let handle: Awaited<ReturnType<SpindleClient['open']>>;
    try {
      handle = await this.context.client.open(path, 'r');
    } catch (err) {
      if (!isSpindleError(err, ErrorCode.NOT_FOUND)) throw err;
      throw new SpindleError(
        ErrorCode.NOT_FOUND,
        `name: rank ${this.rank} has no file ${name} in ${posix.dirname(path)} to adopt: write it there first`,
        { cause: err },
      );
    }
    try {
      const bytes = (await handle.stat()).size;
      const buffer = Buffer.allocUnsafe(Math.min(VERIFY_READ_BYTES, Math.max(1, bytes)));
      let crc = 0;
      for (let position = 0; position < bytes; ) {
        const count = await handle.readAt(position, buffer.subarray(0, Math.min(buffer.length, bytes - position)));
        if (count === 0)
          throw new SpindleError(ErrorCode.DATA_CORRUPTED, `${path} ends at byte ${position}, not ${bytes}`);
        crc = crc32c(buffer.subarray(0, count), crc);
        position += count;
      }
      this.names.add(name);
      const record: ShardRecord = { rank: this.rank, name, bytes, crc32c: crc >>> 0 };
      this.shards.push(record);
      return record;
    } finally {
      await handle.close();
    }
  }

  /** Writes the pieces as shard `name`; a failure fails the save. */
  private async writeData(
    name: string,
    pieces: Iterable<ShardPiece> | AsyncIterable<ShardPiece>,
  ): Promise<ShardRecord> {
    const path = posix.join(this.stagingPath, rankDirName(this.rank), name);
    let writer: BufferedFileWriter | undefined;
    try {
      const handle = await this.context.client.open(path, 'wx');
      writer = new BufferedFileWriter(handle, undefined, { writesInFlightMax: SHARD_WRITES_IN_FLIGHT });
      let crc = 0;
      for await (const { bytes, release } of pieces) {
        if (!(bytes instanceof Uint8Array)) {
          release?.();
          throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `data yielded a ${typeof bytes}, not a Uint8Array`);
        }
        crc = crc32c(bytes, crc);
        if (release === undefined) await writer.append(bytes);
        else await writer.appendOwned(bytes, release);
      }
      const bytes = writer.length;
      await writer.finish();
      const record: ShardRecord = { rank: this.rank, name, bytes, crc32c: crc >>> 0 };
      this.shards.push(record);
      return record;
    } catch (err) {
      this.state = 'failed';
      this.failure = err;
      await writer?.discard();
      throw err;
    }
  }

  private async finishNow(userMetadata: unknown): Promise<FinishResult> {
    this.checkOpen();
    let metadataJson: string | undefined;
    try {
      metadataJson = userMetadata === undefined ? undefined : JSON.stringify(userMetadata);
    } catch (err) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `userMetadata must be JSON: ${(err as Error).message}`);
    }
    const part: RankPart = {
      saveId: this.saveId,
      step: this.step,
      worldSize: this.worldSize,
      rank: this.rank,
      shards: this.shards,
      ...(metadataJson !== undefined ? { userMetadata: JSON.parse(metadataJson) as unknown } : {}),
    };
    this.state = 'finished';
    const { client, location, clock } = this.context;
    await writePart(client, location, part);
    const outcome = await tryCommit(client, location, clock);
    const deletedSteps = outcome.committed && outcome.committer ? await this.context.afterCommit() : [];
    return { ...outcome, deletedSteps };
  }
}
