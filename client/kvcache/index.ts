// The KV-cache client's public surface (docs/kvcache.md): one namespace's pages on the storage nodes.
export {
  KvCache,
  type KvCacheOptions,
  type KvGetOptions,
  type KvNamespaceFields,
  type KvPageToPut,
} from './kv-cache.js';
