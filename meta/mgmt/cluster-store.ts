// Persistence of the cluster manager's state in the KvEngine: nodes (NODE), targets (TARG), chains
// (CHAN), every version of every chain table (CHTB), the credential each node is bound to (NCRD,
// node-identity.ts), the routing version and the next node id (ROUT). Records are the protobuf
// messages of proto/mgmt.proto, so the stored form is as stable as the wire contract.
//
// Guarantees: `loadClusterState` returns the whole state as one consistent snapshot (one read
// transaction); `ClusterDraft` collects the writes of one change, and `commitDraft` writes them
// atomically together with the bumped routing version, refusing (STATE_CHANGED) when the stored
// version is not the one the change was computed from, so two managers can never interleave.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { KeyPrefix, encodeKey, prefixEnd, type KeyPrefixValue } from '../../common/keys.js';
import { ChainInfo, ChainTable, NodeInfo, TargetInfo } from '../../proto/index.js';
import type { KvEngine, KvTxn } from '../kv/engine.js';
import { ROUTING_VERSION_INITIAL } from './constants.js';
import type { ManagerRole } from './manager-role.js';

/** A registered storage node as stored (runtime liveness lives in memory, not here). */
export interface NodeRecord {
  readonly nodeId: number;
  readonly address: string;
  readonly hostname: string;
  /** host:port of the node's bulk listener; '' when it has none. */
  readonly bulkAddress: string;
}

/** A target as stored. */
export interface TargetRecord {
  readonly targetId: number;
  readonly nodeId: number;
  /** 0 while not in a chain. */
  readonly chainId: number;
  readonly path: string;
  readonly publicState: TargetInfo['publicState'];
}

export interface ChainRecord {
  readonly chainId: number;
  readonly chainVersion: number;
  /** Head first. */
  readonly targetIds: readonly number[];
}

export interface ChainTableRecord {
  readonly tableId: number;
  readonly version: number;
  readonly chainIds: readonly number[];
}

/** Everything the manager persists. Records are immutable; a change replaces them. */
export interface ClusterState {
  readonly routingVersion: number;
  readonly nextNodeId: number;
  readonly nodes: ReadonlyMap<number, NodeRecord>;
  readonly targets: ReadonlyMap<number, TargetRecord>;
  readonly chains: ReadonlyMap<number, ChainRecord>;
  /** Table id → its versions, ascending. */
  readonly chainTables: ReadonlyMap<number, readonly ChainTableRecord[]>;
  /** Node id → the credential it is bound to (node-identity.ts); absent: not bound yet. */
  readonly nodeCredentials: ReadonlyMap<number, string>;
}

const ROUTING_VERSION_KEY = encodeKey(KeyPrefix.ROUTING, 'version');
const NEXT_NODE_ID_KEY = encodeKey(KeyPrefix.ROUTING, 'next-node-id');

const nodeKey = (nodeId: number) => encodeKey(KeyPrefix.NODE, nodeId);
const targetKey = (targetId: number) => encodeKey(KeyPrefix.TARGET, targetId);
const chainKey = (chainId: number) => encodeKey(KeyPrefix.CHAIN, chainId);
const chainTableKey = (tableId: number, version: number) => encodeKey(KeyPrefix.CHAIN_TABLE, tableId, version);
const nodeCredentialKey = (nodeId: number) => encodeKey(KeyPrefix.NODE_CREDENTIAL, nodeId);

function encodeU64(value: number): Uint8Array {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

function decodeU64(bytes: Uint8Array | undefined, what: string): number | undefined {
  if (bytes === undefined) return undefined;
  if (bytes.length !== 8)
    throw new SpindleError(
      ErrorCode.INTERNAL,
      `stored ${what} has ${bytes.length} bytes, expected 8: the meta store is damaged`,
    );
  return Number(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigUInt64BE(0));
}

async function scan(txn: KvTxn, prefix: KeyPrefixValue): Promise<Uint8Array[]> {
  return (await scanPairs(txn, prefix)).map((pair) => pair.value);
}

async function scanPairs(txn: KvTxn, prefix: KeyPrefixValue): Promise<Array<{ key: Uint8Array; value: Uint8Array }>> {
  const start = encodeKey(prefix);
  return txn.getRange(start, prefixEnd(start));
}

/** NCRD ‖ node id (8 bytes) → credential (UTF-8). */
async function loadNodeCredentials(txn: KvTxn): Promise<Map<number, string>> {
  const credentials = new Map<number, string>();
  for (const { key, value } of await scanPairs(txn, KeyPrefix.NODE_CREDENTIAL)) {
    const nodeId = decodeU64(key.subarray(key.length - 8), 'node credential key');
    credentials.set(nodeId!, Buffer.from(value).toString('utf8'));
  }
  return credentials;
}

/** Reads the whole state; a store never written yet gives the empty state at the initial version. */
export async function loadClusterState(kv: KvEngine): Promise<ClusterState> {
  return kv.transaction(
    async (txn) => {
      const routingVersion = decodeU64(await txn.get(ROUTING_VERSION_KEY), 'routing version') ?? 0;
      const nextNodeId = decodeU64(await txn.get(NEXT_NODE_ID_KEY), 'next node id') ?? 1;
      const nodes = new Map<number, NodeRecord>();
      for (const value of await scan(txn, KeyPrefix.NODE)) {
        const node = NodeInfo.decode(value);
        nodes.set(node.nodeId, {
          nodeId: node.nodeId,
          address: node.address,
          hostname: node.hostname,
          bulkAddress: node.bulkAddress ?? '',
        });
      }
      const targets = new Map<number, TargetRecord>();
      for (const value of await scan(txn, KeyPrefix.TARGET)) {
        const target = TargetInfo.decode(value);
        targets.set(target.targetId, {
          targetId: target.targetId,
          nodeId: target.nodeId,
          chainId: target.chainId,
          path: target.path,
          publicState: target.publicState,
        });
      }
      const chains = new Map<number, ChainRecord>();
      for (const value of await scan(txn, KeyPrefix.CHAIN)) {
        const chain = ChainInfo.decode(value);
        chains.set(chain.chainId, {
          chainId: chain.chainId,
          chainVersion: chain.chainVersion,
          targetIds: chain.targetIds,
        });
      }
      const chainTables = new Map<number, ChainTableRecord[]>();
      for (const value of await scan(txn, KeyPrefix.CHAIN_TABLE)) {
        // Keys sort by (table id, version), so versions arrive ascending.
        const table = ChainTable.decode(value);
        const versions = chainTables.get(table.tableId) ?? [];
        versions.push({ tableId: table.tableId, version: table.version, chainIds: table.chainIds });
        chainTables.set(table.tableId, versions);
      }
      const nodeCredentials = await loadNodeCredentials(txn);
      return { routingVersion, nextNodeId, nodes, targets, chains, chainTables, nodeCredentials };
    },
    { readOnly: true },
  );
}

/** Writes the initial routing version of a fresh store (no-op when one exists). */
export async function initClusterStore(kv: KvEngine): Promise<void> {
  await kv.transaction(async (txn) => {
    if ((await txn.get(ROUTING_VERSION_KEY)) === undefined)
      txn.put(ROUTING_VERSION_KEY, encodeU64(ROUTING_VERSION_INITIAL));
  });
}

/**
 * One change of the state, built on a copy: reads see the change so far, writes are recorded.
 * Nothing is stored until `commitDraft`; a validation error thrown while building leaves both the
 * store and the manager's state untouched.
 */
export class ClusterDraft implements ClusterState {
  readonly routingVersion: number;
  nextNodeId: number;
  readonly nodes: Map<number, NodeRecord>;
  readonly targets: Map<number, TargetRecord>;
  readonly chains: Map<number, ChainRecord>;
  readonly chainTables: Map<number, ChainTableRecord[]>;
  readonly nodeCredentials: Map<number, string>;
  private readonly writes = new Map<string, { key: Uint8Array; value: Uint8Array }>();

  constructor(readonly base: ClusterState) {
    this.routingVersion = base.routingVersion + 1;
    this.nextNodeId = base.nextNodeId;
    this.nodes = new Map(base.nodes);
    this.targets = new Map(base.targets);
    this.chains = new Map(base.chains);
    this.chainTables = new Map([...base.chainTables].map(([id, versions]) => [id, [...versions]]));
    this.nodeCredentials = new Map(base.nodeCredentials);
  }

  private record(key: Uint8Array, value: Uint8Array): void {
    this.writes.set(Buffer.from(key).toString('hex'), { key, value });
  }

  putNode(node: NodeRecord): void {
    this.nodes.set(node.nodeId, node);
    this.record(nodeKey(node.nodeId), NodeInfo.encode(NodeInfo.fromPartial(node)).finish());
  }

  allocateNodeId(): number {
    const nodeId = this.nextNodeId++;
    this.record(NEXT_NODE_ID_KEY, encodeU64(this.nextNodeId));
    return nodeId;
  }

  /** A node created under the id its credential names: later allocations start past it. */
  claimNodeId(nodeId: number): void {
    if (nodeId < this.nextNodeId) return;
    this.nextNodeId = nodeId + 1;
    this.record(NEXT_NODE_ID_KEY, encodeU64(this.nextNodeId));
  }

  /** Binds a node id to the credential that registered it (node-identity.ts). */
  bindNodeCredential(nodeId: number, credential: string): void {
    this.nodeCredentials.set(nodeId, credential);
    this.record(nodeCredentialKey(nodeId), Buffer.from(credential, 'utf8'));
  }

  putTarget(target: TargetRecord): void {
    this.targets.set(target.targetId, target);
    this.record(targetKey(target.targetId), TargetInfo.encode(TargetInfo.fromPartial(target)).finish());
  }

  putChain(chain: ChainRecord): void {
    this.chains.set(chain.chainId, chain);
    this.record(
      chainKey(chain.chainId),
      ChainInfo.encode(ChainInfo.fromPartial({ ...chain, targetIds: [...chain.targetIds] })).finish(),
    );
  }

  addChainTable(table: ChainTableRecord): void {
    const versions = this.chainTables.get(table.tableId) ?? [];
    const latest = versions.at(-1);
    if (latest !== undefined && latest.version >= table.version) {
      throw new SpindleError(
        ErrorCode.INTERNAL,
        `chain table ${table.tableId} version ${table.version} is not newer than ${latest.version}`,
      );
    }
    versions.push(table);
    this.chainTables.set(table.tableId, versions);
    this.record(
      chainTableKey(table.tableId, table.version),
      ChainTable.encode(ChainTable.fromPartial({ ...table, chainIds: [...table.chainIds] })).finish(),
    );
  }

  /** The state after the change (the draft itself, frozen by convention). */
  result(): ClusterState {
    return this;
  }

  /** Number of records written by this change. */
  get writeCount(): number {
    return this.writes.size;
  }

  /** The recorded writes (for commitDraft). */
  entries(): Iterable<{ key: Uint8Array; value: Uint8Array }> {
    return this.writes.values();
  }
}

/** Raised when the stored routing version is not the one a draft was computed from. */
export class StateChangedError extends SpindleError {
  constructor(expected: number, found: number | undefined) {
    super(
      ErrorCode.TXN_CONFLICT,
      `cluster state changed underneath the manager (routing version ${found ?? 'missing'}, expected ${expected})`,
    );
  }
}

/**
 * Stores a draft and the bumped routing version in one transaction (see the file comment), first
 * checking in the same transaction that this process still holds the manager role when one is given.
 */
export async function commitDraft(kv: KvEngine, draft: ClusterDraft, role?: Pick<ManagerRole, 'fence'>): Promise<void> {
  await kv.transaction(async (txn) => {
    await role?.fence(txn);
    const stored = decodeU64(await txn.get(ROUTING_VERSION_KEY), 'routing version');
    if (stored !== draft.base.routingVersion) throw new StateChangedError(draft.base.routingVersion, stored);
    for (const { key, value } of draft.entries()) txn.put(key, value);
    txn.put(ROUTING_VERSION_KEY, encodeU64(draft.routingVersion));
  });
}
