// Which replica of a chain a request goes to: writes and removals to the head, a length query to a
// replica by rotation, a read to the serving replica whose node has the fewest of this client's
// read bytes in flight (ties: rotation order). Counting bytes in flight, not just rotating, is
// what spreads a sequential reader over every replica: a rotation counter can stay in step with
// the chains' target order and send every chunk to one node (docs/performance.md).
//
// Guarantees: only serving replicas are chosen, and a chain without one is TARGET_NOT_SERVING
// (retryable: routing may be behind); a node's bytes count from readStarted until readSettled,
// and a node with none left is forgotten (memory bounded by the nodes being read from).
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { StorageClient } from '../proto/index.js';
import type { RoutingCache, RouteTarget } from './routing-cache.js';
import type { StorageConnections } from './storage-connections.js';

export class ReplicaChoice {
  /** Read bytes this client has asked of each node (host:port) and not yet received. */
  private readonly readBytesInFlight = new Map<string, number>();

  constructor(
    private readonly routing: RoutingCache,
    private readonly connections: StorageConnections,
  ) {}

  /** The head of a chain and the version to send, or a retryable error. */
  head(chainId: number): { client: StorageClient; chainVersion: number; bulkAddress: string | undefined } {
    const chain = this.routing.requireChain(chainId);
    const head = this.routing.head(chainId);
    if (head === undefined || head.address === undefined) throw this.noReplicaError(chainId, 'serving head');
    return {
      client: this.connections.get(head.address),
      chainVersion: chain.chainVersion,
      bulkAddress: head.bulkAddress,
    };
  }

  /** A serving replica of a chain, chosen by rotation. */
  byRotation(chainId: number, rotation: number): { client: StorageClient; chainVersion: number } {
    const chain = this.routing.requireChain(chainId);
    const replicas = this.routing.servingTargets(chainId);
    if (replicas.length === 0) throw this.noReplicaError(chainId, 'serving replica');
    const replica = replicas[rotation % replicas.length]!;
    return { client: this.connections.get(replica.address!), chainVersion: chain.chainVersion };
  }

  /** The serving replicas of a chain, head first (empty when routing knows none). */
  serving(chainId: number): RouteTarget[] {
    return this.routing.servingTargets(chainId);
  }

  /**
   * How far past `rotation` the replica is whose node has the fewest read bytes in flight from
   * this client (0 when the one at `rotation` has none, or ties).
   */
  leastBusyOffset(replicas: readonly RouteTarget[], rotation: number): number {
    let best = 0;
    let bestBytes = this.readBytesInFlight.get(replicas[rotation % replicas.length]!.address!) ?? 0;
    for (let i = 1; i < replicas.length && bestBytes > 0; i++) {
      const bytes = this.readBytesInFlight.get(replicas[(rotation + i) % replicas.length]!.address!) ?? 0;
      if (bytes < bestBytes) {
        best = i;
        bestBytes = bytes;
      }
    }
    return best;
  }

  /** `bytes` of a read were asked of the node at `address`. */
  readStarted(address: string, bytes: number): void {
    this.readBytesInFlight.set(address, (this.readBytesInFlight.get(address) ?? 0) + bytes);
  }

  /** The read of `bytes` from `address` settled (answered, failed or abandoned). */
  readSettled(address: string, bytes: number): void {
    const left = (this.readBytesInFlight.get(address) ?? bytes) - bytes;
    if (left > 0) this.readBytesInFlight.set(address, left);
    else this.readBytesInFlight.delete(address);
  }

  noReplicaError(chainId: number, what: string): SpindleError {
    return new SpindleError(
      ErrorCode.TARGET_NOT_SERVING,
      `chain ${chainId} has no ${what} in routing version ${this.routing.version}`,
    );
  }
}
