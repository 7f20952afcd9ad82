// The local state a storage node reports for each of its targets (docs/design.md §4, docs/3fs-notes.md
// §2.6–2.8): the event the manager's state machine reacts to.
//
// - UPTODATE: the target is SERVING in the node's routing (its data is current), or it is SYNCING
//   and its predecessor finished the resync (SyncDone) under the chain version the node holds now.
// - ONLINE: anything else — a target after a restart (the manager marks it offline when the node
//   registers again), a waiting target, a syncing one still receiving the copy.
// A chain change invalidates a SyncDone (the resync reruns under the new version, cheaply: only
// what differs is copied), so a stale completion can never promote a target.
import { LocalTargetState, PublicTargetState } from '../proto/index.js';
import type { RoutingView } from './routing-view.js';

export class LocalTargetStates {
  /** targetId → the chain and version its resync completed under. */
  private readonly syncDone = new Map<number, { chainId: number; chainVersion: number }>();

  /** `onSyncDone` runs after a completed resync is recorded (the node heartbeats at once). */
  constructor(
    private readonly routing: RoutingView,
    private readonly onSyncDone: () => void = () => undefined,
  ) {}

  /** The local state to report for `targetId`. */
  of(targetId: number): LocalTargetState {
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

  /** Records that the resync of `targetId` completed under `chainVersion` of `chainId`. */
  markSyncDone(targetId: number, chainId: number, chainVersion: number): void {
    this.syncDone.set(targetId, { chainId, chainVersion });
    this.onSyncDone();
  }
}
