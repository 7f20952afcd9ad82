// Chain replication (CRAQ, docs/design.md §4, docs/3fs-notes.md §2.3): the write path of a storage node.
//
// Head (client Write): exactly-once check → chain version check → per-chunk lock → pending
// version committed+1 applied locally (bytes on disk) → Update forwarded to the successor → the
// successor's post-update CRC compared with ours → local commit (metadata flushed) → answer.
//
// Replica (Update from the predecessor): chain version check → lock → classify the version:
//   v ≤ committed            already committed here: answer with the committed state;
//   v = committed + 1        apply (or, when the same update is already pending — a retry —
//                            keep it), forward, compare, commit;
//   v > committed + 1        MISSING_UPDATE (this replica lacks an earlier update).
// The tail (no successor) commits at once, so commits run from the tail back to the head and a
// node answers only after it and every node after it committed durably.
//
// If the successors answer with other bytes (CHECKSUM_MISMATCH) or lack updates (MISSING_UPDATE),
// they diverged from the head — a write that failed after they committed it, or a replica that
// missed updates. The head holds every acknowledged write, so it re-replicates its whole chunk as
// a REPLACE under a version above theirs, and the chain converges (no resync needed for it).
//
// Forwarding never drops an update a successor may have committed (K1, docs/simulation.md; 3FS
// does the same, docs/3fs-notes.md §2.3 step 7). Once a head or middle has sent an update, a
// successor may commit it at any moment, so a node that dropped its pending update could leave the
// nodes after it serving a version it never had. So a forward that fails with a retryable error
// (successor unreachable, timeout, routing lagging) is retried with the same version and bytes —
// past forwardTimeoutMs (which bounds each attempt, and after which routing is pulled on every
// retry), and whatever the client does (its cancellation does not reach the forward) — until it
// succeeds or the chain changes. When the chain changes, the node re-resolves its place from the
// new routing and forwards to its new successor under the new chain version; that successor may
// already hold the update (v <= committed answers with its committed state, an equal pending is
// kept), and the usual comparison and repair apply. The pending update is dropped (aborted, error
// back) only when this node is no longer in the chain in a writing role: a head that is no longer
// the head, a replica that is not SERVING in the new chain (or was not SERVING — a SYNCING target
// — before the change: it may have been OFFLINE in between, and its pending update may be older
// than what the chain acknowledged since), a node that no longer hosts the chain — or when the
// successor answers a non-retryable error. Why no replica then serves a version the chain
// does not hold consistently:
//   - the dropped pending was never committed here, so this node never served it; it left the
//     chain's writing part only by failing (OFFLINE, moved to the end), so before it serves again
//     it comes back WAITING → SYNCING and receives its chunks from its predecessor as full
//     replaces — whatever it held before;
//   - the nodes after it that committed the update are, from the new head on, the chain; every
//     middle among them keeps forwarding the same way, so commits still run tail → head and a node
//     holding version v means every node after it holds v. The new head serves v, and its next
//     write builds on v. Nothing was acknowledged to the client for v unless the head committed,
//     so a dropped v is at worst an unacknowledged write that took effect — allowed.
// A non-retryable answer (e.g. CHECKSUM_MISMATCH, MISSING_UPDATE) means the successor did not
// commit this update in that call; the head repairs such divergence (below).
// The reverse — this node's own apply or commit fails (a full disk: NO_SPACE; a corrupt committed
// block a partial write must read: CHUNK_CORRUPT) while its successor committed the update — would
// leave the successors a version ahead for good (the simulator found it, docs/simulation.md K3).
// Such a target leaves the chain's writing part: it reports LOCAL_OFFLINE (local-states.ts), takes
// no more writes, and answers TARGET_NOT_SERVING (retryable); the manager moves it out, the client
// or predecessor retries on the new chain — whose new head committed the update and recorded the
// client write, so the retry gets its result — and the target comes back through a resync.
// RemoveChunks runs down the chain too: the successor removes first, then this node.
import type { Logger } from 'pino';
import { ANONYMOUS_ADMIN, type Principal } from '../common/auth/principal.js';
import type { Clock, Rng } from '../common/clock.js';
import type { StorageConfig } from '../common/config.js';
import { crc32c } from '../common/crc32c.js';
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import { retryWithBackoff } from '../common/retry.js';
import { callUnary } from '../common/rpc.js';
import {
  PublicTargetState,
  UpdateType,
  type RemoveChunksRequest,
  type RemoveChunksResponse,
  type ClientWriteId,
  type StorageClient,
  type UpdateRequest,
  type UpdateResponse,
  type WriteRequest,
  type WriteResponse,
} from '../proto/index.js';
import { requireChainPredecessor } from './chain-callers.js';
import type { ChainResolver } from './chain-resolver.js';
import {
  clientWriteOf,
  commitRecordOf,
  recordCommitted,
  recordedResult,
  type ChannelRecords,
} from './channel-records.js';
import { chunkKeyString } from './chunk-engine/chunk-key.js';
import { updateFingerprint, type ChunkUpdate, type PendingResult } from './chunk-engine/chunk-engine.js';
import type { CommitRecord } from './chunk-engine/meta-store.js';
import type { KeyedLocks } from './chunk-locks.js';
import type { LocalTargetStates } from './local-states.js';
import { FORWARD_BACKOFF_MAX_MS, FORWARD_BACKOFF_MIN_MS } from './constants.js';
import type { StorageMetrics } from './metrics.js';
import type { StorageBulk } from './bulk-data.js';
import type { PeerClients } from './peer-clients.js';
import { receivesWrites, type ChainView, type PeerTarget } from './routing-view.js';
import type { StorageTarget } from './target.js';
import { UpdateDedupe } from './update-dedupe.js';
import { isBroken } from './test-breaks.js';

export interface ChainReplicatorDeps {
  resolver: ChainResolver;
  locks: KeyedLocks;
  peers: PeerClients;
  /** Forwards large updates as bulk frames when the successor has a bulk listener. */
  bulk?: StorageBulk;
  refreshRouting(reason: string): Promise<void>;
  config: Pick<StorageConfig, 'forwardTimeoutMs' | 'writeQueueMax'>;
  clock: Clock;
  rng: Rng;
  logger: Logger;
  metrics?: StorageMetrics;
  /** Marks a target that failed a write its successor committed (see the file header). */
  localStates?: Pick<LocalTargetStates, 'markFailed' | 'isFailed'>;
}

interface ChunkRef {
  ino: number;
  index: number;
}

export class ChainReplicator {
  private readonly dedupe: UpdateDedupe<WriteResponse>;
  /** Client writes admitted per target (bounded by writeQueueMax). */
  private readonly writesInFlight = new Map<number, number>();

  /**
   * Called after this replica committed an update that wrote a chunk's bytes from offset 0, with
   * those bytes (the KV-cache store keeps just-put pages in memory: kvcache/hot-pages.ts).
   */
  onChunkWritten: ((target: StorageTarget, ino: number, index: number, data: Uint8Array) => void) | undefined;

  constructor(private readonly deps: ChainReplicatorDeps) {
    this.dedupe = new UpdateDedupe<WriteResponse>({ clock: deps.clock });
  }

  private notifyWritten(target: StorageTarget, chunk: { ino: number; index: number }, update: ChunkUpdate): void {
    if (this.onChunkWritten === undefined || update.offset !== 0) return;
    if (update.type !== UpdateType.WRITE && update.type !== UpdateType.REPLACE) return;
    try {
      this.onChunkWritten(target, chunk.ino, chunk.index, update.data);
    } catch (err) {
      // Only a cache is fed here: the write itself is committed and stands.
      this.deps.logger.warn({ err, ino: chunk.ino, index: chunk.index }, 'onChunkWritten failed');
    }
  }

  /** A client's write at the chain head (request already validated by the service layer). */
  async onWrite(request: WriteRequest, signal?: AbortSignal): Promise<WriteResponse> {
    const chunk = request.chunk!;
    const clientId = request.tag?.clientId ?? '';
    if (request.channelId === 0 || clientId === '') return this.headWrite(request, chunk, signal);
    const channel = `${clientId}/${request.chainId}/${request.channelId}`;
    const { ino, index } = chunk;
    const fingerprint = [ino, index, request.type, request.offset, request.data.length, request.dataCrc32c].join(':');
    const { result, replayed } = await this.dedupe.run(channel, request.seqnum, fingerprint, () =>
      this.headWrite(request, chunk, signal),
    );
    if (replayed) this.deps.metrics?.dedupeReplays.inc();
    return result;
  }

  private async headWrite(request: WriteRequest, chunk: ChunkRef, signal?: AbortSignal): Promise<WriteResponse> {
    const { view, target } = await this.deps.resolver.resolve(request.chainId, request.chainVersion);
    requireHead(view);
    const inFlight = this.writesInFlight.get(target.targetId) ?? 0;
    if (inFlight >= this.deps.config.writeQueueMax) {
      throw new SpindleError(ErrorCode.BUSY, `target ${target.targetId} has ${inFlight} writes queued; retry later`, {
        retryable: true,
      });
    }
    this.writesInFlight.set(target.targetId, inFlight + 1);
    try {
      return await this.deps.locks.withLock(
        lockKey(target, chunk),
        async () => {
          // The chain may have changed while we waited for the lock.
          let current = this.deps.resolver.recheck(request.chainId, request.chainVersion);
          requireHead(current);
          this.requireNotFailed(current);
          // A retry of a write this replica already committed (it was sent to an earlier head of
          // the chain, or before a restart): answered from the channel record, not applied again.
          const channels: ChannelRecords | undefined = target.channels;
          const clientWrite = clientWriteOf(request);
          const recorded = recordedResult(channels, request.chainId, chunk, clientWrite);
          if (recorded !== undefined) {
            this.deps.metrics?.dedupeReplays.inc();
            return recorded;
          }
          const engine = target.engine;
          if (request.type === UpdateType.TRUNCATE && engine.committed(chunk.ino, chunk.index) === undefined) {
            throw new SpindleError(
              ErrorCode.CHUNK_NOT_FOUND,
              `chunk ${chunk.index} of inode ${chunk.ino} does not exist: nothing to truncate`,
            );
          }
          let version = (engine.committed(chunk.ino, chunk.index)?.commitVersion ?? 0) + 1;
          let update: ChunkUpdate = {
            type: request.type,
            offset: request.offset,
            data: request.data,
            dataCrc32c: request.dataCrc32c,
          };
          let pending: PendingResult | undefined;
          /** The successor answered the last round's update (it committed it). */
          let successorAnswered = false;
          /** A failure now is this replica's own apply or commit, with the successor ahead (K3). */
          let behindSuccessor = false;
          let response: WriteResponse;
          let record: CommitRecord | undefined;
          try {
            for (let round = 0; ; round++) {
              const step = await this.applyAndForward(
                current,
                'head',
                target,
                chunk,
                update,
                request.chunkSizeBytes,
                version,
                () => engine.applyUpdate(chunk.ino, chunk.index, version, update),
                signal,
                clientWrite,
              );
              current = step.view;
              successorAnswered = step.response !== undefined;
              if (step.pending === undefined) {
                behindSuccessor = successorAnswered;
                throw step.error;
              }
              pending = step.pending;
              if (round === 0) this.deps.metrics?.bytesWritten.inc(request.data.length);
              let successorVersion = 0;
              if (step.error === undefined) {
                const response = step.response;
                if (response === undefined || sameResult(response, pending)) break;
                successorVersion = response.commitVersion;
                if (round >= REPAIR_ROUNDS_MAX) throw mismatch(target, chunk, pending, response);
              } else {
                const code = asSpindleError(step.error).errorCode;
                if (
                  round >= REPAIR_ROUNDS_MAX ||
                  (code !== ErrorCode.CHECKSUM_MISMATCH && code !== ErrorCode.MISSING_UPDATE)
                )
                  throw step.error;
              }
              // The replicas after the head diverged from it (a write that failed after they
              // committed it, or a replica that missed updates). The head holds every acknowledged
              // write, so it re-replicates its own chunk as a whole, under a version above both.
              const content = await engine.readLatest(chunk.ino, chunk.index);
              version = Math.max(version, successorVersion) + 1;
              update =
                content === undefined
                  ? { type: UpdateType.REMOVE, offset: 0, data: Buffer.alloc(0), dataCrc32c: 0 }
                  : { type: UpdateType.REPLACE, offset: 0, data: content, dataCrc32c: crc32c(content) };
              this.deps.logger.warn(
                { chainId: current.chainId, ino: chunk.ino, index: chunk.index, version, successorVersion, round },
                'replicas of a chunk diverged; the head re-replicates it as a full replace',
              );
              this.deps.metrics?.chunkRepairs.inc();
            }
            behindSuccessor = successorAnswered;
            response = { length: pending.length, commitVersion: version, chunkCrc32c: pending.crc32c };
            // The write's record goes in the commit's transaction: a crash keeps both or neither.
            record = commitRecordOf(channels, request.chainId, chunk, clientWrite, response);
            await engine.commit(chunk.ino, chunk.index, version, current.chainVersion, record);
            this.notifyWritten(target, chunk, update);
          } catch (err) {
            engine.abort(chunk.ino, chunk.index);
            throw this.failedBehindSuccessor(err, behindSuccessor, target, current, chunk, version);
          }
          recordCommitted(channels, record);
          return response;
        },
        signal,
      );
    } finally {
      const left = (this.writesInFlight.get(target.targetId) ?? 1) - 1;
      if (left === 0) this.writesInFlight.delete(target.targetId);
      else this.writesInFlight.set(target.targetId, left);
    }
  }

  /**
   * One replication step from the predecessor (request already validated), accepted only from the
   * predecessor's node (chain-callers.ts; `caller` defaults to an in-process caller with auth off).
   */
  async onUpdate(
    request: UpdateRequest,
    signal?: AbortSignal,
    caller: Principal = ANONYMOUS_ADMIN,
  ): Promise<UpdateResponse> {
    const chunk = request.chunk!;
    const { view, target } = await this.deps.resolver.resolve(request.chainId, request.chainVersion);
    requireChainPredecessor(caller, view, 'an Update', this.deps.logger);
    requireWritable(view);
    if (
      view.predecessor !== undefined &&
      request.fromTargetId !== 0 &&
      request.fromTargetId !== view.predecessor.targetId
    ) {
      this.deps.logger.debug(
        { chainId: view.chainId, from: request.fromTargetId, expected: view.predecessor.targetId },
        'update from an unexpected predecessor',
      );
    }
    return this.deps.locks.withLock(
      lockKey(target, chunk),
      async () => {
        let current = this.deps.resolver.recheck(request.chainId, request.chainVersion);
        requireWritable(current);
        this.requireNotFailed(current);
        const engine = target.engine;
        const committed = engine.committed(chunk.ino, chunk.index);
        const committedVersion = committed?.commitVersion ?? 0;
        const version = request.updateVersion;
        if (version <= committedVersion) {
          return { length: committed!.length, commitVersion: committedVersion, chunkCrc32c: committed!.crc32c };
        }
        const update: ChunkUpdate = {
          type: request.type,
          offset: request.offset,
          data: request.data,
          dataCrc32c: request.dataCrc32c,
        };
        // REPLACE and REMOVE do not depend on the bytes before them, so they may skip versions.
        if (
          version > committedVersion + 1 &&
          request.type !== UpdateType.REPLACE &&
          request.type !== UpdateType.REMOVE
        ) {
          throw new SpindleError(
            ErrorCode.MISSING_UPDATE,
            `chunk ${chunk.index} of inode ${chunk.ino} on target ${target.targetId} is at version ` +
              `${committedVersion} and cannot apply version ${version}; the replica needs a resync`,
          );
        }
        // The same update already pending (a retried forward) is kept; anything else replaces it.
        const existing = engine.pendingOf(chunk.ino, chunk.index);
        const reuse =
          existing !== undefined && existing.version === version && existing.fingerprint === updateFingerprint(update);
        const step = await this.applyAndForward(
          current,
          'replica',
          target,
          chunk,
          update,
          request.chunkSizeBytes,
          version,
          async () => {
            if (reuse) return existing;
            const damaged = request.damaged;
            // A syncing target's full-chunk copy whose bytes fail their checksums on the sender
            // (sent by nodes before the forward refused such copies; kept for mixed versions).
            if (damaged !== undefined && request.type === UpdateType.REPLACE) {
              return engine.applyDamagedCopy(chunk.ino, chunk.index, version, Buffer.from(request.data), {
                crc32c: damaged.chunkCrc32c,
                segmentCrcs: damaged.segmentCrc32cs,
              });
            }
            return engine.applyUpdate(chunk.ino, chunk.index, version, update);
          },
          signal,
          request.clientWrite,
        );
        const pending = step.pending;
        current = step.view;
        /** A failure now is this replica's own apply or commit, with the successor ahead (K3). */
        let behindSuccessor = false;
        const channels = target.channels as ChannelRecords | undefined;
        let response: WriteResponse;
        let record: CommitRecord | undefined;
        try {
          if (pending === undefined) {
            behindSuccessor = step.response !== undefined;
            throw step.error;
          }
          if (!reuse) this.deps.metrics?.bytesWritten.inc(request.data.length);
          if (step.error !== undefined) throw step.error;
          if (step.response !== undefined && !sameResult(step.response, pending))
            throw mismatch(target, chunk, pending, step.response);
          behindSuccessor = step.response !== undefined;
          response = { length: pending.length, commitVersion: version, chunkCrc32c: pending.crc32c };
          // Every replica records the client write it committed, so it can answer a retry as head;
          // the record is written in the commit's transaction.
          record = commitRecordOf(channels, request.chainId, chunk, request.clientWrite, response);
          await engine.commit(chunk.ino, chunk.index, version, current.chainVersion, record);
        } catch (err) {
          engine.abort(chunk.ino, chunk.index);
          throw this.failedBehindSuccessor(err, behindSuccessor, target, current, chunk, version);
        }
        this.notifyWritten(target, chunk, update);
        recordCommitted(channels, record);
        return response;
      },
      signal,
    );
  }

  /**
   * Removes chunks index >= fromIndex of a file on every replica: successor first, then here. A
   * forwarded one (from_target_id set) is accepted only from the predecessor (chain-callers.ts).
   * The locks of the chunks this replica holds are held from before the forward until they are
   * removed here: a resync copy (made under the chunk lock from this replica's committed state)
   * sent between the successor's removal and this one would bring the chunk back on a syncing
   * successor (the simulator found it: docs/simulation.md K5).
   */
  async onRemoveChunks(
    request: RemoveChunksRequest,
    signal?: AbortSignal,
    caller: Principal = ANONYMOUS_ADMIN,
  ): Promise<RemoveChunksResponse> {
    const { view, target } = await this.deps.resolver.resolve(request.chainId, request.chainVersion);
    if (request.fromTargetId === 0) requireHead(view);
    else {
      requireChainPredecessor(caller, view, 'a forwarded RemoveChunks', this.deps.logger);
      requireWritable(view);
    }
    const held = target.engine.listChunks(request.ino, request.fromIndex);
    const withHeldLocks = <T>(i: number, fn: () => Promise<T>): Promise<T> =>
      i === held.length
        ? fn()
        : this.deps.locks.withLock(lockKey(target, held[i]!), () => withHeldLocks(i + 1, fn), signal);
    return withHeldLocks(0, () => this.removeChunksLocked(request, view, target, held, signal));
  }

  /** onRemoveChunks with the locks of `held` taken: forward, then remove here. */
  private async removeChunksLocked(
    request: RemoveChunksRequest,
    view: ChainView,
    target: StorageTarget,
    held: ChunkRef[],
    signal: AbortSignal | undefined,
  ): Promise<RemoveChunksResponse> {
    if (!isBroken('remove-skips-forward'))
      await this.forward(view, signal, 'storage.RemoveChunks', (client, successor, current) =>
        callUnary(
          client,
          client.removeChunks,
          {
            tag: request.tag,
            chainId: current.chainId,
            chainVersion: current.chainVersion,
            ino: request.ino,
            fromIndex: request.fromIndex,
            fromTargetId: current.localTargetId,
          },
          `storage.RemoveChunks to target ${successor.targetId}`,
          { timeoutMs: this.deps.config.forwardTimeoutMs, signal },
        ),
      );
    let removed = 0;
    const locked = new Set(held.map((c) => c.index));
    for (const chunk of target.engine.listChunks(request.ino, request.fromIndex)) {
      const remove = () => target.engine.removeNow(chunk.ino, chunk.index);
      const existed = locked.has(chunk.index)
        ? await remove()
        : await this.deps.locks.withLock(lockKey(target, chunk), remove, signal);
      if (existed) removed++;
    }
    return { removed };
  }

  /**
   * The error to answer when this node's own apply or commit of an update failed: as is, unless the
   * successor committed the update — then the target leaves the chain (file header) and the caller
   * is told to retry elsewhere.
   */
  private failedBehindSuccessor(
    err: unknown,
    successorCommitted: boolean,
    target: StorageTarget,
    view: ChainView,
    chunk: ChunkRef,
    version: number,
  ): unknown {
    const localStates = this.deps.localStates;
    if (!successorCommitted || localStates === undefined || isBroken('failed-target-stays')) return err;
    const error = asSpindleError(err);
    if (error.errorCode === ErrorCode.TARGET_NOT_SERVING || error.errorCode === ErrorCode.CANCELLED) return err;
    localStates.markFailed(target.targetId);
    this.deps.logger.error(
      {
        chainId: view.chainId,
        targetId: target.targetId,
        ino: chunk.ino,
        index: chunk.index,
        version,
        code: error.codeName,
      },
      'this target failed a write its successor committed: it leaves the chain and will be resynced ' +
        '(free space on its disk if the error is NO_SPACE)',
    );
    return new SpindleError(
      ErrorCode.TARGET_NOT_SERVING,
      `target ${target.targetId} could not apply version ${version} of chunk ${chunk.index} of inode ${chunk.ino} ` +
        `(${error.codeName}: ${error.message}) while its successor committed it; it leaves chain ${view.chainId} ` +
        'and will be resynced: retry on the new chain',
      { cause: err },
    );
  }

  /** A target marked failed takes no writes until the manager moved it out (file header). */
  private requireNotFailed(view: ChainView): void {
    if (this.deps.localStates?.isFailed(view.localTargetId) !== true) return;
    throw new SpindleError(
      ErrorCode.TARGET_NOT_SERVING,
      `target ${view.localTargetId} of chain ${view.chainId} failed a write its successor committed and is ` +
        'leaving the chain; retry on the new chain',
    );
  }

  /**
   * Applies an update locally (`apply`: bytes written and synced, pending in the engine) while the
   * same update travels to the successor, so a chunk write costs one disk write plus the chain's
   * transfers instead of one disk write per replica in a row. Nothing is committed here: the
   * caller commits only after both finished and the successor's result matches its own, so the
   * durability rule (acknowledged only once durable on every replica) is unchanged. Waits for
   * both to settle, so nothing of this update runs on after the caller releases the chunk lock.
   * `pending` is undefined when the local apply failed (`error` is then its error); otherwise
   * `error` is the forward's error, if any.
   */
  private async applyAndForward(
    view: ChainView,
    role: ForwardRole,
    target: StorageTarget,
    chunk: ChunkRef,
    update: ChunkUpdate,
    chunkSizeBytes: number,
    version: number,
    apply: () => Promise<PendingResult>,
    signal: AbortSignal | undefined,
    clientWrite?: ClientWriteId,
  ): Promise<{
    pending: PendingResult | undefined;
    response: UpdateResponse | undefined;
    error: unknown;
    view: ChainView;
  }> {
    const applying = apply();
    // The caller's signal (the client's or predecessor's cancellation) is not passed on: once
    // sent, an update is forwarded until it succeeds or this node leaves the chain (header).
    void signal;
    const forwarding = this.forwardUpdate(
      view,
      role,
      target,
      chunk,
      update,
      chunkSizeBytes,
      version,
      applying,
      clientWrite,
    );
    const ackBeforeForward = role === 'head' && isBroken('ack-before-forward');
    if (ackBeforeForward) forwarding.catch(() => undefined);
    const [applied, forwarded] = await Promise.allSettled([
      applying,
      ackBeforeForward ? { response: undefined, view } : forwarding,
    ]);
    if (applied.status === 'rejected') {
      // The successor's answer still counts: it committed the update this node failed to apply.
      if (forwarded.status === 'fulfilled')
        return {
          pending: undefined,
          response: forwarded.value.response,
          error: applied.reason,
          view: forwarded.value.view,
        };
      return { pending: undefined, response: undefined, error: applied.reason, view };
    }
    if (forwarded.status === 'rejected')
      return {
        pending: applied.value,
        response: undefined,
        error: forwarded.reason ?? new Error('forward failed'),
        view,
      };
    return { pending: applied.value, response: forwarded.value.response, error: undefined, view: forwarded.value.view };
  }

  /**
   * Sends the update (as pending version `version`) to the successor; undefined when this node is
   * the tail. `localApply` is this node's own apply of the update, awaited only when a syncing
   * successor needs the whole chunk as it will be.
   */
  private async forwardUpdate(
    view: ChainView,
    role: ForwardRole,
    target: StorageTarget,
    chunk: ChunkRef,
    update: ChunkUpdate,
    chunkSizeBytes: number,
    version: number,
    localApply: Promise<unknown>,
    clientWrite?: ClientWriteId,
  ): Promise<{ response: UpdateResponse | undefined; view: ChainView }> {
    return this.forwardUntilChainChanges(view, role, 'storage.Update', async (client, successor, current) => {
      let request: UpdateRequest = {
        chainId: current.chainId,
        chainVersion: current.chainVersion,
        chunk: { ino: chunk.ino, index: chunk.index },
        type: update.type,
        offset: update.offset,
        data: Buffer.from(update.data.buffer, update.data.byteOffset, update.data.byteLength),
        dataCrc32c: update.dataCrc32c ?? crc32c(update.data),
        chunkSizeBytes,
        updateVersion: version,
        fromTargetId: current.localTargetId,
        clientWrite,
      };
      // A syncing successor gets the whole chunk, so it converges whatever it held before.
      if (successor.state === PublicTargetState.SYNCING && update.type !== UpdateType.REMOVE) {
        await localApply;
        const copy = await target.engine.readForCopy(chunk.ino, chunk.index);
        // Bytes that fail their checksums here (an append onto a corrupt block) are not sent: as a
        // REPLACE they would overwrite the successor's own, possibly intact, copy, and one corrupt
        // block would end up on every replica, under an acknowledged version (simulator seeds
        // 1522, 2441, 3232; docs/simulation.md). The write fails (CHUNK_CORRUPT, the client
        // retries), nothing was forwarded, and the resync keeps the successor's intact copy of an
        // equal version. A resync still copies a damaged chunk (double fault: no good copy left).
        if (copy?.damaged !== undefined) {
          throw new SpindleError(
            ErrorCode.CHUNK_CORRUPT,
            `chunk ${chunk.ino}:${chunk.index} fails its checksum on target ${current.localTargetId}; ` +
              `not copied over syncing successor ${successor.targetId}'s copy`,
          );
        }
        const content = copy?.data ?? Buffer.alloc(0);
        request = { ...request, type: UpdateType.REPLACE, offset: 0, data: content, dataCrc32c: crc32c(content) };
      }
      const send = (message: UpdateRequest) =>
        callUnary(client, client.update, message, `storage.Update to target ${successor.targetId}`, {
          timeoutMs: this.deps.config.forwardTimeoutMs,
        });
      const bulk = this.deps.bulk;
      if (bulk?.forwardsInFrames(successor.bulkAddress, request.data.length)) {
        const inline = request;
        return bulk.forward(successor.bulkAddress, inline.data, inline.dataCrc32c, (ref) =>
          send({ ...inline, data: EMPTY_DATA, bulk: ref }),
        );
      }
      return send(request);
    });
  }

  /**
   * Calls the chain successor until it answers (undefined response when this node is the tail),
   * following chain changes: each attempt uses the current routing, re-resolved when the chain
   * version changed. Throws only a non-retryable error, or when this node is no longer in the
   * chain in `role` (see the file header). Returns the view the answer was obtained under.
   */
  private async forwardUntilChainChanges<T>(
    admitted: ChainView,
    role: ForwardRole,
    what: string,
    send: (client: StorageClient, successor: PeerTarget, view: ChainView) => Promise<T>,
  ): Promise<{ response: T | undefined; view: ChainView }> {
    const startedMs = this.deps.clock.nowMs();
    let view = admitted;
    let warned = false;
    // The successor's answer to the last attempt, when it failed: only that is retried. What
    // latestView throws (this node left the chain in `role`) ends the forward at once.
    let sendError: SpindleError | undefined;
    return retryWithBackoff(
      async () => {
        sendError = undefined;
        const latest = await this.latestView(view, role);
        if (latest === undefined) throw ROUTING_UNKNOWN;
        if (latest.chainVersion !== view.chainVersion) {
          this.deps.logger.info(
            {
              what,
              chainId: view.chainId,
              from: view.chainVersion,
              to: latest.chainVersion,
              successor: latest.successor?.targetId,
            },
            'chain changed while forwarding; forwarding to the successor in the new chain',
          );
        }
        view = latest;
        const successor = view.successor;
        if (successor === undefined) return { response: undefined, view };
        try {
          return { response: await this.sendToSuccessor(successor, view, send), view };
        } catch (err) {
          sendError = asSpindleError(err);
          throw sendError;
        }
      },
      {
        // No deadline: past forwardTimeoutMs the forward goes on (routing pulled before each retry).
        ...this.forwardBackoff(Number.POSITIVE_INFINITY),
        what,
        classify: (err) => (err === ROUTING_UNKNOWN ? 'wait' : retriedAnswer(err, sendError) ? 'retry' : 'fail'),
        onRetry: async (err, { action, attempt }) => {
          // Lease lost: routing is unknown until it renews; nothing to log or refresh meanwhile.
          if (action === 'wait') return;
          const error = err as SpindleError;
          const successor = view.successor?.targetId;
          this.forwardRetried(what, view, error, attempt);
          const overBudget = this.deps.clock.nowMs() - startedMs >= this.deps.config.forwardTimeoutMs;
          if (overBudget && !warned) {
            warned = true;
            this.deps.logger.warn(
              { what, chainId: view.chainId, successor, code: error.codeName },
              'forward still failing after forwardTimeoutMs; retrying until it succeeds or the chain changes',
            );
          }
          if (overBudget || !unreachable(error)) {
            await this.deps.refreshRouting(`successor of chain ${view.chainId} answered ${error.codeName}`);
          }
        },
      },
    );
  }

  /**
   * The chain as this node now knows it: `previous` if its version is current, else the new view
   * (throws when this node no longer has `role` in it); undefined when it cannot tell yet (lease
   * lost: routing is unknown until it renews).
   */
  private async latestView(previous: ChainView, role: ForwardRole): Promise<ChainView | undefined> {
    try {
      return this.deps.resolver.recheck(previous.chainId, previous.chainVersion);
    } catch (err) {
      if (asSpindleError(err).errorCode !== ErrorCode.CHAIN_VERSION_MISMATCH) throw err;
    }
    let next: ChainView;
    try {
      next = (await this.deps.resolver.resolve(previous.chainId, 0, { allowAnyVersion: true })).view;
    } catch (err) {
      if (asSpindleError(err).errorCode === ErrorCode.TARGET_NOT_SERVING) return undefined;
      throw err;
    }
    if (next.localTargetId !== previous.localTargetId) {
      throw new SpindleError(
        ErrorCode.TARGET_NOT_FOUND,
        `target ${previous.localTargetId} is no longer in chain ${previous.chainId}`,
        { retryable: true },
      );
    }
    if (role === 'head') requireHead(next);
    requireWritable(next);
    // Only a target that stayed SERVING keeps its update across a chain change. One that was
    // OFFLINE in between (its lease expired, say) and came back SYNCING must not: its pending
    // update may be older than what the chain acknowledged since, and it holds no place in the
    // chain's history any more (the resync brings it up to date). A SERVING target cannot have
    // left and come back SERVING meanwhile: that takes a resync of this chunk, which waits for
    // the chunk lock this forward holds.
    if (previous.localState !== PublicTargetState.SERVING || next.localState !== PublicTargetState.SERVING) {
      throw new SpindleError(
        ErrorCode.TARGET_NOT_SERVING,
        `target ${next.localTargetId} of chain ${next.chainId} was ${PublicTargetState[previous.localState]} ` +
          `at chain version ${previous.chainVersion} and is ${PublicTargetState[next.localState]} ` +
          `at ${next.chainVersion}; its pending update is dropped`,
        { retryable: true },
      );
    }
    return next;
  }

  /**
   * Calls the chain successor with retries for up to forwardTimeoutMs; undefined when this node is
   * the tail. Throws CHAIN_VERSION_MISMATCH if the chain changes while forwarding, and when out
   * of time the successor's last error itself (retryable for the caller, who retries the request).
   */
  private async forward<T>(
    admitted: ChainView,
    signal: AbortSignal | undefined,
    what: string,
    send: (client: StorageClient, successor: PeerTarget, view: ChainView) => Promise<T>,
  ): Promise<T | undefined> {
    let view = admitted;
    // As in forwardUntilChainChanges: only the successor's answer is retried.
    let sendError: SpindleError | undefined;
    return retryWithBackoff(
      async () => {
        sendError = undefined;
        view = this.deps.resolver.recheck(admitted.chainId, admitted.chainVersion);
        const successor = view.successor;
        if (successor === undefined) return undefined;
        try {
          return await this.sendToSuccessor(successor, view, send);
        } catch (err) {
          sendError = asSpindleError(err);
          throw sendError;
        }
      },
      {
        ...this.forwardBackoff(this.deps.config.forwardTimeoutMs),
        exhausted: 'rethrow',
        signal,
        what,
        classify: (err) => (retriedAnswer(err, sendError) ? 'retry' : 'fail'),
        onRetry: async (err, { attempt }) => {
          const error = err as SpindleError;
          this.forwardRetried(what, view, error, attempt);
          if (!unreachable(error)) {
            await this.deps.refreshRouting(`successor of chain ${view.chainId} answered ${error.codeName}`);
          }
        },
      },
    );
  }

  /** One call to the successor; RPC_UNAVAILABLE when it has no address or takes no writes. */
  private sendToSuccessor<T>(
    successor: PeerTarget,
    view: ChainView,
    send: (client: StorageClient, successor: PeerTarget, view: ChainView) => Promise<T>,
  ): Promise<T> {
    if (successor.address === '' || !receivesWrites(successor.state)) {
      return Promise.reject(
        new SpindleError(ErrorCode.RPC_UNAVAILABLE, `successor target ${successor.targetId} has no known address`),
      );
    }
    return send(this.deps.peers.get(successor.address), successor, view);
  }

  /** The backoff of the forwarding loops: FORWARD_BACKOFF_MIN_MS..MAX_MS, within `deadlineMs`. */
  private forwardBackoff(deadlineMs: number) {
    return {
      deadlineMs,
      minMs: FORWARD_BACKOFF_MIN_MS,
      initialMs: FORWARD_BACKOFF_MIN_MS,
      maxMs: FORWARD_BACKOFF_MAX_MS,
      clock: this.deps.clock,
      rng: this.deps.rng,
    };
  }

  private forwardRetried(what: string, view: ChainView, error: SpindleError, attempt: number): void {
    this.deps.metrics?.forwardRetries.inc();
    this.deps.logger.debug(
      { what, chainId: view.chainId, successor: view.successor?.targetId, code: error.codeName, attempt },
      'forward retried',
    );
  }
}

/** Thrown by an attempt of forwardUntilChainChanges while the lease is lost: wait, then look again. */
const ROUTING_UNKNOWN = new SpindleError(
  ErrorCode.TARGET_NOT_SERVING,
  'this node lost its lease: routing is unknown until it renews',
);

/** `err` is the successor's failed answer to the last attempt (`sendError`), and one worth retrying. */
function retriedAnswer(err: unknown, sendError: SpindleError | undefined): boolean {
  return sendError !== undefined && err === sendError && forwardRetryable(sendError);
}

/** The successor did not answer at all: a refresh would not tell more than the next heartbeat. */
function unreachable(error: SpindleError): boolean {
  return error.errorCode === ErrorCode.RPC_UNAVAILABLE || error.errorCode === ErrorCode.TIMEOUT;
}

/** What the forwarding node must still be for its pending update to be kept. */
type ForwardRole = 'head' | 'replica';

/** Times the head re-replicates a diverged chunk within one write before it gives up. */
/** The empty `data` of a message whose bytes travel as a bulk frame. */
const EMPTY_DATA = Buffer.alloc(0);

const REPAIR_ROUNDS_MAX = 3;

/** The successor ended with the same bytes as this node (the ack path's checksum comparison). */
function sameResult(response: UpdateResponse, pending: PendingResult): boolean {
  return response.chunkCrc32c === pending.crc32c && response.length === pending.length;
}

function mismatch(
  target: StorageTarget,
  chunk: ChunkRef,
  pending: PendingResult,
  response: UpdateResponse,
): SpindleError {
  return new SpindleError(
    ErrorCode.CHECKSUM_MISMATCH,
    `replicas of chunk ${chunk.index} of inode ${chunk.ino} disagree after version ${pending.version}: ` +
      `target ${target.targetId} has ${pending.length} bytes crc ${pending.crc32c}, its successor ` +
      `${response.length} bytes crc ${response.chunkCrc32c} at version ${response.commitVersion}`,
  );
}

/** Errors after which the same forward may succeed: transport trouble or routing still settling. */
function forwardRetryable(error: SpindleError): boolean {
  switch (error.errorCode) {
    case ErrorCode.RPC_UNAVAILABLE:
    case ErrorCode.TIMEOUT:
    case ErrorCode.CHAIN_VERSION_MISMATCH:
    case ErrorCode.TARGET_NOT_FOUND:
    case ErrorCode.TARGET_NOT_SERVING:
      return true;
    default:
      return false;
  }
}

function lockKey(target: StorageTarget, chunk: ChunkRef): string {
  return `${target.targetId}/${chunkKeyString(chunk.ino, chunk.index)}`;
}

function requireHead(view: ChainView): void {
  if (!view.isHead) {
    throw new SpindleError(
      ErrorCode.NOT_CHAIN_HEAD,
      `target ${view.localTargetId} is not the head of chain ${view.chainId} (version ${view.chainVersion}); ` +
        'send writes to the head',
    );
  }
}

function requireWritable(view: ChainView): void {
  if (!receivesWrites(view.localState)) {
    throw new SpindleError(
      ErrorCode.TARGET_NOT_SERVING,
      `target ${view.localTargetId} of chain ${view.chainId} is ` +
        `${PublicTargetState[view.localState] ?? view.localState} and takes no writes`,
    );
  }
}
