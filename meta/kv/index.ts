// The public surface of meta/kv: what the rest of meta takes from this index — the KvEngine
// contract and the in-process memory engine (namespace tests and fixtures). meta/server.ts opens
// the lmdb or etcd engine from its own file (the manager role needs the etcd engine's client too).
export type { KvEngine } from './engine.js';
export { createMemoryEngine } from './memory-engine.js';
