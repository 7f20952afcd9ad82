// What the pieces of the chunk store share (chunk-store.ts builds it once): routing, connections
// and bulk sessions to storage nodes, the config, the bound on chunk I/Os in flight, and the
// choice of replicas. Writes (chunk-writes.ts), reads (chunk-reads.ts, read-transports/) and the
// chain-wide requests of chunk-store.ts all go through one context, so they share one I/O bound
// and one view of each node's load.
import type { Logger } from 'pino';
import type { Clock, Rng } from '../common/clock.js';
import type { ClientConfig } from '../common/config.js';
import type { BulkSessions } from './bulk-sessions.js';
import type { ReplicaChoice } from './replica-choice.js';
import type { RoutingCache } from './routing-cache.js';
import type { Semaphore } from './semaphore.js';
import type { StorageConnections } from './storage-connections.js';

export interface ChunkIoContext {
  readonly routing: RoutingCache;
  readonly connections: StorageConnections;
  readonly config: ClientConfig;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly logger: Logger | undefined;
  /** One permit per chunk I/O in flight (config.ioConcurrencyMax): writes, read batches, removals. */
  readonly io: Semaphore;
  /** Bulk sessions to storage nodes (undefined: dataTransport 'grpc', bytes inside gRPC only). */
  readonly bulk: BulkSessions | undefined;
  readonly replicas: ReplicaChoice;
  /** Fetches newer routing; a failure is logged, not thrown (the retry after it meets its own error). */
  refreshRouting(): Promise<void>;
}
