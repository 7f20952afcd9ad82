// `spindle admin nodes|targets|chains [--json]` and `spindle admin offline-target TARGET_ID`
// (issue 3; 3FS admin_cli list-nodes / list-targets / list-chains / offline-target). They talk to
// the cluster manager (Mgmt, in the meta process) directly: the listings are views of one
// RoutingInfo snapshot, `offline-target` is Mgmt.OfflineTarget. Tables go to stdout; --json prints
// one JSON array instead (numbers as numbers, states as their names).
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CHANNEL_OPTIONS, callUnary, insecureChannel } from '../common/rpc.js';
import { LocalTargetState, MgmtClient, PublicTargetState, type RoutingInfo, type TargetInfo } from '../proto/index.js';
import { formatBytes, formatTable } from './format.js';

/** Deadline of one admin call to the manager. */
const ADMIN_CALL_TIMEOUT_MS = 10_000;
/** Where admin commands find the cluster when neither --meta nor SPINDLE_META says. */
const DEFAULT_META_ADDRESS = '127.0.0.1:7400';

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

function targetIdArgument(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > 0xffff_ffff) {
    throw new InvalidArgumentError('TARGET_ID must be a target id (a positive integer, see `spindle admin targets`)');
  }
  return n;
}

function addressOption(value: string): string {
  if (!/^[^\s:]+:\d{1,5}$/.test(value) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(value)) {
    throw new InvalidArgumentError('expected host:port, e.g. 127.0.0.1:7400');
  }
  return value;
}

async function withMgmt<T>(meta: string, fn: (client: MgmtClient) => Promise<T>): Promise<T> {
  const client = new MgmtClient(meta, insecureChannel(), CHANNEL_OPTIONS);
  // The gRPC channel's timers do not hold the process open while it waits for an answer.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    return await fn(client);
  } finally {
    clearInterval(keepAlive);
    client.close();
  }
}

async function fetchRouting(client: MgmtClient): Promise<RoutingInfo> {
  const response = await callUnary(client, client.getRoutingInfo, { knownVersion: 0 }, 'mgmt.GetRoutingInfo', {
    timeoutMs: ADMIN_CALL_TIMEOUT_MS,
  });
  return response.routing!;
}

interface RunState {
  exitCode: number;
}

type ReportError = (state: RunState, err: unknown, meta?: string) => void;

/** Registers `spindle admin …` on the program. */
export function addAdminCommands(program: Command, state: RunState, reportError: ReportError): void {
  const metaOption = () =>
    new Option('--meta <host:port>', 'cluster manager (meta) of the cluster')
      .env('SPINDLE_META')
      .default(DEFAULT_META_ADDRESS)
      .argParser(addressOption);
  const admin = program
    .command('admin')
    .description('cluster administration: list nodes, targets and chains; take a target out');
  const print = (lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);
  const listing = (name: string, description: string, render: (routing: RoutingInfo, json: boolean) => string[]) =>
    admin
      .command(name)
      .description(description)
      .option('--json', 'print one JSON array')
      .addOption(metaOption())
      .action(async (o: { json?: boolean; meta: string }) => {
        try {
          const routing = await withMgmt(o.meta, fetchRouting);
          print(render(routing, o.json === true));
        } catch (err) {
          reportError(state, err, o.meta);
        }
      });

  listing('nodes', 'storage nodes: address, alive, last heartbeat', (routing, json) => {
    const rows = nodeRows(routing, Date.now() * 1000);
    return json ? [JSON.stringify(rows)] : formatNodes(rows, routing.version);
  });
  listing(
    'targets',
    'targets: chain and place in it, public and local state, used bytes, resync progress',
    (routing, json) => {
      const rows = targetRows(routing);
      return json ? [JSON.stringify(rows)] : formatTargets(rows, routing.version);
    },
  );
  listing('chains', 'chains: version and targets head first with their states', (routing, json) => {
    const rows = chainRows(routing);
    return json ? [JSON.stringify(rows)] : formatChains(rows, routing.version);
  });

  admin
    .command('offline-target')
    .description(
      'take a target out of its chain (it goes offline at the chain end; a live node brings it back through a resync)',
    )
    .argument('<target-id>', 'target id (see `spindle admin targets`)', targetIdArgument)
    .option('--json', 'print the chain after the change as JSON')
    .addOption(metaOption())
    .action(async (targetId: number, o: { json?: boolean; meta: string }) => {
      try {
        const response = await withMgmt(o.meta, (client) =>
          callUnary(
            client,
            client.offlineTarget,
            { tag: { clientId: `admin-${randomUUID()}`, requestId: 1 }, targetId },
            'mgmt.OfflineTarget',
            {
              timeoutMs: ADMIN_CALL_TIMEOUT_MS,
            },
          ),
        );
        const chain = response.chain!;
        print(
          o.json === true
            ? [JSON.stringify({ chainId: chain.chainId, chainVersion: chain.chainVersion, targetIds: chain.targetIds })]
            : [
                `target ${targetId} is offline; chain ${chain.chainId} is now version ${chain.chainVersion}: ` +
                  chain.targetIds.join(' → '),
              ],
        );
      } catch (err) {
        reportError(state, err, o.meta);
      }
    });
}
