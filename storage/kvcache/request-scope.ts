// What a KV-cache request names besides its keys: its chain and the writer's namespace, and how a
// target opens that namespace's page index from it (created from the request's config at first).
import type { ChunkAddress } from '../chunk-engine/chunk-key.js';
import type { KvNamespaces } from './kv-namespaces.js';
import type { KvNamespaceConfig } from './namespace-config.js';
import type { PageNamespace } from './page-chunks.js';
import type { PageIndex } from './page-index.js';

/** Which chain a request names, and the writer's namespace (config validated, fingerprint its own). */
export interface KvRequestScope {
  readonly chainId: number;
  readonly chainVersion: number;
  readonly config: KvNamespaceConfig;
  readonly fingerprint: string;
}

export function pageNamespace(scope: KvRequestScope): PageNamespace {
  return { name: scope.config.name, fingerprint: scope.fingerprint };
}

/** The namespace's index on this target, created from the request's config the first time. */
export function openNamespace(namespaces: KvNamespaces<ChunkAddress>, scope: KvRequestScope): PageIndex<ChunkAddress> {
  if (namespaces.names().includes(scope.config.name)) {
    // A writer of another configuration: FAILED_PRECONDITION naming both; other capacity: refused.
    const index = namespaces.open(scope.config.name, scope.fingerprint);
    namespaces.create(scope.config);
    return index;
  }
  namespaces.create(scope.config);
  return namespaces.open(scope.config.name, scope.fingerprint);
}
