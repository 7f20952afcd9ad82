// The public target state machine of the cluster manager (docs/design.md §4, docs/3fs-notes.md §2.6): from
// each target's current public state, the local state its node reported, and its place in the
// chain, the chain's next public states and order. Pure: no clock, no I/O — the manager calls it
// on every heartbeat and failure, and the tests enumerate every input.
//
// Per target (`nextPublicState`), with `hasServing` / `hasSyncing` / `hasLastsrv` describing the
// targets already placed in the new chain (serving targets are placed first, so "has serving"
// means "a serving predecessor"):
//
//   public \ local   UPTODATE              ONLINE                         OFFLINE
//   serving          serving               serving                        lastsrv if no other
//                                                                         target is serving, else offline
//   syncing          serving               syncing if hasServing, else    offline
//                                          waiting
//   waiting          waiting               syncing if hasServing and      offline
//                                          none syncing, else waiting
//   lastsrv          serving if none       serving if none serving,       lastsrv
//                    serving, else offline else offline
//   offline          waiting               like waiting                   offline
//
// A local state of `undefined` means "no report since the manager started": the target keeps its
// state (a syncing target without a serving one waits). Chain rules applied by `nextChain`:
// - Order: serving, lastsrv, syncing, waiting, offline; stable inside each group, so a failed
//   target moves behind every live one and a target that finished syncing becomes the tail.
// - Only the first serving target that fails when no serving target is left becomes LASTSRV (the
//   last copy known to be complete is never lost); any LASTSRV becomes OFFLINE once another
//   target serves.
// - At most one target syncs at a time (its predecessor is the last serving target).
import { LocalTargetState, PublicTargetState } from '../../proto/index.js';

/** What the chain already holds when one target's next state is decided. */
export interface TransitionContext {
  /** A target of the new chain is serving. */
  hasServing: boolean;
  /** A target of the new chain is syncing. */
  hasSyncing: boolean;
  /** A target of the new chain is lastsrv. */
  hasLastsrv: boolean;
}

/** One target as the state machine sees it. */
export interface ChainTargetState {
  targetId: number;
  publicState: PublicTargetState;
  /** Reported local state; undefined when unknown (no report since the manager started). */
  localState: LocalTargetState | undefined;
}

const { SERVING, SYNCING, WAITING, LASTSRV, OFFLINE } = PublicTargetState;
const { UPTODATE, ONLINE, LOCAL_OFFLINE } = LocalTargetState;

/** Order of the groups in a chain, head first. */
export const CHAIN_GROUP_ORDER: readonly PublicTargetState[] = [SERVING, LASTSRV, SYNCING, WAITING, OFFLINE];

/** Whether a local state says the target's process is up. */
function isUp(local: LocalTargetState | undefined): boolean {
  return local === UPTODATE || local === ONLINE;
}

/**
 * The next public state of one target (the table in the file comment). States outside the five
 * public ones (INVALID) are treated as OFFLINE: an unknown target must go through recovery.
 */
export function nextPublicState(
  current: PublicTargetState,
  local: LocalTargetState | undefined,
  context: TransitionContext,
): PublicTargetState {
  const known = local === UPTODATE || local === ONLINE || local === LOCAL_OFFLINE ? local : undefined;
  switch (current) {
    case SERVING:
      if (known === undefined || isUp(known)) return SERVING;
      // Failed: the first one to fail when no serving target is left keeps the last copy.
      return context.hasServing || context.hasLastsrv ? OFFLINE : LASTSRV;
    case LASTSRV:
      if (context.hasServing) return OFFLINE;
      if (known === undefined) return LASTSRV;
      return isUp(known) ? SERVING : LASTSRV;
    case SYNCING:
      if (known === undefined) return context.hasServing ? SYNCING : WAITING;
      if (known === UPTODATE) return SERVING;
      if (known === ONLINE) return context.hasServing ? SYNCING : WAITING;
      return OFFLINE;
    case WAITING:
      if (known === undefined) return WAITING;
      if (known === ONLINE && context.hasServing && !context.hasSyncing) return SYNCING;
      return isUp(known) ? WAITING : OFFLINE;
    default:
      if (known === undefined) return OFFLINE;
      if (known === ONLINE && context.hasServing && !context.hasSyncing) return SYNCING;
      return isUp(known) ? WAITING : OFFLINE;
  }
}

/** Order in which old states are decided: serving first (they decide whether others may sync). */
const DECIDE_ORDER: readonly PublicTargetState[] = [SERVING, LASTSRV, SYNCING, WAITING, OFFLINE];

function groupOf(state: PublicTargetState): PublicTargetState {
  return DECIDE_ORDER.includes(state) ? state : OFFLINE;
}

/**
 * The chain after one round of the state machine: every target's next public state, reordered
 * (serving, lastsrv, syncing, waiting, offline; stable inside a group). `targets` is the current
 * chain, head first. The result has the same targets.
 */
export function nextChain(targets: readonly ChainTargetState[]): ChainTargetState[] {
  const decided = new Map<PublicTargetState, ChainTargetState[]>(CHAIN_GROUP_ORDER.map((s) => [s, []]));
  const context = (): TransitionContext => ({
    hasServing: decided.get(SERVING)!.length > 0,
    hasSyncing: decided.get(SYNCING)!.length > 0,
    hasLastsrv: decided.get(LASTSRV)!.length > 0,
  });
  for (const group of DECIDE_ORDER) {
    for (const target of targets) {
      if (groupOf(target.publicState) !== group) continue;
      const next = nextPublicState(target.publicState, target.localState, context());
      decided.get(next)!.push({ ...target, publicState: next });
    }
  }
  // A lastsrv decided before a serving target appeared later in the round (a lastsrv coming
  // back) has a complete copy beside it now: it goes through recovery like any other.
  if (decided.get(SERVING)!.length > 0) {
    for (const target of decided.get(LASTSRV)!.splice(0))
      decided.get(OFFLINE)!.push({ ...target, publicState: OFFLINE });
  }
  return CHAIN_GROUP_ORDER.flatMap((state) => decided.get(state)!);
}

/** Whether two chains have the same targets in the same order with the same states. */
export function sameChain(a: readonly ChainTargetState[], b: readonly ChainTargetState[]): boolean {
  return (
    a.length === b.length && a.every((t, i) => t.targetId === b[i]!.targetId && t.publicState === b[i]!.publicState)
  );
}
