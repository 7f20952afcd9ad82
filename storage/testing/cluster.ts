// Storage test cluster in one process: a FakeMgmt and N storage nodes on loopback gRPC, each in
// its own temp directory, plus small helpers to call the Storage service like a client would.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storageConfig, type StorageConfig } from '../../common/config.js';
import { crc32c } from '../../common/crc32c.js';
import { CHANNEL_OPTIONS, callUnary, insecureChannel } from '../../common/rpc.js';
import {
  StorageClient,
  UpdateType,
  type BatchReadResponse,
  type ReadIO,
  type WriteRequest,
  type WriteResponse,
} from '../../proto/index.js';
import { startStorageNode, type StorageNodeHandle } from '../storage-node.js';
import { FakeMgmt } from './fake-mgmt.js';

export const CHUNK_SIZE = 256 * 1024;

export interface TestCluster {
  mgmt: FakeMgmt;
  nodes: StorageNodeHandle[];
  root: string;
  config: StorageConfig;
  client(node: StorageNodeHandle | string): StorageClient;
  /** Starts (or restarts) node i on its data directory. */
  startNode(i: number): Promise<StorageNodeHandle>;
  close(): Promise<void>;
}

export async function startTestCluster(options: {
  nodes: number;
  targetsPerNode?: number;
  config?: Partial<Record<keyof StorageConfig, unknown>>;
}): Promise<TestCluster> {
  const root = await mkdtemp(join(tmpdir(), 'spindle-storage-'));
  const mgmt = await new FakeMgmt().start();
  const config = storageConfig('test', { nodeLeaseMs: '10s', readBatchMaxBytes: '1MiB', ...(options.config ?? {}) });
  const clients = new Map<string, StorageClient>();
  const nodes: StorageNodeHandle[] = [];
  const startNode = async (i: number) => {
    const node = await startStorageNode({
      dataDir: join(root, `node${i}`),
      metaAddress: mgmt.address,
      targets: options.targetsPerNode ?? 1,
      config,
      metricsPort: null,
    });
    nodes[i] = node;
    return node;
  };
  for (let i = 0; i < options.nodes; i++) await startNode(i);
  return {
    mgmt,
    nodes,
    root,
    config,
    startNode,
    client(node) {
      const address = typeof node === 'string' ? node : node.address;
      let client = clients.get(address);
      if (client === undefined) {
        client = new StorageClient(address, insecureChannel(), CHANNEL_OPTIONS);
        clients.set(address, client);
      }
      return client;
    },
    async close() {
      for (const client of clients.values()) client.close();
      await Promise.all(nodes.map((n) => n?.close()));
      await mgmt.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Waits until every node holds the manager's current routing version. */
export async function settleRouting(cluster: TestCluster): Promise<void> {
  await Promise.all(cluster.nodes.map((n) => n.refreshRouting()));
}

let nextSeq = 1;

export function writeRequest(
  fields: Partial<WriteRequest> & Pick<WriteRequest, 'chainId' | 'chainVersion'>,
): WriteRequest {
  const data = fields.data ?? Buffer.alloc(0);
  return {
    tag: { clientId: 'test-client', requestId: nextSeq },
    chunk: { ino: 1, index: 0 },
    type: UpdateType.WRITE,
    offset: 0,
    data,
    dataCrc32c: crc32c(data),
    chunkSizeBytes: CHUNK_SIZE,
    channelId: 1,
    seqnum: nextSeq++,
    ...fields,
  };
}

export function write(client: StorageClient, request: WriteRequest): Promise<WriteResponse> {
  return callUnary(client, client.write, request, 'storage.Write', { timeoutMs: 20_000 });
}

export function batchRead(client: StorageClient, ios: ReadIO[]): Promise<BatchReadResponse> {
  return callUnary(client, client.batchRead, { ios }, 'storage.BatchRead', { timeoutMs: 20_000 });
}

export function readIO(chainId: number, chainVersion: number, fields: Partial<ReadIO> = {}): ReadIO {
  return { chainId, chainVersion, chunk: { ino: 1, index: 0 }, offset: 0, length: CHUNK_SIZE, ...fields };
}

/** Deterministic bytes. */
export function pattern(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761 + 7) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
