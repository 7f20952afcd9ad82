// The public surface of meta/kv: the KvEngine contract and its in-process engines (memory for
// tests and the simulator, lmdb for the embedded default). The etcd engine joins here.
export type {
  KvKey,
  KvValue,
  KvRangeOptions,
  KvPair,
  KvTxn,
  KvTransactionOptions,
  KvEngine,
} from './engine.js';
export { createMemoryEngine, type MemoryEngine, type MemoryEngineOptions } from './memory-engine.js';
export { createLmdbEngine, LMDB_LOCK_FILE, type LmdbEngine, type LmdbEngineOptions } from './lmdb-engine.js';
export {
  OptimisticEngine,
  type OptimisticEngineOptions,
  type KvEngineStats,
  type KvBackend,
  type KvBackendCursor,
  type KvApplyResult,
  type KvWrite,
} from './optimistic-engine.js';
export {
  KV_KEY_MAX_BYTES,
  KV_VALUE_MAX_BYTES,
  KV_TXN_RETRIES_DEFAULT,
  KV_TXN_RETRIES_MAX,
  KV_TXN_WRITES_MAX,
  KV_OVERLAY_KEYS_MAX,
} from './constants.js';
export { compareBytes } from './bytes.js';
