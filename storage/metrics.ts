// Prometheus metrics of a storage node, registered on an injected Registry (several nodes can
// share one test process). Names: spindle_storage_<thing>_<unit>; labels are bounded (method
// names, error code names, local target ids).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { KvCountsSink } from './kvcache/kv-counters.js';
import type { PutStatus } from './kvcache/statuses.js';

export interface TargetStats {
  targetId: number;
  chainId: number;
  usedBytes: number;
  allocatedBytes: number;
  chunks: number;
  /** Block I/O backend of the target's chunk engine ('uring' or 'fs'). */
  blockIo: string;
  /** 1 serving, 2 syncing, 3 waiting, 4 lastsrv, 5 offline, 0 unknown (PublicTargetState). */
  publicState: number;
}

export class StorageMetrics {
  readonly requests: Counter<'method' | 'result'>;
  readonly requestSeconds: Histogram<'method'>;
  readonly bytesWritten: Counter;
  readonly bytesRead: Counter;
  /** Chunk bytes moved as bulk frames: 'in' (write/update bytes taken), 'out' (read results, forwards). */
  readonly bulkBytes: Counter<'direction'>;
  readonly dedupeReplays: Counter;
  readonly forwardRetries: Counter;
  readonly heartbeatFailures: Counter;
  /** Send → answer of successful heartbeats (the lease is renewed from the send time). */
  readonly heartbeatSeconds: Histogram;
  /** Largest event-loop delay seen in the last heartbeat period (perf_hooks). */
  readonly eventLoopDelayMax: Gauge;
  readonly chunkRepairs: Counter;
  readonly routingVersion: Gauge;
  /** The KV-cache store's metrics (`spindle_kv_*`). */
  readonly kv: KvMetrics;

  constructor(registry: Registry, targetStats: () => TargetStats[]) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'spindle_storage_requests_total',
      help: 'Storage RPCs handled, by method and result (ok or the error code name)',
      labelNames: ['method', 'result'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'spindle_storage_request_duration_seconds',
      help: 'Latency of storage RPCs by method',
      labelNames: ['method'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    });
    this.bytesWritten = new Counter({
      name: 'spindle_storage_write_bytes_total',
      help: 'Bytes of client writes and replicated updates applied to targets',
      registers,
    });
    this.bytesRead = new Counter({
      name: 'spindle_storage_read_bytes_total',
      help: 'Bytes returned by BatchRead',
      registers,
    });
    this.bulkBytes = new Counter({
      name: 'spindle_storage_bulk_bytes_total',
      help: 'Chunk bytes moved as bulk frames instead of inside gRPC messages, by direction (in, out)',
      labelNames: ['direction'],
      registers,
    });
    this.dedupeReplays = new Counter({
      name: 'spindle_storage_write_replays_total',
      help: 'Client write retries answered from the exactly-once table without applying again',
      registers,
    });
    this.forwardRetries = new Counter({
      name: 'spindle_storage_forward_retries_total',
      help: 'Retried forwards of an update to the successor',
      registers,
    });
    this.heartbeatFailures = new Counter({
      name: 'spindle_storage_heartbeat_failures_total',
      help: 'Heartbeats to the cluster manager that failed',
      registers,
    });
    this.heartbeatSeconds = new Histogram({
      name: 'spindle_storage_heartbeat_duration_seconds',
      help: 'Round trip of successful heartbeats to the cluster manager',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.eventLoopDelayMax = new Gauge({
      name: 'spindle_storage_event_loop_delay_max_seconds',
      help: 'Largest event-loop delay of the storage process in the last heartbeat period',
      registers,
    });
    this.chunkRepairs = new Counter({
      name: 'spindle_storage_chunk_repairs_total',
      help: 'Writes in which the head found its successors diverged and re-replicated the whole chunk',
      registers,
    });
    this.routingVersion = new Gauge({
      name: 'spindle_storage_routing_version',
      help: 'Routing version this node holds',
      registers,
    });
    this.kv = new KvMetrics(registers);
    const perTarget = (name: string, help: string, pick: (s: TargetStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['target'],
        registers,
        collect() {
          this.reset();
          for (const stats of targetStats()) this.set({ target: String(stats.targetId) }, pick(stats));
        },
      });
    perTarget('spindle_storage_target_used_bytes', 'Committed chunk bytes on a target', (s) => s.usedBytes);
    perTarget(
      'spindle_storage_target_allocated_bytes',
      'Bytes of data blocks in use on a target',
      (s) => s.allocatedBytes,
    );
    perTarget('spindle_storage_target_chunks', 'Committed chunks on a target', (s) => s.chunks);
    new Gauge({
      name: 'spindle_storage_target_block_io',
      help: 'Block I/O backend of a target (1 for the backend in use: uring or fs)',
      labelNames: ['target', 'backend'],
      registers,
      collect() {
        this.reset();
        for (const stats of targetStats()) this.set({ target: String(stats.targetId), backend: stats.blockIo }, 1);
      },
    });
    perTarget(
      'spindle_storage_target_state',
      'Public state of a target (1 serving, 2 syncing, 3 waiting, 4 lastsrv, 5 offline)',
      (s) => s.publicState,
    );
  }
}

/**
 * The KV-cache store's metrics (docs/kvcache.md "Operating it"). The `namespace` label is bounded:
 * kv-counters.ts labels the first 64 names a node sees and pools later ones under `_other`.
 */
export class KvMetrics implements KvCountsSink {
  private readonly getPages: Counter<'namespace' | 'result'>;
  private readonly putPages: Counter<'namespace' | 'status'>;
  private readonly droppedPages: Counter<'namespace' | 'reason'>;
  private readonly matchKeys: Counter<'namespace' | 'result'>;
  private readonly matchSeconds: Histogram<'mode'>;
  private namespaceTotals: () => Map<string, { pages: number; bytes: number }> = () => new Map();

  constructor(registers: Registry[]) {
    this.getPages = new Counter({
      name: 'spindle_kv_get_pages_total',
      help: 'Pages asked for by KvGet on this node, by namespace and result (hit, miss)',
      labelNames: ['namespace', 'result'],
      registers,
    });
    this.putPages = new Counter({
      name: 'spindle_kv_put_pages_total',
      help: 'Pages of KvPut calls at this node (as chain head), by namespace and status',
      labelNames: ['namespace', 'status'],
      registers,
    });
    this.droppedPages = new Counter({
      name: 'spindle_kv_evicted_pages_total',
      help: 'Pages that left a head index on this node, by namespace and reason (capacity, ttl, removed, operator)',
      labelNames: ['namespace', 'reason'],
      registers,
    });
    this.matchKeys = new Counter({
      name: 'spindle_kv_match_keys_total',
      help: 'Keys of KvMatchPrefix chains on this node, by namespace and result (hit: matched, miss: after the match)',
      labelNames: ['namespace', 'result'],
      registers,
    });
    this.matchSeconds = new Histogram({
      name: 'spindle_kv_match_prefix_duration_seconds',
      help: 'Latency of KvMatchPrefix on this node, by mode (plain on any replica, lease at the head)',
      labelNames: ['mode'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    const metrics = this;
    const perNamespace = (name: string, help: string, pick: (t: { pages: number; bytes: number }) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['namespace'],
        registers,
        collect() {
          this.reset();
          for (const [namespace, total] of metrics.namespaceTotals()) this.set({ namespace }, pick(total));
        },
      });
    perNamespace(
      'spindle_kv_pages',
      'Pages of each namespace in the head indexes of this node (sum over nodes: the cluster)',
      (t) => t.pages,
    );
    perNamespace(
      'spindle_kv_bytes',
      'Bytes of page values of each namespace in the head indexes of this node',
      (t) => t.bytes,
    );
  }

  /** Where the pages and bytes gauges read from (the node's KV store, labels already bounded). */
  setNamespaceTotals(source: () => Map<string, { pages: number; bytes: number }>): void {
    this.namespaceTotals = source;
  }

  gets(namespace: string, hits: number, misses: number): void {
    if (hits > 0) this.getPages.inc({ namespace, result: 'hit' }, hits);
    if (misses > 0) this.getPages.inc({ namespace, result: 'miss' }, misses);
  }

  puts(namespace: string, status: PutStatus, count: number): void {
    this.putPages.inc({ namespace, status }, count);
  }

  drops(namespace: string, reason: string, count: number): void {
    this.droppedPages.inc({ namespace, reason }, count);
  }

  match(namespace: string, hitKeys: number, missKeys: number, seconds: number, leased: boolean): void {
    if (hitKeys > 0) this.matchKeys.inc({ namespace, result: 'hit' }, hitKeys);
    if (missKeys > 0) this.matchKeys.inc({ namespace, result: 'miss' }, missKeys);
    this.matchSeconds.observe({ mode: leased ? 'lease' : 'plain' }, seconds);
  }
}
