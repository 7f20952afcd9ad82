// The receiving side of a resync (docs/3fs-notes.md §2.8), on the node of a SYNCING target: the
// predecessor's copies (Storage.Update with `sync` set, REPLACE or REMOVE of one chunk) and its
// SyncDone.
//
// A copy replaces whatever the target holds, whatever its version — a returning replica may hold
// versions the chain never committed (a write that failed after it committed it). The one
// exception guards against a late duplicate: a copy older than what the target already committed
// under the same (or a newer) chain version — written by a forwarded write after the copy was
// sent — is answered with the current state and changes nothing. A copy never travels further:
// the syncing target is the end of the chain's write path. Copies take the chunk lock, like writes.
// Copies and SyncDone come only from the target's predecessor (chain-callers.ts).
import { ANONYMOUS_ADMIN, type Principal } from '../common/auth/principal.js';
import { ErrorCode, SpindleError, isSpindleError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { requireChainPredecessor } from './chain-callers.js';
import { chunkKeyString } from './chunk-engine/chunk-key.js';
import {
  PublicTargetState,
  UpdateType,
  type DamagedChunk,
  type SyncDoneRequest,
  type SyncDoneResponse,
  type UpdateRequest,
  type UpdateResponse,
} from '../proto/index.js';
import type { ChainResolver } from './chain-resolver.js';
import type { DamagedChecksums } from './chunk-engine/chunk-engine.js';
import type { CommittedChunkMeta } from './chunk-engine/chunk-meta.js';
import type { StorageTarget } from './target.js';
import type { KeyedLocks } from './chunk-locks.js';
import type { LocalTargetStates } from './local-states.js';
import type { ChainView } from './routing-view.js';

/**
 * The chunk lock key, shared with chain-replicator.ts (its private `lockKey` builds the same
 * string): a copy and a write of one chunk must exclude each other.
 */
export function chunkLockKey(targetId: number, ino: number, index: number): string {
  return `${targetId}/${chunkKeyString(ino, index)}`;
}

/** The wire form of a copy's damaged checksums (ChunkEngine.readForCopy), undefined for an intact copy. */
export function damagedChunkOf(damaged: DamagedChecksums | undefined): DamagedChunk | undefined {
  return damaged === undefined
    ? undefined
    : { chunkCrc32c: damaged.crc32c, segmentCrc32cs: Array.from(damaged.segmentCrcs) };
}

export interface ResyncReceiverDeps {
  resolver: ChainResolver;
  locks: KeyedLocks;
  states: LocalTargetStates;
  /** Where refused copies are logged (chain-callers.ts). */
  logger: Logger;
}

export class ResyncReceiver {
  constructor(private readonly deps: ResyncReceiverDeps) {}

  /**
   * One resync copy (request validated by the service layer, `sync` set), accepted only from the
   * target's predecessor (chain-callers.ts; `caller` defaults to an in-process caller with auth off).
   */
  async onSyncUpdate(
    request: UpdateRequest,
    signal?: AbortSignal,
    caller: Principal = ANONYMOUS_ADMIN,
  ): Promise<UpdateResponse> {
    const chunk = request.chunk!;
    if (request.type !== UpdateType.REPLACE && request.type !== UpdateType.REMOVE) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `a resync copy is a REPLACE or a REMOVE, not ${UpdateType[request.type] ?? request.type}`,
      );
    }
    const copiedRecords = request.channelRecords?.records ?? [];
    if (request.type === UpdateType.REMOVE && (copiedRecords.length > 0 || request.damaged !== undefined)) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'a resync REMOVE carries no records and no checksums');
    }
    const { view, target } = await this.deps.resolver.resolve(request.chainId, request.chainVersion);
    requireChainPredecessor(caller, view, 'a resync copy', this.deps.logger);
    requireSyncing(view);
    return this.deps.locks.withLock(
      chunkLockKey(target.targetId, chunk.ino, chunk.index),
      async () => {
        requireSyncing(this.deps.resolver.recheck(request.chainId, request.chainVersion));
        const engine = target.engine;
        const committed = engine.committed(chunk.ino, chunk.index);
        if (committed !== undefined && committed.chainVersion >= request.chainVersion) {
          // Written under this chain version already: by a forwarded write (newer than this copy
          // when its version is higher) or by this very copy, retried.
          if (request.type === UpdateType.REMOVE || committed.commitVersion > request.updateVersion) {
            // A newer version built on the copied one (forwarded writes to a syncing target are
            // full-chunk replaces of the predecessor's state): the copied records hold for it too.
            target.channels?.adoptCopied(chunk.ino, chunk.index, copiedRecords);
            return { length: committed.length, commitVersion: committed.commitVersion, chunkCrc32c: committed.crc32c };
          }
        }
        // The copy replaces the chunk: records of writes to it may name versions it undoes (K4).
        target.channels?.forgetChunk(chunk.ino, chunk.index);
        if (request.type === UpdateType.REMOVE) {
          await engine.removeNow(chunk.ino, chunk.index);
          return { length: 0, commitVersion: 0, chunkCrc32c: 0 };
        }
        const damaged = request.damaged;
        if (damaged !== undefined && committed !== undefined && (await holdsGoodCopy(engine, committed, request))) {
          // A damaged copy of the very version this target holds intact: keep ours (the sender's
          // repairer will read it once this target serves).
          return { length: committed.length, commitVersion: committed.commitVersion, chunkCrc32c: committed.crc32c };
        }
        const pending =
          damaged === undefined
            ? await engine.applyUpdate(chunk.ino, chunk.index, request.updateVersion, {
                type: UpdateType.REPLACE,
                offset: 0,
                data: request.data,
                dataCrc32c: request.dataCrc32c,
              })
            : // The sender's copy is damaged and no good one is at hand: hold it as the sender
              // does, failing the same checks, so this target can serve everything else.
              await engine.applyDamagedCopy(chunk.ino, chunk.index, request.updateVersion, Buffer.from(request.data), {
                crc32c: damaged.chunkCrc32c,
                segmentCrcs: damaged.segmentCrc32cs,
              });
        if (damaged !== undefined) {
          this.deps.logger.error(
            { chainId: request.chainId, ino: chunk.ino, index: chunk.index, version: request.updateVersion },
            'resync copied a chunk that fails its checksum on the sender too: ' +
              'its reads fail until a good copy repairs it',
          );
        }
        try {
          await engine.commit(chunk.ino, chunk.index, request.updateVersion, request.chainVersion);
        } catch (err) {
          engine.abort(chunk.ino, chunk.index);
          throw err;
        }
        // The sender's records of writes to this chunk come with it (K2): without them, a retry of
        // a write the copy holds would run again once this target serves. Still under the chunk
        // lock and before SyncDone, so no write or retry of the chunk runs here in between.
        target.channels?.adoptCopied(chunk.ino, chunk.index, copiedRecords);
        return { length: pending.length, commitVersion: request.updateVersion, chunkCrc32c: pending.crc32c };
      },
      signal,
    );
  }

  /** The predecessor copied everything: the target reports UPTODATE from now on (this chain version). */
  async onSyncDone(request: SyncDoneRequest, caller: Principal = ANONYMOUS_ADMIN): Promise<SyncDoneResponse> {
    const { view, target } = await this.deps.resolver.resolve(request.chainId, request.chainVersion);
    requireChainPredecessor(caller, view, 'SyncDone', this.deps.logger);
    if (view.localTargetId !== request.targetId) {
      throw new SpindleError(
        ErrorCode.TARGET_NOT_FOUND,
        `target ${request.targetId} is not this node's target of chain ${request.chainId} ` +
          `(that is ${view.localTargetId})`,
      );
    }
    requireSyncing(view);
    // The predecessor's records, before the target may serve (and head the chain): K2.
    target.channels?.adoptSynced(request.chainId, request.channelRecords?.records ?? []);
    this.deps.states.markSyncDone(request.targetId, request.chainId, request.chainVersion);
    return {};
  }
}

/** Whether this target's committed chunk is the version a damaged copy carries, and passes its checksums. */
async function holdsGoodCopy(
  engine: StorageTarget['engine'],
  committed: CommittedChunkMeta,
  copy: UpdateRequest,
): Promise<boolean> {
  if (committed.commitVersion !== copy.updateVersion || committed.crc32c !== copy.damaged?.chunkCrc32c) return false;
  const { ino, index } = copy.chunk!;
  try {
    await engine.read(ino, index, 0, committed.length);
    return true;
  } catch (err) {
    if (isSpindleError(err, ErrorCode.CHUNK_CORRUPT)) return false;
    throw err;
  }
}

function requireSyncing(view: ChainView): void {
  if (view.localState !== PublicTargetState.SYNCING) {
    throw new SpindleError(
      ErrorCode.TARGET_NOT_SERVING,
      `target ${view.localTargetId} of chain ${view.chainId} ` +
        `is ${PublicTargetState[view.localState] ?? view.localState}, not SYNCING: it takes no resync`,
    );
  }
}
