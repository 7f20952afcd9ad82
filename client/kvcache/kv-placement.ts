// Where a prefix tree of KV-cache pages lives: the chain of a chain table chosen by the hash of the
// tree's root key (docs/kvcache.md "Placement"), so one node answers a whole chain's matchPrefix.
import { createHash } from 'node:crypto';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { RoutingCache } from '../routing-cache.js';

/** The chain id of the prefix tree rooted at `rootKey`, from the newest version of the table. */
export function chainOfRoot(routing: RoutingCache, tableId: number, rootKey: Uint8Array): number {
  const table = routing.latestTable(tableId);
  if (table === undefined || table.chainIds.length === 0) {
    throw new SpindleError(ErrorCode.ROUTING_NOT_READY, `chain table ${tableId} is not in routing yet`, {
      retryable: true,
    });
  }
  // Keys are hashes already; hashing again keeps placement even for keys an engine made otherwise.
  const digest = createHash('sha256').update('kv-place-v1\0').update(rootKey).digest();
  return table.chainIds[digest.readUInt32BE(0) % table.chainIds.length]!;
}
