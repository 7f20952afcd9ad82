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
import { ErrorCode, SpindleError, isSpindleError } from '../../common/errors.js';
import { type SpindleClient, normalizePath } from '../spindle-client.js';
import { checkOptionalCount, checkRank, checkSaveId, checkStep, checkWorldSize } from './args.js';
import { type AsyncSave, type ShardBuffers, startAsyncSave } from './async-save.js';
import { CheckpointSave } from './checkpoint-save.js';
import { type SaveLocation, readCommittedManifest } from './commit.js';
import { CAPTURE_PIECE_BYTES, STAGING_BYTES_DEFAULT } from './constants.js';
import { type CheckpointManifest, deletingDirName, parseStepDirName, stagingDirName, stepDirName } from './format.js';
import { type CheckpointInventory, inventoryOf } from './inventory.js';
import {
  type ReadShardOptions,
  type ShardRequest,
  type StepFiles,
  type VerifyOptions,
  type VerifyReport,
  readShard,
  readShards,
  verifyStep,
} from './shard-reads.js';
import { StagingPool } from './staging-pool.js';
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
  /** false: open an existing directory only (NOT_FOUND otherwise), as tools do (default true: create it). */
  readonly create?: boolean;
  readonly clock?: Clock;
}

export interface BeginOptions {
  readonly worldSize: number;
  readonly rank: number;
  /** The same on every rank of one save (default `w<worldSize>`): see docs/checkpoints.md. */
  readonly saveId?: string;
}

function notFound(message: string): SpindleError {
  return new SpindleError(ErrorCode.NOT_FOUND, message);
}

/** The steps retention removes from `steps` (ascending): all but the newest keepLast, except multiples of keepEvery. */
function stepsBeyondRetention(steps: readonly number[], keepLast?: number, keepEvery?: number): number[] {
  if (keepLast === undefined) return [];
  return steps
    .slice(0, Math.max(0, steps.length - keepLast))
    .filter((step) => keepEvery === undefined || step % keepEvery !== 0);
}

export class Checkpoints {
  readonly dir: string;
  private readonly client: SpindleClient;
  private readonly options: CheckpointsOptions;
  private readonly stagingPool: StagingPool;

  constructor(client: SpindleClient, dir: string, options: CheckpointsOptions) {
    this.client = client;
    this.dir = dir;
    this.options = options;
    const stagingBytes = options.stagingBytes ?? STAGING_BYTES_DEFAULT;
    const pieces = Math.max(1, Math.floor(stagingBytes / CAPTURE_PIECE_BYTES));
    this.stagingPool = new StagingPool(pieces, CAPTURE_PIECE_BYTES);
  }

  /** Starts this rank's part of saving `step`; EXISTS when the step is committed already. */
  async begin(step: number, options: BeginOptions): Promise<CheckpointSave> {
    const location = this.locate(step, options);
    return CheckpointSave.start({
      client: this.client,
      location,
      rank: options.rank,
      clock: this.options.clock,
      stagingPool: this.stagingPool,
      afterCommit: async () => (await this.applyRetention()).deletedSteps,
    });
  }

  /**
   * This rank's whole save in one call (async-save.ts): `captured` resolves once every buffer is
   * copied into staging memory (within stagingBytes), `committed` once this rank's finish resolved.
   * Bad arguments reject both with INVALID_ARGUMENT naming the field and create nothing.
   */
  save(step: number, options: BeginOptions, shards: ShardBuffers, userMetadata?: unknown): AsyncSave {
    try {
      this.locate(step, options);
      return startAsyncSave(() => this.begin(step, options), this.stagingPool, shards, userMetadata);
    } catch (err) {
      const failed = Promise.reject(err);
      failed.catch(() => undefined);
      return { captured: failed, committed: failed };
    }
  }

  /**
   * Allocates and touches the whole staging memory (stagingBytes) now, so that even the first
   * save()'s copy avoids the page faults of fresh memory; later saves reuse it in any case.
   */
  prepareStaging(): void {
    this.stagingPool.prepare();
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
    return readShard(await this.files(step), rank, name, options);
  }

  /**
   * Reads many shards (or ranges of them) of a committed step, a few at a time in parallel, in
   * request order: what a restore, or a resharded restore, needs. Whole shards are checked.
   */
  async readShards(
    step: number,
    requests: readonly ShardRequest[],
    options: { signal?: AbortSignal } = {},
  ): Promise<Buffer[]> {
    return readShards(await this.files(step), requests, options.signal);
  }

  /**
   * Reads every shard of `step` whole, a few in parallel, reporting progress; DATA_CORRUPTED
   * listing every damaged or missing shard, if any.
   */
  async verify(step: number, options: VerifyOptions = {}): Promise<CheckpointManifest> {
    const report = await this.verifyReport(step, options);
    if (report.damaged.length > 0) {
      const problems = report.damaged.map((shard) => shard.problem).join('; ');
      throw new SpindleError(ErrorCode.DATA_CORRUPTED, `step ${report.manifest.step} failed verification: ${problems}`);
    }
    return report.manifest;
  }

  /** What verify checks, as a report instead of an error: the damaged shards, each named. */
  async verifyReport(step: number | 'latest', options: VerifyOptions = {}): Promise<VerifyReport> {
    return verifyStep(await this.files(step), options);
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
    return collectAbandonedSaves(this.client, this.dir, this.stagingOptions());
  }

  /** Steps applyRetention would delete now (keepLast/keepEvery), ascending. */
  async retentionPlan(): Promise<number[]> {
    return stepsBeyondRetention(await this.list(), this.options.keepLast, this.options.keepEvery);
  }

  /** Deletes committed steps beyond keepLast (sparing multiples of keepEvery) and collects staging. */
  async applyRetention(): Promise<{ deletedSteps: number[]; collected: CollectedStaging[] }> {
    const deletedSteps: number[] = [];
    for (const step of await this.retentionPlan()) {
      try {
        await this.delete(step);
        deletedSteps.push(step);
      } catch (err) {
        // Another rank's retention (or a user) deleted it first.
        if (!isSpindleError(err, ErrorCode.NOT_FOUND)) throw err;
      }
    }
    return { deletedSteps, collected: await this.collectAbandoned() };
  }

  /** Everything in the directory: steps, saves in progress or abandoned, leftovers (read-only). */
  inventory(): Promise<CheckpointInventory> {
    return inventoryOf(this.client, this.dir, this.stagingOptions());
  }

  private stagingOptions() {
    return { maxAgeMs: this.options.stagingMaxAgeMs, clock: this.options.clock ?? systemClock };
  }

  /** Checks begin's arguments (throwing INVALID_ARGUMENT) and says where the save goes. */
  private locate(step: number, options: BeginOptions): SaveLocation {
    checkStep(step);
    const worldSize = checkWorldSize(options?.worldSize);
    checkRank(options.rank, worldSize);
    const saveId = checkSaveId(options.saveId ?? `w${worldSize}`);
    return {
      step,
      worldSize,
      saveId,
      stagingPath: posix.join(this.dir, stagingDirName(step, saveId)),
      stepPath: this.stepPath(step),
    };
  }

  private async files(step: number | 'latest'): Promise<StepFiles> {
    const manifest = await this.load(step);
    return { client: this.client, manifest, stepPath: this.stepPath(manifest.step) };
  }

  private stepPath(step: number): string {
    return posix.join(this.dir, stepDirName(step));
  }
}

/** Opens (creating it if needed, unless `create: false`) the checkpoint directory `dir`, an absolute path. */
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
  if (options.create === false) {
    const stats = await client.stat(dir).catch((err: unknown) => {
      if (isSpindleError(err, ErrorCode.NOT_FOUND)) throw notFound(`checkpoint directory ${dir} does not exist`);
      throw err;
    });
    if (!stats.isDirectory()) {
      throw new SpindleError(ErrorCode.NOT_DIRECTORY, `${dir} is not a directory, so not a checkpoint directory`);
    }
  } else {
    await client.mkdir(dir, { recursive: true });
  }
  return new Checkpoints(client, dir, options);
}
