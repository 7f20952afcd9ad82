// What `spindle admin …` shows and does, loaded only when an admin command runs (it needs gRPC):
// the listings are views of one RoutingInfo snapshot from the cluster manager (Mgmt, in the meta
// process), `offline-target` is Mgmt.OfflineTarget. Tables for people; --json rows with numbers as
// numbers and states as their names.
import { randomUUID } from 'node:crypto';
import { fetchRouting } from '../cluster/chain-table.js';
import { parseAddressList } from '../common/failover-clients.js';
import { isRetryableError } from '../common/retry.js';
import { callUnary, channelCredentials } from '../common/rpc.js';
import { adminChannelOptions, adminToken } from './credentials.js';
import {
  type ChainInfo,
  type ChainTable,
  LocalTargetState,
  MgmtClient,
  PublicTargetState,
  type RoutingInfo,
  type TargetInfo,
} from '../proto/index.js';
import { formatBytes, formatTable } from './format.js';

/** Deadline of one admin call to the manager. */
const ADMIN_CALL_TIMEOUT_MS = 10_000;

const publicName = (state: PublicTargetState) => (PublicTargetState[state] ?? String(state)).toLowerCase();
const localName = (state: LocalTargetState) =>
  state === LocalTargetState.LOCAL_OFFLINE
    ? 'offline'
    : state === LocalTargetState.LOCAL_TARGET_STATE_INVALID
      ? '-'
      : (LocalTargetState[state] ?? String(state)).toLowerCase();

export interface NodeRow {
  nodeId: number;
  address: string;
  hostname: string;
  alive: boolean;
  /** Milliseconds since its last heartbeat (null: none since the manager started). */
  lastHeartbeatAgoMs: number | null;
  targets: number;
}

export interface TargetRow {
  targetId: number;
  nodeId: number;
  chainId: number;
  /** 1-based place in its chain (1 = head), 0 when in no chain. */
  position: number;
  publicState: string;
  localState: string;
  usedBytes: number;
  /** The resync into this target as its predecessor last reported it. */
  resync: {
    fromTargetId: number;
    chunksScanned: number;
    chunksCopied: number;
    chunksRemoved: number;
    bytesCopied: number;
    done: boolean;
  } | null;
}

export interface ChainRow {
  chainId: number;
  chainVersion: number;
  /** Targets head first, each with its public state. */
  targets: Array<{ targetId: number; publicState: string }>;
}

export function nodeRows(routing: RoutingInfo, nowUs: number): NodeRow[] {
  return routing.nodes.map((node) => ({
    nodeId: node.nodeId,
    address: node.address,
    hostname: node.hostname,
    alive: node.alive,
    lastHeartbeatAgoMs:
      node.lastHeartbeatUs === 0 ? null : Math.max(0, Math.round((nowUs - node.lastHeartbeatUs) / 1000)),
    targets: routing.targets.filter((t) => t.nodeId === node.nodeId).length,
  }));
}

function resyncOf(target: TargetInfo): TargetRow['resync'] {
  const r = target.resync;
  if (r === undefined) return null;
  return {
    fromTargetId: r.fromTargetId,
    chunksScanned: r.chunksScanned,
    chunksCopied: r.chunksCopied,
    chunksRemoved: r.chunksRemoved,
    bytesCopied: r.bytesCopied,
    done: r.done,
  };
}

export function targetRows(routing: RoutingInfo): TargetRow[] {
  const chains = new Map(routing.chains.map((c) => [c.chainId, c]));
  return routing.targets.map((target) => ({
    targetId: target.targetId,
    nodeId: target.nodeId,
    chainId: target.chainId,
    position: (chains.get(target.chainId)?.targetIds.indexOf(target.targetId) ?? -1) + 1,
    publicState: publicName(target.publicState),
    localState: localName(target.localState),
    usedBytes: target.usedBytes,
    resync: resyncOf(target),
  }));
}

export function chainRows(routing: RoutingInfo): ChainRow[] {
  const states = new Map(routing.targets.map((t) => [t.targetId, t.publicState]));
  return routing.chains.map((chain) => ({
    chainId: chain.chainId,
    chainVersion: chain.chainVersion,
    targets: chain.targetIds.map((targetId) => ({
      targetId,
      publicState: publicName(states.get(targetId) ?? PublicTargetState.OFFLINE),
    })),
  }));
}

export function formatNodes(rows: NodeRow[], routingVersion: number): string[] {
  const table = [['NODE', 'ADDRESS', 'ALIVE', 'LAST HEARTBEAT', 'TARGETS', 'HOST']];
  for (const r of rows) {
    table.push([
      String(r.nodeId),
      r.address,
      r.alive ? 'yes' : 'NO',
      r.lastHeartbeatAgoMs === null ? '-' : `${r.lastHeartbeatAgoMs} ms ago`,
      String(r.targets),
      r.hostname,
    ]);
  }
  return [...formatTable(table, [true, false, false, true, true]), `routing version ${routingVersion}`];
}

export function formatResync(r: TargetRow['resync']): string {
  if (r === null) return '-';
  const what =
    `from ${r.fromTargetId}: ${r.chunksCopied} copied, ${r.chunksRemoved} removed of ${r.chunksScanned} scanned, ` +
    formatBytes(r.bytesCopied);
  return r.done ? `done (${what})` : `running (${what})`;
}

export function formatTargets(rows: TargetRow[], routingVersion: number): string[] {
  const table = [['TARGET', 'NODE', 'CHAIN', 'POS', 'STATE', 'LOCAL', 'USED', 'RESYNC']];
  for (const r of rows) {
    table.push([
      String(r.targetId),
      String(r.nodeId),
      r.chainId === 0 ? '-' : String(r.chainId),
      r.position === 0 ? '-' : String(r.position),
      r.publicState,
      r.localState,
      formatBytes(r.usedBytes),
      formatResync(r.resync),
    ]);
  }
  return [...formatTable(table, [true, true, true, true, false, false, true]), `routing version ${routingVersion}`];
}

export function formatChains(rows: ChainRow[], routingVersion: number): string[] {
  const table = [['CHAIN', 'VERSION', 'TARGETS (head first)']];
  for (const r of rows)
    table.push([
      String(r.chainId),
      String(r.chainVersion),
      r.targets.map((t) => `${t.targetId}(${t.publicState})`).join(' → '),
    ]);
  return [...formatTable(table, [true, true]), `routing version ${routingVersion}`];
}

/** The manager's routing snapshot, which every listing shows (cluster's fetchRouting, admin deadline). */
export function routingSnapshot(meta: string): Promise<RoutingInfo> {
  return fetchRouting(meta, ADMIN_CALL_TIMEOUT_MS, adminToken(meta));
}

/**
 * Runs `fn` against the Mgmt service of `meta`; a comma-separated list is tried in turn while the
 * failure is retryable (a meta that is down, or a standby without the cluster-manager role).
 */
async function withMgmt<T>(meta: string, fn: (client: MgmtClient) => Promise<T>): Promise<T> {
  const addresses = parseAddressList(meta);
  for (let index = 0; ; index++) {
    const client = new MgmtClient(addresses[index]!, channelCredentials(), adminChannelOptions(meta));
    // The gRPC channel's timers do not hold the process open while it waits for an answer.
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      return await fn(client);
    } catch (err) {
      if (index + 1 >= addresses.length || !isRetryableError(err)) throw err;
    } finally {
      clearInterval(keepAlive);
      client.close();
    }
  }
}

/** Takes a target out of its chain (Mgmt.OfflineTarget); returns the chain after the change. */
export async function offlineTarget(meta: string, targetId: number): Promise<ChainInfo> {
  const response = await withMgmt(meta, (client) =>
    callUnary(
      client,
      client.offlineTarget,
      { tag: { clientId: `admin-${randomUUID()}`, requestId: 1 }, targetId },
      'mgmt.OfflineTarget',
      { timeoutMs: ADMIN_CALL_TIMEOUT_MS },
    ),
  );
  return response.chain!;
}

/**
 * Builds chains over the targets no chain uses yet (storage nodes added since) and appends them
 * to chain table 1 as its next version (Mgmt.CreateChainTable). New files spread over the new
 * version; existing files keep the version they were created with (no rebalancing).
 */
export async function createChains(meta: string, replicas: number): Promise<ChainTable> {
  const response = await withMgmt(meta, (client) =>
    callUnary(
      client,
      client.createChainTable,
      { tag: { clientId: `admin-${randomUUID()}`, requestId: 1 }, replicas },
      'mgmt.CreateChainTable',
      { timeoutMs: ADMIN_CALL_TIMEOUT_MS },
    ),
  );
  return response.table!;
}
