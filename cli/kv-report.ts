// What `spindle kv …` shows and does, loaded only when a kv command runs (it needs gRPC). Pages
// live on the chains of chain table 1 (placed by their prefix tree's root key), and each chain's
// head owns the namespace's index on its target: every command asks each chain's head
// (KvNamespaceStats, KvEvict, KvRemoveNamespace of proto/kvstore.proto), from one routing
// snapshot of the cluster manager, retried with fresh routing when a head moved.
import { fetchRouting } from '../cluster/chain-table.js';
import { ErrorCode, asSpindleError } from '../common/errors.js';
import { callUnary, channelCredentials } from '../common/rpc.js';
import { adminChannelOptions } from './credentials.js';
import {
  type KvNamespaceConfig,
  type KvNamespaceCounters,
  type KvNamespaceStat,
  KvStoreClient,
  PublicTargetState,
  type RoutingInfo,
} from '../proto/index.js';
import { CliError, ExitCode } from './exit-codes.js';
import { formatBytes, formatTable } from './format.js';

/** Deadline of one call to the manager or a head (an eviction or removal of many pages takes a while). */
const KV_CALL_TIMEOUT_MS = 120_000;
/** Rounds of a command whose head moved meanwhile (each with fresh routing). */
const KV_ROUTING_ATTEMPTS_MAX = 3;
/** The chain table KV-cache pages are placed on (client/kvcache/kv-placement.ts). */
const KV_CHAIN_TABLE_ID = 1;

const ROUTING_MOVED = new Set([ErrorCode.NOT_CHAIN_HEAD, ErrorCode.CHAIN_VERSION_MISMATCH, ErrorCode.RPC_UNAVAILABLE]);

interface ChainHead {
  chainId: number;
  chainVersion: number;
  targetId: number;
  address: string;
  /** Node addresses of the chain's other serving replicas (they serve gets and plain matches too). */
  replicas: string[];
}

export interface ChainStats {
  chainId: number;
  targetId: number;
  namespaces: KvNamespaceStat[];
}

/** The head (first serving target) of every chain of the KV chain table. */
function chainHeads(routing: RoutingInfo): ChainHead[] {
  const tables = routing.chainTables.filter((t) => t.tableId === KV_CHAIN_TABLE_ID);
  if (tables.length === 0) throw new CliError('the cluster has no chain table yet', ExitCode.UNAVAILABLE, 'EAGAIN');
  const table = tables.reduce((a, b) => (b.version > a.version ? b : a));
  return table.chainIds.map((chainId) => {
    const chain = routing.chains.find((c) => c.chainId === chainId);
    const serving = (chain?.targetIds ?? [])
      .map((id) => routing.targets.find((t) => t.targetId === id))
      .filter((t) => t?.publicState === PublicTargetState.SERVING)
      .map((t) => ({ targetId: t!.targetId, node: routing.nodes.find((n) => n.nodeId === t!.nodeId) }));
    const head = serving[0];
    if (chain === undefined || head?.node === undefined) {
      throw new CliError(`chain ${chainId} has no serving head`, ExitCode.UNAVAILABLE, 'EAGAIN');
    }
    const replicas = serving.slice(1).flatMap((r) => (r.node === undefined ? [] : [r.node.address]));
    return { chainId, chainVersion: chain.chainVersion, targetId: head.targetId, address: head.node.address, replicas };
  });
}

/** Runs `fn` over every chain's head with a fresh routing snapshot, again if a head moved meanwhile. */
async function withHeads<T>(
  meta: string,
  fn: (heads: ChainHead[], client: (a: string) => KvStoreClient) => Promise<T>,
) {
  const clients = new Map<string, KvStoreClient>();
  const client = (address: string) => {
    let c = clients.get(address);
    if (c === undefined) {
      c = new KvStoreClient(address, channelCredentials(), adminChannelOptions(meta));
      clients.set(address, c);
    }
    return c;
  };
  // The gRPC channel's timers do not hold the process open while it waits for an answer.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    for (let attempt = 1; ; attempt++) {
      const heads = chainHeads(await fetchRouting(meta, KV_CALL_TIMEOUT_MS));
      try {
        return await fn(heads, client);
      } catch (err) {
        if (attempt >= KV_ROUTING_ATTEMPTS_MAX || !ROUTING_MOVED.has(asSpindleError(err).errorCode)) throw err;
      }
    }
  } finally {
    clearInterval(keepAlive);
    for (const c of clients.values()) c.close();
  }
}

function statsOf(heads: ChainHead[], client: (a: string) => KvStoreClient, name: string): Promise<ChainStats[]> {
  return Promise.all(
    heads.map(async (head) => {
      const c = client(head.address);
      const request = { chainId: head.chainId, chainVersion: head.chainVersion, name, countersOnly: false };
      const response = await callUnary(c, c.kvNamespaceStats, request, 'KvStore.KvNamespaceStats', {
        timeoutMs: KV_CALL_TIMEOUT_MS,
      });
      return { chainId: head.chainId, targetId: response.targetId, namespaces: response.namespaces };
    }),
  );
}

/** Every chain head's namespaces (only `name` when given). */
export function collectStats(meta: string, name = ''): Promise<ChainStats[]> {
  return withHeads(meta, (heads, client) => statsOf(heads, client, name));
}

/**
 * Every chain head's view of the namespace, with its counters summed over the chain's serving
 * replicas (gets and plain matches go to any of them; puts, leases and drops only to the head).
 */
export function collectNamespaceStats(meta: string, name: string): Promise<ChainStats[]> {
  return withHeads(meta, async (heads, client) => {
    const stats = await statsOf(heads, client, name);
    for (const chain of stats) {
      const stat = chain.namespaces.find((ns) => ns.name === name);
      const head = heads.find((h) => h.chainId === chain.chainId)!;
      if (stat?.counters === undefined) continue;
      for (const address of head.replicas) {
        const c = client(address);
        const request = { chainId: chain.chainId, chainVersion: head.chainVersion, name, countersOnly: true };
        const response = await callUnary(c, c.kvNamespaceStats, request, 'KvStore.KvNamespaceStats', {
          timeoutMs: KV_CALL_TIMEOUT_MS,
        }).catch(() => undefined); // a replica gone meanwhile: its counts are missing, nothing else
        const counts = response?.namespaces[0]?.counters;
        if (counts !== undefined) addCounters(stat.counters, counts);
      }
    }
    return stats;
  });
}

function addCounters(into: KvNamespaceCounters, from: KvNamespaceCounters): void {
  into.getHits += from.getHits;
  into.getMisses += from.getMisses;
  into.matchCalls += from.matchCalls;
  into.matchHitKeys += from.matchHitKeys;
  into.matchMissKeys += from.matchMissKeys;
  for (const [status, count] of Object.entries(from.putsByStatus)) {
    into.putsByStatus[status] = (into.putsByStatus[status] ?? 0) + count;
  }
  for (const [reason, count] of Object.entries(from.dropsByReason)) {
    into.dropsByReason[reason] = (into.dropsByReason[reason] ?? 0) + count;
  }
}

export interface NamespaceRow {
  name: string;
  fingerprint: string;
  /** From a head that served a request naming it since it started; null when none has. */
  config: Omit<KvNamespaceConfig, 'fingerprint'> | null;
  chains: number;
  pages: number;
  bytes: number;
  /** Sum of the capacities the heads know (capacity per target × chains). */
  capacityBytes: number;
  leasedPages: number;
}

function configOf(stat: KvNamespaceStat): NamespaceRow['config'] {
  if (stat.config === undefined) return null;
  const { fingerprint: _, ...fields } = stat.config;
  return fields;
}

export function namespaceRows(stats: ChainStats[]): NamespaceRow[] {
  const rows = new Map<string, NamespaceRow>();
  for (const chain of stats) {
    for (const ns of chain.namespaces) {
      const row = rows.get(ns.name) ?? {
        name: ns.name,
        fingerprint: ns.fingerprint,
        config: null,
        chains: 0,
        pages: 0,
        bytes: 0,
        capacityBytes: 0,
        leasedPages: 0,
      };
      row.config ??= configOf(ns);
      row.chains++;
      row.pages += ns.pages;
      row.bytes += ns.bytes;
      row.capacityBytes += ns.capacityBytes;
      row.leasedPages += ns.leasedPages;
      rows.set(ns.name, row);
    }
  }
  return [...rows.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

function configSummary(config: NamespaceRow['config']): string {
  if (config === null) return '(config not seen since the heads started)';
  const shape = `${config.pageTokens} tok/page tp ${config.tpRank}/${config.tpSize} ×${config.replicas}`;
  return `${config.modelId} ${config.kvDtype} ${config.layout} ${shape}`;
}

export function formatNamespaces(rows: NamespaceRow[]): string[] {
  if (rows.length === 0) return ['no KV-cache namespaces'];
  const table = [['NAME', 'PAGES', 'BYTES', 'CAPACITY', 'LEASED', 'CHAINS', 'CONFIG']];
  for (const r of rows) {
    table.push([
      r.name,
      String(r.pages),
      formatBytes(r.bytes),
      r.capacityBytes === 0 ? '-' : formatBytes(r.capacityBytes),
      String(r.leasedPages),
      String(r.chains),
      configSummary(r.config),
    ]);
  }
  return formatTable(table, [false, true, true, true, true, true]);
}

export interface NamespaceStat extends NamespaceRow {
  perChain: Array<{
    chainId: number;
    targetId: number;
    pages: number;
    bytes: number;
    capacityBytes: number;
    leasedPages: number;
    counters: KvNamespaceCounters | null;
  }>;
}

function unknownNamespace(name: string): CliError {
  return new CliError(`unknown KV-cache namespace ${JSON.stringify(name)}`, ExitCode.NOT_FOUND, 'ENOENT');
}

export function namespaceStat(stats: ChainStats[], name: string): NamespaceStat {
  const row = namespaceRows(stats).find((r) => r.name === name);
  if (row === undefined) throw unknownNamespace(name);
  const perChain = stats.flatMap((chain) =>
    chain.namespaces
      .filter((ns) => ns.name === name)
      .map((ns) => ({
        chainId: chain.chainId,
        targetId: chain.targetId,
        pages: ns.pages,
        bytes: ns.bytes,
        capacityBytes: ns.capacityBytes,
        leasedPages: ns.leasedPages,
        counters: ns.counters ?? null,
      })),
  );
  return { ...row, perChain };
}

export function formatStat(stat: NamespaceStat): string[] {
  const table = [['CHAIN', 'HEAD', 'PAGES', 'BYTES', 'CAPACITY', 'LEASED', 'HITS', 'MISSES', 'PUTS', 'DROPS']];
  const counts = (byName: Record<string, number> | undefined) =>
    Object.entries(byName ?? {})
      .map(([k, v]) => `${k.toLowerCase()}=${v}`)
      .join(',') || '-';
  for (const c of stat.perChain) {
    table.push([
      String(c.chainId),
      String(c.targetId),
      String(c.pages),
      formatBytes(c.bytes),
      c.capacityBytes === 0 ? '-' : formatBytes(c.capacityBytes),
      String(c.leasedPages),
      String(c.counters?.getHits ?? 0),
      String(c.counters?.getMisses ?? 0),
      counts(c.counters?.putsByStatus),
      counts(c.counters?.dropsByReason),
    ]);
  }
  return [
    `namespace ${stat.name} (fingerprint ${stat.fingerprint}): ${configSummary(stat.config)}`,
    `${stat.pages} pages, ${formatBytes(stat.bytes)} on ${stat.chains} chain(s); ${stat.leasedPages} leased`,
    ...formatTable(table, [true, true, true, true, true, true, true, true, false]),
    'counters: summed over each chain’s serving replicas, since each node started',
  ];
}

export interface EvictResult {
  name: string;
  /** null with --all. */
  requestedBytes: number | null;
  evictedPages: number;
  evictedBytes: number;
  remainingPages: number;
  remainingBytes: number;
  leasedPages: number;
  perChain: Array<{ chainId: number; evictedPages: number; evictedBytes: number }>;
}

/**
 * Evicts on every chain holding the namespace: everything unleased, or `bytes` in all shared out in
 * proportion to each chain's bytes (rounded up, so at least `bytes` leave when that much is unleased).
 */
export function evict(meta: string, name: string, bytes: number | 'all'): Promise<EvictResult> {
  return withHeads(meta, async (heads, client) => {
    const stats = await statsOf(heads, client, name);
    const holding = stats.flatMap((s) => s.namespaces.filter((ns) => ns.name === name).map((ns) => ({ s, ns })));
    if (holding.length === 0) throw unknownNamespace(name);
    const totalBytes = holding.reduce((sum, h) => sum + h.ns.bytes, 0);
    const result: EvictResult = {
      name,
      requestedBytes: bytes === 'all' ? null : bytes,
      evictedPages: 0,
      evictedBytes: 0,
      remainingPages: 0,
      remainingBytes: 0,
      leasedPages: 0,
      perChain: [],
    };
    for (const { s, ns } of holding) {
      const head = heads.find((h) => h.chainId === s.chainId)!;
      const share = bytes === 'all' ? 0 : Math.ceil((bytes * ns.bytes) / Math.max(1, totalBytes));
      if (bytes !== 'all' && share === 0) continue;
      const c = client(head.address);
      const request = {
        chainId: head.chainId,
        chainVersion: head.chainVersion,
        name,
        bytes: share,
        all: bytes === 'all',
      };
      const response = await callUnary(c, c.kvEvict, request, 'KvStore.KvEvict', { timeoutMs: KV_CALL_TIMEOUT_MS });
      result.evictedPages += response.evictedPages;
      result.evictedBytes += response.evictedBytes;
      result.remainingPages += response.remainingPages;
      result.remainingBytes += response.remainingBytes;
      result.leasedPages += response.leasedPages;
      result.perChain.push({
        chainId: head.chainId,
        evictedPages: response.evictedPages,
        evictedBytes: response.evictedBytes,
      });
    }
    return result;
  });
}

export function formatEvict(r: EvictResult): string[] {
  return [
    `evicted ${r.evictedPages} pages (${formatBytes(r.evictedBytes)}) of ${r.name} on ${r.perChain.length} chain(s); ` +
      `${r.remainingPages} pages (${formatBytes(r.remainingBytes)}) left, ${r.leasedPages} leased`,
  ];
}

export interface RemoveResult {
  name: string;
  removedPages: number;
  removedBytes: number;
  chains: number;
}

/**
 * Removes the namespace on every chain. Without `force` every chain is checked for leased pages
 * first, so a refusal changes nothing (a lease taken between the check and a chain's removal is
 * still refused by that chain's head).
 */
export function remove(meta: string, name: string, force: boolean): Promise<RemoveResult> {
  return withHeads(meta, async (heads, client) => {
    const stats = await statsOf(heads, client, name);
    const holding = stats.filter((s) => s.namespaces.some((ns) => ns.name === name));
    if (holding.length === 0) throw unknownNamespace(name);
    const leased = holding
      .map((s) => ({ chainId: s.chainId, leased: s.namespaces.find((ns) => ns.name === name)!.leasedPages }))
      .filter((l) => l.leased > 0);
    if (!force && leased.length > 0) {
      const where = leased.map((l) => `${l.leased} on chain ${l.chainId}`).join(', ');
      throw new CliError(
        `KV-cache namespace ${JSON.stringify(name)} has leased pages (${where}); nothing removed. ` +
          'Wait for the leases to end, or use --force to break them',
        ExitCode.FAILURE,
        'EBUSY',
      );
    }
    const result: RemoveResult = { name, removedPages: 0, removedBytes: 0, chains: 0 };
    for (const s of holding) {
      const head = heads.find((h) => h.chainId === s.chainId)!;
      const c = client(head.address);
      const request = { chainId: head.chainId, chainVersion: head.chainVersion, name, force, forgetOnReplica: false };
      const response = await callUnary(c, c.kvRemoveNamespace, request, 'KvStore.KvRemoveNamespace', {
        timeoutMs: KV_CALL_TIMEOUT_MS,
      }).catch((err: unknown) => {
        // Gone from this chain meanwhile (an earlier attempt of this command): nothing to remove.
        if (asSpindleError(err).errorCode === ErrorCode.NOT_FOUND) return { removedPages: 0, removedBytes: 0 };
        throw err;
      });
      result.removedPages += response.removedPages;
      result.removedBytes += response.removedBytes;
      result.chains++;
    }
    // Every target forgets the namespace's config (one with no page of it left), so the name can
    // be created again with another config. Best effort: a target that misses this refuses such a
    // writer until its chain changes or `kv rm` runs again; the pages are gone either way.
    for (const head of heads) {
      for (const address of [head.address, ...head.replicas]) {
        const c = client(address);
        const request = { chainId: head.chainId, chainVersion: head.chainVersion, name, force, forgetOnReplica: true };
        await callUnary(c, c.kvRemoveNamespace, request, 'KvStore.KvRemoveNamespace', {
          timeoutMs: KV_CALL_TIMEOUT_MS,
        }).catch(() => undefined);
      }
    }
    return result;
  });
}

export function formatRemove(r: RemoveResult): string[] {
  return [`removed ${r.name}: ${r.removedPages} pages (${formatBytes(r.removedBytes)}) on ${r.chains} chain(s)`];
}
