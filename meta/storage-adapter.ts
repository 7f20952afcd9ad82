// The metadata service's StoragePort: removing and cutting files' chunks (GC, truncate, O_TRUNC)
// and recovering a file's length, over the client library's ChunkStore. Its RoutingCache is fed
// in-process by the cluster manager living in the same process: the current snapshot at start,
// then every change as it is committed (no gRPC to itself); a `refresh()` asks the manager directly.
//
// Guarantees: chunk operations use the routing the manager has committed, so a chain reorder is
// seen by the next call; close() is idempotent, aborts calls in flight and stops listening.
import type { Logger } from 'pino';
import type { Clock, Rng } from '../common/clock.js';
import type { ClientConfig } from '../common/config.js';
import { ChunkStore } from '../client/chunk-store.js';
import { RoutingCache } from '../client/routing-cache.js';
import type { ChunkId, Layout } from '../proto/index.js';
import type { ClusterManager } from './mgmt/cluster-manager.js';
import type { StoragePort } from './storage-port.js';

export interface MetaStorageAdapterOptions {
  manager: ClusterManager;
  /** Client settings of meta's own storage calls (timeouts, retries, concurrency). */
  config: ClientConfig;
  /** Exactly-once identity of meta's storage requests; unique per meta process. */
  clientId: string;
  /** Meta's own bearer token for storage calls (an admin token it mints itself); none with auth off. */
  token?: string;
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
}

export class MetaStorageAdapter implements StoragePort {
  readonly routing: RoutingCache;
  private readonly chunks: ChunkStore;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(options: MetaStorageAdapterOptions) {
    const { manager } = options;
    const logger = options.logger?.child({ component: 'meta.storage' });
    this.routing = new RoutingCache({
      fetch: async (knownVersion) => manager.routingSince(knownVersion),
      // Pushed on every change; no polling needed.
      refreshIntervalMs: 0,
      clock: options.clock,
      logger,
    });
    this.routing.apply({ routing: manager.routingInfo(), version: manager.routingVersion });
    this.unsubscribe = manager.onChange((routing) => this.routing.apply({ routing, version: routing.version }));
    this.chunks = new ChunkStore({
      routing: this.routing,
      clientId: options.clientId,
      token: options.token,
      config: options.config,
      clock: options.clock,
      rng: options.rng,
      logger,
    });
  }

  removeChunks(ino: number, layout: Layout, fromChunkIndex: number, options?: { signal?: AbortSignal }): Promise<void> {
    return this.chunks.removeChunks(ino, layout, fromChunkIndex, options);
  }

  truncateFile(ino: number, layout: Layout, length: number, options?: { signal?: AbortSignal }): Promise<void> {
    return this.chunks.truncateFile(ino, layout, length, options);
  }

  queryLength(ino: number, layout: Layout, options?: { signal?: AbortSignal }): Promise<number> {
    return this.chunks.queryLength(ino, layout, options);
  }

  /** One page of the chunks a chain holds (its head's chunk metadata), for the orphan sweep. */
  async listChunks(
    chainId: number,
    after: ChunkId | undefined,
    limit: number,
    options?: { signal?: AbortSignal },
  ): Promise<{ chunks: ChunkId[]; hasMore: boolean }> {
    const page = await this.chunks.dumpChunkMeta(chainId, after, limit, options);
    return { chunks: page.chunks.flatMap((c) => (c.chunk === undefined ? [] : [c.chunk])), hasMore: page.hasMore };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.chunks.close();
    this.routing.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
