// The public surface of meta/kv: what the rest of meta takes from this index — the KvEngine
// contract and the in-process memory engine (namespace tests and fixtures). The etcd engine joins here.
export type { KvEngine } from './engine.js';
export { createMemoryEngine } from './memory-engine.js';
