// The namespace module: the metadata operations (Namespace) and the GC queue API the cluster
// manager's collector uses.
export { Namespace, type NamespaceOptions, type CallOptions } from './namespace.js';
export type { NamespaceDeps } from './context.js';
export { listGcQueue, completeGc, type GcQueueEntry, type ListGcQueueOptions } from './gc-queue.js';
export { sweepIdempotency } from './idempotency.js';
export { DEFAULT_CHAIN_TABLE_ID } from './layout.js';
