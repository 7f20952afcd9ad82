// The client library's public surface: SpindleClient and its file API, the routing cache and
// chunk store (also used in-process by meta), the typed Meta/Mgmt RPC wrappers, and helpers.
export { SpindleClient, normalizePath, type ConnectOptions, type FileData, type TimeLike } from './spindle-client.js';
export {
  FileHandle,
  parseFlags,
  type FileHandleContext,
  type FileReadResult,
  type FileWriteResult,
  type HandleReadOptions,
  type OpenFlags,
  type ParsedFlags,
} from './file-handle.js';
export { SpindleReadStream, SpindleWriteStream, type ReadStreamOptions, type WriteStreamOptions } from './streams.js';
export {
  SpindleStats,
  SpindleDirent,
  fileTypeBits,
  S_IFMT,
  S_IFREG,
  S_IFDIR,
  S_IFLNK,
  type SpindleStatFs,
} from './stats.js';
export {
  RoutingCache,
  isServingState,
  type ChainRoute,
  type RouteTarget,
  type RoutingCacheOptions,
} from './routing-cache.js';
export { ChunkStore, clampLength, type ChunkStoreOptions, type IoOptions, type ReadOptions } from './chunk-store.js';
export { StorageConnections } from './storage-connections.js';
export { MetaRpc, MgmtRpc, type RpcCallOptions, type RpcClientOptions } from './meta-rpc.js';
export { splitRange, truncatePlan, chunkCount, type ChunkPiece } from './chunk-math.js';
export { storageRetryAction, metaRetryAction, clientRetryBudget, type RetryAction } from './retry-policy.js';
export {
  retryWithBackoff,
  backoffDelayMs,
  isRetryableError,
  type RetryOptions,
  type RetryStep,
  type RetryVerdict,
} from '../common/retry.js';
export { WriteChannelPool, type WriteChannelLease } from './write-channels.js';
export { Semaphore } from './semaphore.js';
// Typed errors: every failure the client reports is a SpindleError (`err.errorCode`, `err.retryable`,
// and a POSIX `err.code` such as 'ENOENT'), so callers can branch on them without deep imports.
export { ErrorCode, SpindleError, isSpindleError } from '../common/errors.js';
export * from './checkpoints/index.js';
// The KV-cache store (docs/kvcache.md): one namespace's pages, placed by root key on the chains.
export * from './kvcache/index.js';
