// The public surface of cluster/, the local-cluster launcher: what `spindle up|meta|storage`, the
// bench and the test harness use to start Spindle's server processes. Everything outside cluster/
// imports from here, except the two light files the CLI reads without loading the launcher (and
// with it gRPC): ranges.ts and server-env.ts. The other files behind it are free to move.
export { acquireDataDirLock, processAlive } from './data-dir-lock.js';
export { fetchRouting } from './chain-table.js';
export { DEFAULT_ENTRIES, entryArgv, type ServiceEntries } from './entries.js';
export { LocalCluster, type StorageNodeInfo } from './local-cluster.js';
export { type MetaFlagOptions, metaFlags } from './meta-service.js';
export {
  MALLOC_MODES,
  type MallocMode,
  mallocSettings,
  NODE_FLAGS,
  serverEnv,
  TUNED_MALLOC_ENV,
  withMallocEnv,
} from './server-env.js';
export { STOP_TIMEOUT_MS } from './service-process.js';
export { ServiceStartError } from './service-start-error.js';
export { Supervisor } from './supervisor.js';
export { type StorageFlagOptions, storageFlags } from './storage-service.js';
