// Runs the target state machine (target-state-machine.ts) over the persisted chains and turns its
// answer into a change of the cluster state: each chain whose order or states change gets the new
// order, the targets their new public states, and the chain version +1 (the routing version bumps
// with the change that stores it).
//
// Guarantees: `planChainStates` is pure (it reads a state and a local-state lookup); a chain the
// machine leaves as it is produces no write, so an idle cluster makes no changes.
import type { LocalTargetState } from '../../proto/index.js';
import type { ChainRecord, ClusterDraft, ClusterState, TargetRecord } from './cluster-store.js';
import { nextChain, sameChain, type ChainTargetState } from './target-state-machine.js';

/** The next form of one chain. */
export interface ChainPlan {
  chainId: number;
  /** Targets head first with their next public states. */
  next: ChainTargetState[];
}

/** Local state of a target as the manager knows it (undefined: no report yet). */
export type LocalStateLookup = (target: TargetRecord) => LocalTargetState | undefined;

/** The chain as the state machine sees it now. */
function currentChain(state: ClusterState, chain: ChainRecord, localOf: LocalStateLookup): ChainTargetState[] {
  return chain.targetIds.map((targetId) => {
    const target = state.targets.get(targetId);
    return {
      targetId,
      publicState: target?.publicState ?? 0,
      localState: target === undefined ? undefined : localOf(target),
    };
  });
}

/** The chains among `chainIds` that the state machine changes, with their next form. */
export function planChainStates(
  state: ClusterState,
  chainIds: Iterable<number>,
  localOf: LocalStateLookup,
): ChainPlan[] {
  const plans: ChainPlan[] = [];
  for (const chainId of new Set(chainIds)) {
    const chain = state.chains.get(chainId);
    if (chain === undefined || chain.targetIds.length === 0) continue;
    const current = currentChain(state, chain, localOf);
    const next = nextChain(current);
    if (!sameChain(current, next)) plans.push({ chainId, next });
  }
  return plans;
}

/** Writes plans into a draft: new order and states, chain version +1. Returns the chains written. */
export function writeChainPlans(draft: ClusterDraft, plans: readonly ChainPlan[]): ChainRecord[] {
  const written: ChainRecord[] = [];
  for (const plan of plans) {
    const chain = draft.chains.get(plan.chainId);
    if (chain === undefined) continue;
    for (const entry of plan.next) {
      const target = draft.targets.get(entry.targetId);
      if (target !== undefined && target.publicState !== entry.publicState)
        draft.putTarget({ ...target, publicState: entry.publicState });
    }
    const updated: ChainRecord = {
      chainId: chain.chainId,
      chainVersion: chain.chainVersion + 1,
      targetIds: plan.next.map((t) => t.targetId),
    };
    draft.putChain(updated);
    written.push(updated);
  }
  return written;
}

/** Chains that hold a target of `nodeId`. */
export function chainsOfNode(state: ClusterState, nodeId: number): number[] {
  const chains: number[] = [];
  for (const target of state.targets.values()) {
    if (target.nodeId === nodeId && target.chainId !== 0) chains.push(target.chainId);
  }
  return chains;
}
