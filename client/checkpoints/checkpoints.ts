// Checkpoints: the steps committed in one checkpoint directory DIR — beginning a save, listing,
// loading, reading and verifying shards, deleting, and retention (docs/checkpoints.md).
//
// Guarantees: list() shows a step only once its directory and manifest are committed (staging and
// deleting directories are never listed); a whole-shard read returns bytes matching the manifest's
// size and CRC32C or fails with DATA_CORRUPTED naming the shard; delete() takes a step out of
// list() in one rename before removing its files; retention only ever removes committed steps
// outside keepLast/keepEvery and abandoned staging directories.
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { type Clock, systemClock } from '../../common/clock.js';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError, isSpindleError } from '../../common/errors.js';
import { Semaphore } from '../semaphore.js';
import { type SpindleClient, normalizePath } from '../spindle-client.js';
import { checkOptionalCount, checkRank, checkSaveId, checkShardName, checkStep, checkWorldSize } from './args.js';
import { CheckpointSave } from './checkpoint-save.js';
import { readCommittedManifest } from './commit.js';
import { CAPTURE_PIECE_BYTES, STAGING_BYTES_DEFAULT, VERIFY_READ_BYTES } from './constants.js';
import {
  type CheckpointManifest,
  type ShardRecord,
  deletingDirName,
  parseStepDirName,
  rankDirName,
  stagingDirName,
  stepDirName,
} from './format.js';
import { type CollectedStaging, collectAbandonedSaves } from './staging.js';

export interface CheckpointsOptions {
  /** After a commit, keep only the newest keepLast steps (default: keep every step). */
  readonly keepLast?: number;
  /** With keepLast: also keep every step that is a multiple of keepEvery. */
  readonly keepEvery?: number;
  /** Bytes captureShard may hold copied but not yet written, across this instance's saves (256 MiB). */
  readonly stagingBytes?: number;
  /** A staging directory whose save started longer ago than this is abandoned (default 24 h). */
  readonly stagingMaxAgeMs?: number;
  readonly clock?: Clock;
}

export interface BeginOptions {
  readonly worldSize: number;
  readonly rank: number;
  /** The same on every rank of one save (default `w<worldSize>`): see docs/checkpoints.md. */
  readonly saveId?: string;
}

export interface ReadShardOptions {
  /** First byte to read (default 0). A range read is not checked against the CRC32C. */
  readonly offset?: number;
  /** Bytes to read (default: to the end of the shard). */
  readonly length?: number;
}

function notFound(message: string): SpindleError {
  return new SpindleError(ErrorCode.NOT_FOUND, message);
}

function corruptedShard(step: number, shard: ShardRecord, detail: string): SpindleError {
  return new SpindleError(
    ErrorCode.DATA_CORRUPTED,
    `shard ${rankDirName(shard.rank)}/${shard.name} of step ${step} is damaged: ${detail}`,
  );
}

export class Checkpoints {
  readonly dir: string;
  private readonly client: SpindleClient;
  private readonly options: CheckpointsOptions;
  private readonly stagingBudget: Semaphore;

  constructor(client: SpindleClient, dir: string, options: CheckpointsOptions) {
    this.client = client;
    this.dir = dir;
    this.options = options;
    const stagingBytes = options.stagingBytes ?? STAGING_BYTES_DEFAULT;
    this.stagingBudget = new Semaphore(Math.max(1, Math.floor(stagingBytes / CAPTURE_PIECE_BYTES)));
  }

  /** Starts this rank's part of saving `step`; EXISTS when the step is committed already. */
  async begin(step: number, options: BeginOptions): Promise<CheckpointSave> {
    checkStep(step);
    const worldSize = checkWorldSize(options?.worldSize);
    const rank = checkRank(options.rank, worldSize);
    const saveId = checkSaveId(options.saveId ?? `w${worldSize}`);
    return CheckpointSave.start({
      client: this.client,
      location: {
        step,
        worldSize,
        saveId,
        stagingPath: posix.join(this.dir, stagingDirName(step, saveId)),
        stepPath: this.stepPath(step),
      },
      rank,
      clock: this.options.clock,
      stagingBudget: this.stagingBudget,
      afterCommit: async () => (await this.applyRetention()).deletedSteps,
    });
  }

  /** The committed steps, ascending. */
  async list(): Promise<number[]> {
    const steps: number[] = [];
    for (const entry of await this.client.readdir(this.dir, { withFileTypes: true })) {
      const step = parseStepDirName(entry.name);
      if (step !== undefined && entry.isDirectory()) steps.push(step);
    }
    return steps.sort((a, b) => a - b);
  }

  /** The newest committed step, or undefined when there is none. */
  async latest(): Promise<number | undefined> {
    return (await this.list()).at(-1);
  }

  /** The manifest of a committed step ('latest': the newest); NOT_FOUND when there is none. */
  async load(step: number | 'latest'): Promise<CheckpointManifest> {
    let resolved: number;
    if (step === 'latest') {
      const latest = await this.latest();
      if (latest === undefined) throw notFound(`no step is committed in ${this.dir}`);
      resolved = latest;
    } else {
      resolved = checkStep(step);
    }
    const manifest = await readCommittedManifest(this.client, this.stepPath(resolved));
    if (manifest === undefined) throw notFound(`step ${resolved} is not committed in ${this.dir}`);
    return manifest;
  }

  /**
   * Reads a shard of a committed step. A whole shard is checked against its size and CRC32C
   * (DATA_CORRUPTED naming it on a mismatch); a range (offset/length) is returned unchecked.
   */
  async readShard(step: number, rank: number, name: string, options: ReadShardOptions = {}): Promise<Buffer> {
    const manifest = await this.load(checkStep(step));
    checkRank(rank, manifest.worldSize);
    checkShardName(name);
    const shard = manifest.shards.find((entry) => entry.rank === rank && entry.name === name);
    if (shard === undefined) throw notFound(`step ${step} has no shard ${rankDirName(rank)}/${name}`);
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > shard.bytes) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `offset must be 0..${shard.bytes}, got ${String(offset)}`);
    }
    const length = options.length ?? shard.bytes - offset;
    if (!Number.isSafeInteger(length) || length < 0 || offset + length > shard.bytes) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `length must be 0..${shard.bytes - offset} (the shard is ${shard.bytes} bytes), got ${String(length)}`,
      );
    }
    const whole = offset === 0 && length === shard.bytes;
    const target = Buffer.allocUnsafe(length);
    const handle = await this.client.open(this.shardPath(step, shard), 'r');
    try {
      let filled = 0;
      while (filled < length) {
        const count = await handle.readAt(offset + filled, target.subarray(filled));
        if (count === 0) throw corruptedShard(step, shard, `it ends at byte ${offset + filled}, not ${shard.bytes}`);
        filled += count;
      }
      if (whole) await this.checkWhole(step, shard, target, (await handle.stat()).size);
    } finally {
      await handle.close();
    }
    return target;
  }

  /** Reads every shard of `step` whole; DATA_CORRUPTED listing the damaged shards, if any. */
  async verify(step: number): Promise<CheckpointManifest> {
    const manifest = await this.load(checkStep(step));
    const problems: string[] = [];
    const buffer = Buffer.allocUnsafe(VERIFY_READ_BYTES);
    for (const shard of manifest.shards) {
      try {
        await this.verifyShard(step, shard, buffer);
      } catch (err) {
        if (!isSpindleError(err, ErrorCode.DATA_CORRUPTED) && !isSpindleError(err, ErrorCode.NOT_FOUND)) throw err;
        problems.push(err.message);
      }
    }
    if (problems.length > 0) {
      throw new SpindleError(ErrorCode.DATA_CORRUPTED, `step ${step} failed verification: ${problems.join('; ')}`);
    }
    return manifest;
  }

  /** Removes a committed step (NOT_FOUND when there is none): out of list() first, in one rename. */
  async delete(step: number): Promise<void> {
    checkStep(step);
    const deleting = posix.join(this.dir, deletingDirName(step, randomBytes(8).toString('hex')));
    try {
      await this.client.rename(this.stepPath(step), deleting, { noReplace: true });
    } catch (err) {
      if (isSpindleError(err, ErrorCode.NOT_FOUND)) throw notFound(`step ${step} is not committed in ${this.dir}`);
      throw err;
    }
    await this.client.rm(deleting, { recursive: true, force: true });
  }

  /** Removes abandoned staging directories (what the committing rank also does after a commit). */
  collectAbandoned(): Promise<CollectedStaging[]> {
    return collectAbandonedSaves(this.client, this.dir, {
      maxAgeMs: this.options.stagingMaxAgeMs,
      clock: this.options.clock ?? systemClock,
    });
  }

  /** Deletes committed steps beyond keepLast (sparing multiples of keepEvery) and collects staging. */
  async applyRetention(): Promise<{ deletedSteps: number[]; collected: CollectedStaging[] }> {
    const deletedSteps: number[] = [];
    const { keepLast, keepEvery } = this.options;
    if (keepLast !== undefined) {
      const steps = await this.list();
      for (const step of steps.slice(0, Math.max(0, steps.length - keepLast))) {
        if (keepEvery !== undefined && step % keepEvery === 0) continue;
        try {
          await this.delete(step);
          deletedSteps.push(step);
        } catch (err) {
          // Another rank's retention (or a user) deleted it first.
          if (!isSpindleError(err, ErrorCode.NOT_FOUND)) throw err;
        }
      }
    }
    return { deletedSteps, collected: await this.collectAbandoned() };
  }

  private stepPath(step: number): string {
    return posix.join(this.dir, stepDirName(step));
  }

  private shardPath(step: number, shard: ShardRecord): string {
    return posix.join(this.stepPath(step), rankDirName(shard.rank), shard.name);
  }

  private async checkWhole(step: number, shard: ShardRecord, bytes: Uint8Array, fileBytes: number): Promise<void> {
    if (fileBytes !== shard.bytes) {
      throw corruptedShard(step, shard, `it is ${fileBytes} bytes, the manifest says ${shard.bytes}`);
    }
    const actual = crc32c(bytes) >>> 0;
    if (actual !== shard.crc32c) {
      throw corruptedShard(step, shard, `CRC32C ${actual}, the manifest says ${shard.crc32c}`);
    }
  }

  private async verifyShard(step: number, shard: ShardRecord, buffer: Buffer): Promise<void> {
    let handle: Awaited<ReturnType<SpindleClient['open']>>;
    try {
      handle = await this.client.open(this.shardPath(step, shard), 'r');
    } catch (err) {
      if (isSpindleError(err, ErrorCode.NOT_FOUND)) throw corruptedShard(step, shard, 'its file is missing');
      throw err;
    }
    try {
      const fileBytes = (await handle.stat()).size;
      if (fileBytes !== shard.bytes) {
        throw corruptedShard(step, shard, `it is ${fileBytes} bytes, the manifest says ${shard.bytes}`);
      }
      let crc = 0;
      for (let position = 0; position < shard.bytes; ) {
        const count = await handle.readAt(
          position,
          buffer.subarray(0, Math.min(buffer.length, shard.bytes - position)),
        );
        if (count === 0) throw corruptedShard(step, shard, `it ends at byte ${position}`);
        crc = crc32c(buffer.subarray(0, count), crc);
        position += count;
      }
      if (crc >>> 0 !== shard.crc32c) {
        throw corruptedShard(step, shard, `CRC32C ${crc >>> 0}, the manifest says ${shard.crc32c}`);
      }
    } finally {
      await handle.close();
    }
  }
}

/** Opens (creating it if needed) the checkpoint directory `dir`, an absolute path. */
export async function openCheckpoints(
  client: SpindleClient,
  dir: string,
  options: CheckpointsOptions = {},
): Promise<Checkpoints> {
  if (typeof dir !== 'string' || !dir.startsWith('/') || normalizePath(dir) !== dir || dir === '/') {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `dir must be an absolute normalized path below the root such as /checkpoints/run1, got ${JSON.stringify(dir)}`,
    );
  }
  checkOptionalCount(options.keepLast, 'keepLast');
  checkOptionalCount(options.keepEvery, 'keepEvery');
  checkOptionalCount(options.stagingBytes, 'stagingBytes');
  if (options.keepEvery !== undefined && options.keepLast === undefined) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'keepEvery needs keepLast: give keepLast too');
  }
  await client.mkdir(dir, { recursive: true });
  return new Checkpoints(client, dir, options);
}
