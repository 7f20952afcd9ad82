// The storage node module: chunk engine, chain replication (CRAQ), reads, and the node process
// (storage/main.ts is the process entry). Other modules start nodes through startStorageNode or
// by spawning main.ts; they never reach inside.
export {
  startStorageNode,
  type StorageNodeOptions,
  type StorageNodeHandle,
  type StorageReadyLine,
} from './storage-node.js';
export {
  ChunkEngine,
  type ChunkEngineOptions,
  type ChunkInfo,
  type ChunkUpdate,
  type PendingResult,
  type ReadResultData,
} from './chunk-engine/chunk-engine.js';
export {
  encodeChunkKey,
  decodeChunkKey,
  inoKeyRange,
  CHUNK_KEY_BYTES,
  type ChunkAddress,
} from './chunk-engine/chunk-key.js';
export { RoutingView, type ChainView, type PeerTarget } from './routing-view.js';
export { StorageTarget } from './target.js';
export { parseStorageArgs, type StorageArgs } from './args.js';
