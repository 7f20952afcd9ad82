// The local state a storage node reports for each of its targets (docs/design.md §4, docs/3fs-notes.md
// §2.6–2.8): the event the manager's state machine reacts to.
//
// - UPTODATE: the target is SERVING in the node's routing (its data is current), or it is SYNCING
//   and its predecessor finished the resync (SyncDone) under the chain version the node holds now.
// - ONLINE: anything else — a target after a restart (the manager marks it offline when the node
//   registers again), a waiting target, a syncing one still receiving the copy.
// - LOCAL_OFFLINE: the target failed a write its successor committed (its own apply or commit
//   failed: a full disk, a corrupt block) and must leave the chain's writing part until a resync
//   gives it the newer versions (chain-replicator.ts). Reported until the node's routing shows the
//   target out of serving (OFFLINE or WAITING); then it reports ONLINE and comes back through a resync.
// A chain change invalidates a SyncDone (the resync reruns under the new version, cheaply: only
// what differs is copied), so a stale completion can never promote a target.
import { LocalTargetState, PublicTargetState } from '../proto/index.js';
import type { RoutingView } from './routing-view.js';

export class LocalTargetStates {
  /** targetId → the chain and version its resync completed under. */
  private readonly syncDone = new Map<number, { chainId: number; chainVersion: number }>();

  /** `onSyncDone` runs after a completed resync or a failed target is recorded (the node heartbeats at once). */
  constructor(
    private readonly routing: RoutingView,
    private readonly onSyncDone: () => void = () => undefined,
  ) {}

  /** Targets that failed a write their successor committed (see the file comment). */
  private readonly failed = new Set<number>();

  /** The local state to report for `targetId`. */
  of(targetId: number): LocalTargetState {
    if (this.isFailed(targetId)) return LocalTargetState.LOCAL_OFFLINE;
    const view = this.routing.chain(this.routing.chainOfTarget(targetId));
    if (view === undefined || view.localTargetId !== targetId) return LocalTargetState.ONLINE;
    if (view.localState === PublicTargetState.SERVING) return LocalTargetState.UPTODATE;
    if (view.localState === PublicTargetState.SYNCING) {
      const done = this.syncDone.get(targetId);
      if (done !== undefined && done.chainId === view.chainId && done.chainVersion === view.chainVersion)
        return LocalTargetState.UPTODATE;
    }
    return LocalTargetState.ONLINE;
  }

  /**
   * `targetId` failed a write its successor committed: it reports LOCAL_OFFLINE (the node
   * heartbeats at once) and takes no writes until the manager has taken it out of serving.
   */
  markFailed(targetId: number): void {
    this.failed.add(targetId);
    this.onSyncDone();
  }

  /** Whether `targetId` is marked failed and the routing still shows it taking writes. */
  isFailed(targetId: number): boolean {
    if (!this.failed.has(targetId)) return false;
    const view = this.routing.chain(this.routing.chainOfTarget(targetId));
    const state = view?.localTargetId === targetId ? view.localState : PublicTargetState.OFFLINE;
    if (state === PublicTargetState.OFFLINE || state === PublicTargetState.WAITING) this.failed.delete(targetId);
    return this.failed.has(targetId);
  }

  /** Records that the resync of `targetId` completed under `chainVersion` of `chainId`. */
  markSyncDone(targetId: number, chainId: number, chainVersion: number): void {
    this.syncDone.set(targetId, { chainId, chainVersion });
    this.onSyncDone();
  }
}
