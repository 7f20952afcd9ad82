// Reading the cluster manager's routing (fetchRouting: `spindle admin`'s listings, the bench, the
// test harness) and waiting for a cluster to be writable: the manager has published chain table 1
// and each of its chains has all its replicas (what a client needs before its first write).
//
// Guarantees: fetchRouting resolves with a snapshot or rejects with a SpindleError, and keeps its
// process alive while it waits (a CLI has nothing else pending). waitForChainTable resolves with
// the routing that showed the complete table, or rejects with a SpindleError — CANCELLED when the
// caller aborted, TIMEOUT with the last error seen and what to look at otherwise. A manager that is
// not reachable yet is polled again, not fatal.
import { ErrorCode, SpindleError } from '../common/errors.js';
import { parseAddressList } from '../common/failover-clients.js';
import { channelOptionsWithToken } from '../common/auth/client-auth.js';
import { resolveToken } from '../common/auth/token-source.js';
import { callUnary, channelCredentials } from '../common/rpc.js';
import { MgmtClient, type RoutingInfo } from '../proto/index.js';

/** How long `up` waits for the manager to publish a complete chain table. */
const CHAIN_TABLE_TIMEOUT_MS = 60_000;
/** Pause between two looks at the manager's routing. */
const POLL_INTERVAL_MS = 100;

/**
 * Fetches the manager's routing snapshot once (Mgmt.GetRoutingInfo), within `timeoutMs` per
 * address. `metaAddress` may list several meta processes (a:p,b:q): they are asked in turn until
 * one answers (a standby refuses; the one holding the cluster-manager role answers). `token`:
 * default, the one found for this address (common/auth/token-source.ts).
 */
export async function fetchRouting(
  metaAddress: string,
  timeoutMs = 5_000,
  token = resolveToken({ metaAddress }),
): Promise<RoutingInfo> {
  const addresses = parseAddressList(metaAddress);
  let lastError: unknown;
  for (const address of addresses) {
    try {
      return await fetchRoutingFrom(address, timeoutMs, token);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function fetchRoutingFrom(
  metaAddress: string,
  timeoutMs: number,
  token: string | undefined,
): Promise<RoutingInfo> {
  const client = new MgmtClient(metaAddress, channelCredentials(), channelOptionsWithToken(token));
  // The gRPC channel's timers do not hold the process open while it waits for an answer.
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    const response = await callUnary(client, client.getRoutingInfo, { knownVersion: 0 }, 'mgmt.GetRoutingInfo', {
      timeoutMs,
    });
    if (response.routing === undefined) {
      throw new SpindleError(
        ErrorCode.ROUTING_NOT_READY,
        `the cluster manager at ${metaAddress} answered without a routing snapshot (version ${response.version})`,
      );
    }
    return response.routing;
  } finally {
    clearInterval(keepAlive);
    client.close();
  }
}

/** True when chain table `tableId` exists and each of its chains has `replicas` serving targets. */
export function chainTableComplete(routing: RoutingInfo, replicas: number, tableId = 1): boolean {
  const tables = routing.chainTables.filter((t) => t.tableId === tableId);
  if (tables.length === 0) return false;
  const latest = tables.reduce((a, b) => (b.version > a.version ? b : a));
  if (latest.chainIds.length === 0) return false;
  const chains = new Map(routing.chains.map((c) => [c.chainId, c]));
  return latest.chainIds.every((id) => (chains.get(id)?.targetIds.length ?? 0) >= replicas);
}

/** Polls the manager until chain table 1 is complete. */
export async function waitForChainTable(
  metaAddress: string,
  replicas: number,
  options: { timeoutMs?: number; signal?: AbortSignal; token?: string } = {},
): Promise<RoutingInfo> {
  const timeoutMs = options.timeoutMs ?? CHAIN_TABLE_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (options.signal?.aborted) {
      throw new SpindleError(ErrorCode.CANCELLED, `cancelled while waiting for the chain table of ${metaAddress}`);
    }
    try {
      const routing = await fetchRouting(metaAddress, undefined, options.token);
      if (chainTableComplete(routing, replicas)) return routing;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new SpindleError(
        ErrorCode.TIMEOUT,
        `the cluster manager at ${metaAddress} did not publish a complete chain table within ${timeoutMs} ms${why}; ` +
          `check that enough storage nodes registered for ${replicas} replicas (\`spindle admin nodes\`) ` +
          'and look at their logs',
      );
    }
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS).unref());
  }
}
