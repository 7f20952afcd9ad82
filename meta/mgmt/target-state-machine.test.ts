import { describe, expect, it } from 'vitest';
import { LocalTargetState, PublicTargetState } from '../../proto/index.js';
import {
  CHAIN_GROUP_ORDER,
  nextChain,
  nextPublicState,
  sameChain,
  type ChainTargetState,
  type TransitionContext,
} from './target-state-machine.js';

const { SERVING, SYNCING, WAITING, LASTSRV, OFFLINE } = PublicTargetState;
const { UPTODATE, ONLINE, LOCAL_OFFLINE } = LocalTargetState;
const PUBLIC = [SERVING, SYNCING, WAITING, LASTSRV, OFFLINE] as const;
const LOCAL = [UPTODATE, ONLINE, LOCAL_OFFLINE, undefined] as const;
const name = (s: PublicTargetState) => PublicTargetState[s];

const contexts: TransitionContext[] = [];
for (const hasServing of [false, true]) {
  for (const hasSyncing of [false, true]) {
    for (const hasLastsrv of [false, true]) contexts.push({ hasServing, hasSyncing, hasLastsrv });
  }
}

/** The 3FS table (docs/3fs-notes.md §2.6, with updateChain.cc's chain rules), written out case by case. */
function expected(
  current: PublicTargetState,
  local: LocalTargetState | undefined,
  c: TransitionContext,
): PublicTargetState {
  const key = `${name(current)}/${local === undefined ? 'unknown' : LocalTargetState[local]}`;
  const canStartSync = c.hasServing && !c.hasSyncing;
  const table: Record<string, PublicTargetState> = {
    'SERVING/UPTODATE': SERVING,
    'SERVING/ONLINE': SERVING,
    'SERVING/unknown': SERVING,
    'SERVING/LOCAL_OFFLINE': c.hasServing || c.hasLastsrv ? OFFLINE : LASTSRV,
    'SYNCING/UPTODATE': SERVING,
    'SYNCING/ONLINE': c.hasServing ? SYNCING : WAITING,
    'SYNCING/unknown': c.hasServing ? SYNCING : WAITING,
    'SYNCING/LOCAL_OFFLINE': OFFLINE,
    'WAITING/UPTODATE': WAITING,
    'WAITING/ONLINE': canStartSync ? SYNCING : WAITING,
    'WAITING/unknown': WAITING,
    'WAITING/LOCAL_OFFLINE': OFFLINE,
    'LASTSRV/UPTODATE': c.hasServing ? OFFLINE : SERVING,
    'LASTSRV/ONLINE': c.hasServing ? OFFLINE : SERVING,
    'LASTSRV/unknown': c.hasServing ? OFFLINE : LASTSRV,
    'LASTSRV/LOCAL_OFFLINE': c.hasServing ? OFFLINE : LASTSRV,
    'OFFLINE/UPTODATE': WAITING,
    'OFFLINE/ONLINE': canStartSync ? SYNCING : WAITING,
    'OFFLINE/unknown': OFFLINE,
    'OFFLINE/LOCAL_OFFLINE': OFFLINE,
  };
  return table[key]!;
}

describe('nextPublicState', () => {
  it('follows the transition table for every public state, local state and chain context', () => {
    let cases = 0;
    for (const current of PUBLIC) {
      for (const local of LOCAL) {
        for (const context of contexts) {
          const got = nextPublicState(current, local, context);
          expect(name(got), `${name(current)} + ${String(local)} in ${JSON.stringify(context)}`).toBe(
            name(expected(current, local, context)),
          );
          cases++;
        }
      }
    }
    expect(cases).toBe(5 * 4 * 8);
  });

  it('treats an invalid public state as offline and an invalid local state as unknown', () => {
    const context = { hasServing: true, hasSyncing: false, hasLastsrv: false };
    expect(nextPublicState(PublicTargetState.PUBLIC_TARGET_STATE_INVALID, ONLINE, context)).toBe(SYNCING);
    expect(nextPublicState(SERVING, LocalTargetState.LOCAL_TARGET_STATE_INVALID, context)).toBe(SERVING);
  });
});

const t = (
  targetId: number,
  publicState: PublicTargetState,
  localState: LocalTargetState | undefined,
): ChainTargetState => ({ targetId, publicState, localState });
const shape = (chain: ChainTargetState[]) => chain.map((x) => `${x.targetId}:${name(x.publicState)}`).join(' ');

describe('nextChain', () => {
  it('moves a failed head to the end and keeps the others serving in order', () => {
    const next = nextChain([t(1, SERVING, LOCAL_OFFLINE), t(2, SERVING, UPTODATE), t(3, SERVING, UPTODATE)]);
    expect(shape(next)).toBe('2:SERVING 3:SERVING 1:OFFLINE');
  });

  it('moves a failed middle and a failed tail behind the live targets', () => {
    expect(shape(nextChain([t(1, SERVING, UPTODATE), t(2, SERVING, LOCAL_OFFLINE), t(3, SERVING, UPTODATE)]))).toBe(
      '1:SERVING 3:SERVING 2:OFFLINE',
    );
    expect(shape(nextChain([t(1, SERVING, UPTODATE), t(2, SERVING, UPTODATE), t(3, SERVING, LOCAL_OFFLINE)]))).toBe(
      '1:SERVING 2:SERVING 3:OFFLINE',
    );
  });

  it('brings a returning target back through waiting/syncing as the tail, then serving', () => {
    let chain = [t(2, SERVING, UPTODATE), t(3, SERVING, UPTODATE), t(1, OFFLINE, ONLINE)];
    chain = nextChain(chain);
    expect(shape(chain)).toBe('2:SERVING 3:SERVING 1:SYNCING');
    // Still copying: nothing changes.
    expect(sameChain(nextChain(chain), chain)).toBe(true);
    chain = nextChain(chain.map((x) => (x.targetId === 1 ? { ...x, localState: UPTODATE } : x)));
    expect(shape(chain)).toBe('2:SERVING 3:SERVING 1:SERVING');
  });

  it('syncs one returning target at a time', () => {
    const chain = nextChain([t(1, SERVING, UPTODATE), t(2, OFFLINE, ONLINE), t(3, OFFLINE, ONLINE)]);
    expect(shape(chain)).toBe('1:SERVING 2:SYNCING 3:WAITING');
    const after = nextChain(chain.map((x) => (x.targetId === 2 ? { ...x, localState: UPTODATE } : x)));
    // The next one starts syncing from the new tail in the same round.
    expect(shape(after)).toBe('1:SERVING 2:SERVING 3:SYNCING');
  });

  it('keeps the last serving target as lastsrv when every target failed, and serves from it when it returns', () => {
    let chain = nextChain([t(1, SERVING, LOCAL_OFFLINE), t(2, SERVING, LOCAL_OFFLINE), t(3, OFFLINE, LOCAL_OFFLINE)]);
    expect(shape(chain)).toBe('1:LASTSRV 2:OFFLINE 3:OFFLINE');
    // Another target returns first: it must wait for the one with the complete copy.
    chain = nextChain(chain.map((x) => (x.targetId === 3 ? { ...x, localState: ONLINE } : x)));
    expect(shape(chain)).toBe('1:LASTSRV 3:WAITING 2:OFFLINE');
    chain = nextChain(chain.map((x) => (x.targetId === 1 ? { ...x, localState: ONLINE } : x)));
    expect(shape(chain)).toBe('1:SERVING 3:SYNCING 2:OFFLINE');
  });

  it('keeps a single-replica chain as lastsrv while its only target is down', () => {
    expect(shape(nextChain([t(7, SERVING, LOCAL_OFFLINE)]))).toBe('7:LASTSRV');
    expect(shape(nextChain([t(7, LASTSRV, LOCAL_OFFLINE)]))).toBe('7:LASTSRV');
    expect(shape(nextChain([t(7, LASTSRV, ONLINE)]))).toBe('7:SERVING');
  });

  it('keeps targets without a report where they are', () => {
    const chain = [t(1, SERVING, undefined), t(2, SERVING, undefined), t(3, OFFLINE, undefined)];
    expect(sameChain(nextChain(chain), chain)).toBe(true);
  });

  // Every chain of 1 to 3 targets with every combination of public and local states.
  it('keeps its invariants on every chain of up to three targets', () => {
    const states: Array<[PublicTargetState, LocalTargetState | undefined]> = [];
    for (const p of PUBLIC) for (const l of LOCAL) states.push([p, l]);
    let chains = 0;
    const visit = (chain: ChainTargetState[]) => {
      chains++;
      const next = nextChain(chain);
      const label = `${shape(chain)} / ${chain.map((x) => String(x.localState)).join(',')}`;
      // Same targets.
      expect(next.map((x) => x.targetId).sort(), label).toEqual(chain.map((x) => x.targetId).sort());
      // Grouped in order: serving, lastsrv, syncing, waiting, offline.
      const ranks = next.map((x) => CHAIN_GROUP_ORDER.indexOf(x.publicState));
      expect(ranks, label).toEqual([...ranks].sort((a, b) => a - b));
      // Stable inside a group.
      for (const group of CHAIN_GROUP_ORDER) {
        const ids = next.filter((x) => x.publicState === group).map((x) => x.targetId);
        const before = chain.map((x) => x.targetId).filter((id) => ids.includes(id));
        if (group === SERVING) {
          // Serving targets keep their relative order, and newly promoted ones come after them.
          const wasServing = ids.filter((id) => chain.find((x) => x.targetId === id)!.publicState === SERVING);
          expect(ids.slice(0, wasServing.length), label).toEqual(before.filter((id) => wasServing.includes(id)));
        }
      }
      const count = (list: ChainTargetState[], s: PublicTargetState) => list.filter((x) => x.publicState === s).length;
      // Never lose the last complete copy.
      if (count(chain, SERVING) + count(chain, LASTSRV) > 0)
        expect(count(next, SERVING) + count(next, LASTSRV), label).toBeGreaterThan(0);
      // Lastsrv only when nothing serves, and at most one new lastsrv.
      if (count(next, SERVING) > 0) expect(count(next, LASTSRV), label).toBe(0);
      // (Inputs the machine itself produces never hold serving and lastsrv together.)
      if (count(chain, LASTSRV) === 0 || (count(chain, LASTSRV) === 1 && count(chain, SERVING) === 0)) {
        expect(count(next, LASTSRV), label).toBeLessThanOrEqual(1);
      }
      // One sync at a time.
      if (count(chain, SYNCING) <= 1) expect(count(next, SYNCING), label).toBeLessThanOrEqual(1);
      // Nothing syncs without a serving predecessor.
      if (count(next, SYNCING) > 0) expect(count(next, SERVING), label).toBeGreaterThan(0);
      for (const after of next) {
        const prior = chain.find((x) => x.targetId === after.targetId)!;
        // Serving only from serving, a finished sync, or the last complete copy.
        if (after.publicState === SERVING) {
          const ok =
            prior.publicState === SERVING ||
            prior.publicState === LASTSRV ||
            (prior.publicState === SYNCING && prior.localState === UPTODATE);
          expect(ok, label).toBe(true);
        }
        // A failed target serves nothing.
        if (prior.localState === LOCAL_OFFLINE) expect([OFFLINE, LASTSRV], label).toContain(after.publicState);
      }
      // Repeating with the same reports converges within a few rounds.
      let round = next;
      for (let i = 0; i < 4; i++) round = nextChain(round);
      expect(sameChain(nextChain(round), round), label).toBe(true);
    };
    const build = (length: number, prefix: ChainTargetState[]) => {
      if (prefix.length === length) {
        visit(prefix);
        return;
      }
      for (const [p, l] of states) build(length, [...prefix, t(prefix.length + 1, p, l)]);
    };
    for (let length = 1; length <= 3; length++) build(length, []);
    expect(chains).toBe(20 + 400 + 8000);
  });
});
