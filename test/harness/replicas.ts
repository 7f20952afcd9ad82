// Direct looks at storage replicas for tests: the routing snapshot from the manager, and for a
// file every chunk's metadata and committed bytes on every replica of its chain, fetched with
// Storage.DumpChunkMeta and Storage.BatchRead straight from each storage node (bypassing the
// client library, so a client bug cannot hide a replica mismatch).
import { channelOptionsWithToken } from '../../common/auth/client-auth.js';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { adminTokenFor } from './cluster.js';
import { fetchRouting } from '../../cluster/index.js';
import { StorageClient, type ChainInfo, type ChunkMeta, type RoutingInfo } from '../../proto/index.js';

export interface ReplicaChunk {
  chainId: number;
  targetId: number;
  nodeId: number;
  address: string;
  meta: ChunkMeta;
}

/** A pool of StorageClients by address; close() closes them all. */
export class StorageClients {
  private readonly clients = new Map<string, StorageClient>();
  get(address: string): StorageClient {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new StorageClient(address, insecureChannel(), channelOptionsWithToken(adminTokenFor(address)));
      this.clients.set(address, client);
    }
    return client;
  }
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

export async function routingOf(metaAddress: string): Promise<RoutingInfo> {
  const routing = await fetchRouting(metaAddress);
  if (routing === undefined) throw new Error('manager returned no routing');
  return routing;
}

/** host:port of the node hosting `targetId`. */
export function addressOfTarget(routing: RoutingInfo, targetId: number): { nodeId: number; address: string } {
  const target = routing.targets.find((t) => t.targetId === targetId);
  if (target === undefined) throw new Error(`target ${targetId} not in routing`);
  const node = routing.nodes.find((n) => n.nodeId === target.nodeId);
  if (node === undefined) throw new Error(`node ${target.nodeId} not in routing`);
  return { nodeId: node.nodeId, address: node.address };
}

/** Chains of the latest version of chain table `tableId`. */
export function tableChains(routing: RoutingInfo, tableId = 1): ChainInfo[] {
  const tables = routing.chainTables.filter((t) => t.tableId === tableId);
  const latest = tables.reduce((a, b) => (b.version > a.version ? b : a));
  return latest.chainIds.map((id) => routing.chains.find((c) => c.chainId === id)!);
}

/** Every chunk of file `ino` on every replica of every chain of the table, paged. */
export async function dumpFileChunks(
  clients: StorageClients,
  routing: RoutingInfo,
  ino: number,
): Promise<ReplicaChunk[]> {
  const rows: ReplicaChunk[] = [];
  for (const chain of tableChains(routing)) {
    for (const targetId of chain.targetIds) {
      const { nodeId, address } = addressOfTarget(routing, targetId);
      const client = clients.get(address);
      let after: { ino: number; index: number } | undefined;
      for (;;) {
        const response = await callUnary(
          client,
          client.dumpChunkMeta,
          { chainId: chain.chainId, chainVersion: 0, after, limit: 1024, ino },
          'storage.DumpChunkMeta',
          { timeoutMs: 30_000 },
        );
        for (const meta of response.chunks) rows.push({ chainId: chain.chainId, targetId, nodeId, address, meta });
        if (!response.hasMore || response.chunks.length === 0) break;
        after = response.chunks[response.chunks.length - 1]!.chunk;
      }
    }
  }
  return rows;
}

/** Bytes a storage node answers per BatchRead call in the test preset (it refuses more). */
const READ_PIECE_BYTES = 256 * 1024;

/** The committed bytes of one chunk as one replica (node) serves them (read in pieces). */
export async function readChunkFrom(
  clients: StorageClients,
  address: string,
  chain: ChainInfo,
  chunk: { ino: number; index: number },
  length: number,
): Promise<Buffer> {
  const client = clients.get(address);
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < length; offset += READ_PIECE_BYTES) {
    const want = Math.min(READ_PIECE_BYTES, length - offset);
    const response = await callUnary(
      client,
      client.batchRead,
      { ios: [{ chainId: chain.chainId, chainVersion: chain.chainVersion, chunk, offset, length: want }] },
      'storage.BatchRead',
      { timeoutMs: 30_000 },
    );
    const result = response.results[0];
    if (result === undefined) throw new Error('BatchRead returned no result');
    if (result.status !== undefined && result.status.code !== 0) {
      throw new Error(
        `BatchRead of ${chunk.ino}/${chunk.index} on ${address}: code ${result.status.code} ${result.status.message}`,
      );
    }
    pieces.push(Buffer.from(result.data));
    if (result.data.length < want) break;
  }
  return Buffer.concat(pieces);
}

/**
 * Differences between the replicas of every chain of the table (all files, ino 0 = everything):
 * for every chunk, each of the chain's `replicas` targets must hold it with the same committed
 * version, length and CRC, and nothing pending. Empty when every chain's replicas are identical.
 * Also returns the rows, for callers that check bytes.
 */
export async function replicaDifferences(
  clients: StorageClients,
  routing: RoutingInfo,
  replicas: number,
): Promise<{ differences: string[]; rows: ReplicaChunk[] }> {
  const rows = await dumpFileChunks(clients, routing, 0);
  const byChunk = new Map<string, ReplicaChunk[]>();
  for (const row of rows) {
    const key = `chain ${row.chainId} chunk ${row.meta.chunk!.ino}/${row.meta.chunk!.index}`;
    byChunk.set(key, [...(byChunk.get(key) ?? []), row]);
  }
  const differences: string[] = [];
  for (const [key, copies] of byChunk) {
    const shown = copies
      .map(
        (c) =>
          `t${c.targetId}:v${c.meta.commitVersion}/${c.meta.updateVersion} len ${c.meta.length} crc ${c.meta.crc32c}`,
      )
      .join(', ');
    if (copies.length !== replicas) differences.push(`${key}: on ${copies.length} of ${replicas} replicas (${shown})`);
    else if (new Set(copies.map((c) => `${c.meta.commitVersion}:${c.meta.length}:${c.meta.crc32c}`)).size !== 1)
      differences.push(`${key}: replicas differ (${shown})`);
    else if (copies.some((c) => c.meta.updateVersion !== c.meta.commitVersion))
      differences.push(`${key}: pending update (${shown})`);
  }
  return { differences, rows };
}
