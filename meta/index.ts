// The public surface of meta/: the metadata service process (startMetaServer), the cluster manager,
// the chain table builder, the KV engines and the namespace. The process entry is meta/main.ts.
export {
  startMetaServer,
  type MetaServer,
  type MetaServerOptions,
  META_DRAIN_GRACE_MS,
  META_KV_DIRECTORY,
} from './server.js';
export {
  ClusterManager,
  type ClusterManagerOptions,
  buildChainTable,
  type BuilderNode,
  type BuiltChain,
  type BuildChainTableOptions,
  createMgmtServiceImplementation,
  targetIdOf,
  NODE_ID_MAX,
  REPLICAS_MAX,
  ROUTING_VERSION_INITIAL,
} from './mgmt/index.js';
export { DEFAULT_CHAIN_TABLE_ID } from './mgmt/constants.js';
export {
  GcWorker,
  type GcWorkerOptions,
  type GcRoundResult,
  GC_DELAY_PRODUCTION_MS,
  GC_DELAY_TEST_MS,
} from './gc-worker.js';
export { MetaStorageAdapter, type MetaStorageAdapterOptions } from './storage-adapter.js';
export {
  createLmdbEngine,
  createMemoryEngine,
  type LmdbEngine,
  type LmdbEngineOptions,
  type MemoryEngine,
} from './kv/index.js';
export type { KvEngine, KvTxn, KvKey, KvValue, KvPair, KvRangeOptions, KvTransactionOptions } from './kv/engine.js';
export { Namespace, type NamespaceOptions } from './namespace/index.js';
export { createMetaServiceImplementation } from './service/meta-service.js';
export type { ClusterView, ChainTableSnapshot, ClusterCapacity } from './cluster-view.js';
export type { StoragePort } from './storage-port.js';
