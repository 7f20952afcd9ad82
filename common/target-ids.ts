// Target ids: one encoding shared across processes. The cluster manager (meta/mgmt/node-registry.ts)
// gives a registering node's targets their ids, a storage node (storage/target.ts) computes the
// same ids from its node id, and chains, routing and every node's state name targets by them, so
// the encoding never changes: target id = node id × TARGETS_PER_NODE_MAX + local index (node 3's
// second target is 3001). Target ids are uint32 on the wire.
import { TARGETS_PER_NODE_MAX } from './constants.js';

/** Largest node id whose target ids all still fit in a uint32. */
export const NODE_ID_MAX = Math.floor(0xffff_ffff / TARGETS_PER_NODE_MAX) - 1;

/** The id of target `localIndex` (0-based, below TARGETS_PER_NODE_MAX) of node `nodeId`. */
export function targetIdOf(nodeId: number, localIndex: number): number {
  return nodeId * TARGETS_PER_NODE_MAX + localIndex;
}
