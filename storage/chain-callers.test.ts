import { describe, expect, it } from 'vitest';
import { ANONYMOUS_ADMIN, type Principal } from '../common/auth/principal.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { silentLogger } from '../common/logger.js';
import { PublicTargetState } from '../proto/index.js';
import { requireChainPredecessor } from './chain-callers.js';
import type { ChainView, PeerTarget } from './routing-view.js';

const peer = (nodeId: number): PeerTarget => ({
  targetId: nodeId * 1000,
  nodeId,
  address: `127.0.0.1:${7400 + nodeId}`,
  bulkAddress: '',
  state: PublicTargetState.SERVING,
});

/** Node 3's view of chain 5 = [1000, 2000, 3000]: it is the tail, node 2 its predecessor. */
const tail: ChainView = {
  chainId: 5,
  chainVersion: 7,
  targetIds: [1000, 2000, 3000],
  localTargetId: 3000,
  localState: PublicTargetState.SERVING,
  isHead: false,
  successor: undefined,
  predecessor: peer(2),
};
const head: ChainView = { ...tail, localTargetId: 1000, isHead: true, successor: peer(2), predecessor: undefined };

const storage = (nodeId: number): Principal => ({ role: 'storage', user: `node-${nodeId}`, uid: 0, gid: 0, nodeId });

function refusedFor(caller: Principal, view: ChainView): boolean {
  try {
    requireChainPredecessor(caller, view, 'an Update', silentLogger());
    return false;
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.PERMISSION_DENIED);
    return true;
  }
}

describe('chain calls come only from the predecessor', () => {
  it('accepts the predecessor node, refuses every other caller', () => {
    expect(refusedFor(storage(2), tail)).toBe(false);
    expect(refusedFor(storage(1), tail)).toBe(true); // the head is not the tail's predecessor
    expect(refusedFor(storage(9), tail)).toBe(true);
    expect(refusedFor({ role: 'client', user: 'alice', uid: 1000, gid: 1000 }, tail)).toBe(true);
    expect(refusedFor({ role: 'admin', user: 'ops', uid: 0, gid: 0 }, tail)).toBe(true);
    // The head has no predecessor: nobody replicates into it.
    expect(refusedFor(storage(2), head)).toBe(true);
  });

  it('a server with authentication off (every caller ANONYMOUS_ADMIN) accepts as before', () => {
    expect(refusedFor(ANONYMOUS_ADMIN, tail)).toBe(false);
  });
});
