// KvStore calls straight to storage nodes for the KV-cache tests (no client library yet): the
// chain's head and replicas from the manager's routing, one KvStoreClient per node address.
import { randomBytes } from 'node:crypto';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { KvStoreClient, PublicTargetState, type ChainInfo, type KvNamespaceConfig } from '../../proto/index.js';
import {
  namespaceFingerprint,
  type KvNamespaceConfig as NamespaceFields,
} from '../../storage/kvcache/namespace-config.js';
import { addressOfTarget, routingOf, tableChains } from '../harness/replicas.js';
import { testChannelOptions } from '../harness/cluster.js';

export const KiB = 1024;

/** A namespace config as a writer sends it (fingerprint computed from the fields). */
export function namespace(overrides: Partial<NamespaceFields> = {}): KvNamespaceConfig {
  const fields: NamespaceFields = {
    name: 'llama',
    modelId: 'meta-llama/Llama-3.1-8B',
    kvDtype: 'bfloat16',
    layout: 'vllm-nhd',
    pageTokens: 16,
    tpRank: 0,
    tpSize: 1,
    replicas: 3,
    capacityBytes: 64 * 1024 * 1024,
    ...overrides,
  };
  return { ...fields, fingerprint: namespaceFingerprint(fields) };
}

/** A prompt's chain of `count` fresh 32-byte keys. */
export function keyChain(count: number): Buffer[] {
  return Array.from({ length: count }, () => randomBytes(32));
}

/** Pages of a chain (each the parent of the next, the first a root) with random values. */
export function chainPages(keys: Buffer[], valueBytes: number, parentOfFirst?: Buffer): PageToPut[] {
  return keys.map((key, i) => ({
    key,
    parentKey: i === 0 ? parentOfFirst : keys[i - 1],
    value: randomBytes(valueBytes),
  }));
}

export interface PageToPut {
  key: Buffer;
  parentKey?: Buffer;
  value: Buffer;
  ttlMs?: number;
}

export interface ChainRoute {
  chainId: number;
  chainVersion: number;
  /** Node addresses of the chain's serving targets, head first. */
  serving: string[];
  /** Node addresses of all its targets, in chain order. */
  all: string[];
}

export async function routeOf(metaAddress: string, chainIndex = 0): Promise<ChainRoute> {
  const routing = await routingOf(metaAddress);
  const chain: ChainInfo = tableChains(routing)[chainIndex]!;
  const stateOf = (id: number) => routing.targets.find((t) => t.targetId === id)?.publicState;
  const addressOf = (id: number) => addressOfTarget(routing, id).address;
  return {
    chainId: chain.chainId,
    chainVersion: chain.chainVersion,
    serving: chain.targetIds.filter((id) => stateOf(id) === PublicTargetState.SERVING).map(addressOf),
    all: chain.targetIds.map(addressOf),
  };
}

/** KvStore clients by address, with the five calls; close() closes them. */
export class KvCalls {
  private readonly clients = new Map<string, KvStoreClient>();

  private client(address: string): KvStoreClient {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new KvStoreClient(address, insecureChannel(), testChannelOptions(address));
      this.clients.set(address, client);
    }
    return client;
  }

  put(address: string, route: ChainRoute, ns: KvNamespaceConfig, pages: PageToPut[]) {
    const c = this.client(address);
    const request = { namespace: ns, chainId: route.chainId, chainVersion: route.chainVersion, pages };
    return callUnary(c, c.kvPut, request, 'KvStore.KvPut', { timeoutMs: 60_000 });
  }

  get(address: string, route: ChainRoute, ns: KvNamespaceConfig, keys: Buffer[]) {
    const c = this.client(address);
    const request = {
      namespace: ns,
      chainId: route.chainId,
      chainVersion: route.chainVersion,
      keys,
      bulkRequestIds: [],
    };
    return callUnary(c, c.kvGet, request, 'KvStore.KvGet', { timeoutMs: 30_000 });
  }

  exists(address: string, route: ChainRoute, ns: KvNamespaceConfig, keys: Buffer[]) {
    const c = this.client(address);
    const request = { namespace: ns, chainId: route.chainId, chainVersion: route.chainVersion, keys };
    return callUnary(c, c.kvExists, request, 'KvStore.KvExists', { timeoutMs: 30_000 });
  }

  remove(address: string, route: ChainRoute, ns: KvNamespaceConfig, keys: Buffer[]) {
    const c = this.client(address);
    const request = { namespace: ns, chainId: route.chainId, chainVersion: route.chainVersion, keys };
    return callUnary(c, c.kvRemove, request, 'KvStore.KvRemove', { timeoutMs: 60_000 });
  }

  match(address: string, route: ChainRoute, ns: KvNamespaceConfig, keys: Buffer[], leaseMs?: number) {
    const c = this.client(address);
    const request = { namespace: ns, chainId: route.chainId, chainVersion: route.chainVersion, keys, leaseMs };
    return callUnary(c, c.kvMatchPrefix, request, 'KvStore.KvMatchPrefix', { timeoutMs: 30_000 });
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
