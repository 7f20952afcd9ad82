// The public surface of cluster/, the local-cluster launcher: what `spindle up|meta|storage`, the
// bench and the test harness use to start Spindle's server processes. Everything outside cluster/
// imports from here; the files behind it are free to move.
export { acquireDataDirLock, processAlive } from './data-dir-lock.js';
export { CHAIN_TABLE_TIMEOUT_MS, chainTableComplete, fetchRouting, waitForChainTable } from './chain-table.js';
export { DEFAULT_ENTRIES, entryArgv, entryScript, REPO_ROOT, type ServiceEntries } from './entries.js';
export {
  type ClusterSummary,
  LOCAL_CLUSTER_RANGES,
  LocalCluster,
  type LocalClusterOptions,
  type StorageNodeInfo,
} from './local-cluster.js';
export { LOG_TAIL_BYTES, tailFile } from './log-tail.js';
export { type MetaFlagOptions, type MetaOptions, type MetaReady, metaFlags, startMeta } from './meta-service.js';
export {
  MALLOC_MODES,
  type MallocMode,
  mallocMode,
  mallocSettings,
  NODE_FLAGS,
  serverEnv,
  TUNED_MALLOC_ENV,
  withMallocEnv,
} from './server-env.js';
export { type ProcessExit, ServiceProcess, STOP_TIMEOUT_MS } from './service-process.js';
export { ServiceStartError } from './service-start-error.js';
export { READY_TIMEOUT_MS, type SpawnServiceOptions, spawnService } from './spawn-service.js';
export {
  type StorageFlagOptions,
  type StorageOptions,
  type StorageReady,
  startStorage,
  storageFlags,
} from './storage-service.js';
