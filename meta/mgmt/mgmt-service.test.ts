// The Mgmt gRPC service as a storage node or admin sees it, including malformed requests sent
// straight to the wire: each gets a clear typed error and changes nothing.
import { makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { ManualClock } from '../../common/clock.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { fromGrpcError } from '../../common/grpc-errors.js';
import { silentLogger } from '../../common/logger.js';
import { CHANNEL_OPTIONS, callUnary, insecureChannel, startGrpcServer, stopGrpcServer } from '../../common/rpc.js';
import { MgmtClient, MgmtService } from '../../proto/index.js';
import { ClusterManager } from './cluster-manager.js';
import { createMgmtServiceImplementation } from './mgmt-service.js';
import { TestKv } from './testing/test-kv.js';

let kv: TestKv;
let manager: ClusterManager;
let server: Awaited<ReturnType<typeof startGrpcServer>>['server'];
let client: MgmtClient;
let raw: Client & Record<string, (req: Buffer, cb: (err: ServiceError | null, res: Buffer) => void) => void>;

beforeAll(async () => {
  kv = new TestKv();
  // A manual clock: node liveness in the routing snapshot must not change while the test compares it.
  manager = await ClusterManager.open({
    kv,
    replicas: 3,
    storageNodesExpected: 3,
    nodeLeaseMs: 1_000,
    clock: new ManualClock(1_700_000_000_000),
  });
  const started = await startGrpcServer(
    [{ definition: MgmtService, implementation: createMgmtServiceImplementation(manager, silentLogger()) }],
    '127.0.0.1',
    0,
  );
  server = started.server;
  client = new MgmtClient(started.address, insecureChannel(), CHANNEL_OPTIONS);
  // A client that sends arbitrary bytes to the Mgmt methods.
  const identity = (b: Buffer) => b;
  const rawDefinition = Object.fromEntries(
    Object.entries(MgmtService).map(([name, method]) => [
      name,
      {
        ...method,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    ]),
  );
  const RawClient = makeGenericClientConstructor(rawDefinition as never, 'spindle.Mgmt');
  raw = new RawClient(started.address, insecureChannel()) as never;
});

afterAll(async () => {
  client?.close();
  raw?.close();
  if (server) await stopGrpcServer(server, 1_000);
  await manager?.close();
});

function sendRaw(method: string, bytes: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    raw[method]!(Buffer.from(bytes), (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function refusal(promise: Promise<unknown>): Promise<SpindleError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(SpindleError);
  return err as SpindleError;
}

describe('Mgmt gRPC service', () => {
  it('registers three nodes, builds the chain table, heartbeats and serves routing', async () => {
    for (const n of [1, 2, 3]) {
      const response = await callUnary(
        client,
        client.registerNode,
        {
          nodeId: 0,
          address: `127.0.0.1:${7500 + n}`,
          hostname: 'localhost',
          targetPaths: [`/d${n}/0`, `/d${n}/1`, `/d${n}/2`],
          // Node 3 has no bulk listener (gRPC-only data).
          bulkAddress: n === 3 ? undefined : `127.0.0.1:${7600 + n}`,
        },
        'mgmt.RegisterNode',
      );
      expect(response.nodeId).toBe(n);
    }
    const routing = await callUnary(client, client.getRoutingInfo, { knownVersion: 0 }, 'mgmt.GetRoutingInfo');
    expect(routing.routing?.nodes.map((node) => node.bulkAddress)).toEqual(['127.0.0.1:7601', '127.0.0.1:7602', '']);
    expect(routing.routing?.chainTables).toEqual([{ tableId: 1, version: 1, chainIds: [1, 2, 3] }]);
    const current = await callUnary(
      client,
      client.getRoutingInfo,
      { knownVersion: routing.version },
      'mgmt.GetRoutingInfo',
    );
    expect(current).toEqual({ routing: undefined, version: routing.version });
    const heartbeat = await callUnary(
      client,
      client.heartbeat,
      { nodeId: 1, targets: [], routingVersion: routing.version, resyncs: [] },
      'mgmt.Heartbeat',
    );
    expect(heartbeat.routingVersion).toBe(routing.version);
    const chain = routing.routing!.chains[0]!;
    const updated = await callUnary(
      client,
      client.updateChain,
      { chainId: chain.chainId, targetIds: [...chain.targetIds].reverse() },
      'mgmt.UpdateChain',
    );
    expect(updated.chain?.chainVersion).toBe(2);
  });

  it('refuses malformed requests with typed errors and leaves the state unchanged', async () => {
    const before = kv.dump();
    const routingBefore = manager.routingInfo();

    // Missing fields.
    let err = await refusal(
      callUnary(
        client,
        client.registerNode,
        { nodeId: 0, address: '', hostname: '', targetPaths: [] },
        'mgmt.RegisterNode',
      ),
    );
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toMatch(/address is missing/);
    err = await refusal(
      callUnary(
        client,
        client.registerNode,
        { nodeId: 0, address: '127.0.0.1:1', hostname: '', targetPaths: ['/x'], bulkAddress: 'nowhere' },
        'mgmt.RegisterNode',
      ),
    );
    expect(err.message).toMatch(/bulk_address must be host:port/);
    err = await refusal(callUnary(client, client.updateChain, { chainId: 0, targetIds: [] }, 'mgmt.UpdateChain'));
    expect(err.message).toMatch(/chain_id is missing/);
    err = await refusal(callUnary(client, client.createChainTable, { replicas: 0 }, 'mgmt.CreateChainTable'));
    expect(err.message).toMatch(/replicas is missing/);

    // Unknown node / chain, bad target order.
    err = await refusal(
      callUnary(
        client,
        client.registerNode,
        { nodeId: 42, address: '127.0.0.1:1', hostname: '', targetPaths: ['/x'] },
        'mgmt.RegisterNode',
      ),
    );
    expect(err.errorCode).toBe(ErrorCode.NODE_NOT_FOUND);
    expect(err.code).toBe('ENODEV');
    err = await refusal(
      callUnary(
        client,
        client.heartbeat,
        { nodeId: 42, targets: [], routingVersion: 0, resyncs: [] },
        'mgmt.Heartbeat',
      ),
    );
    expect(err.errorCode).toBe(ErrorCode.NODE_NOT_FOUND);
    err = await refusal(
      callUnary(client, client.updateChain, { chainId: 77, targetIds: [1000, 2000, 3000] }, 'mgmt.UpdateChain'),
    );
    expect(err.errorCode).toBe(ErrorCode.CHAIN_NOT_FOUND);
    expect(err.message).toMatch(/chain 77 does not exist/);
    const chain = manager.routingInfo().chains[1]!;
    err = await refusal(
      callUnary(
        client,
        client.updateChain,
        { chainId: chain.chainId, targetIds: [chain.targetIds[0]!, chain.targetIds[0]!, chain.targetIds[1]!] },
        'mgmt.UpdateChain',
      ),
    );
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toMatch(/same targets, each once/);
    err = await refusal(
      callUnary(
        client,
        client.updateChain,
        { chainId: chain.chainId, targetIds: [chain.targetIds[0]!, chain.targetIds[1]!, 9_999_000] },
        'mgmt.UpdateChain',
      ),
    );
    expect(err.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);

    // Wrong wire types: field 1 (node_id, a varint) sent as a string, field 2 (address) as a varint.
    const wrongTypes = new BinaryWriter()
      .uint32((1 << 3) | 2)
      .string('seven')
      .uint32((2 << 3) | 0)
      .uint32(5)
      .finish();
    const rawErr = await sendRaw('registerNode', wrongTypes).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(rawErr).toBeDefined();
    expect(fromGrpcError(rawErr, 'registerNode').errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(rawErr!.details).toMatch(/address is missing/);

    // Bytes that are not a protobuf message at all.
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    for (const method of ['registerNode', 'heartbeat', 'updateChain', 'createChainTable']) {
      const e = await sendRaw(method, garbage).then(
        () => undefined,
        (x: ServiceError) => x,
      );
      expect(e, method).toBeDefined();
      expect(fromGrpcError(e, method).errorCode, method).toBe(ErrorCode.RPC_MALFORMED);
    }

    // A chain id past uint32 (truncated to 1 on decode) with no targets: refused, nothing reordered.
    const bigChain = new BinaryWriter()
      .uint32((2 << 3) | 0)
      .uint64(2 ** 32 + 1)
      .finish();
    const bigErr = await sendRaw('updateChain', bigChain).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(fromGrpcError(bigErr, 'updateChain').errorCode).toBe(ErrorCode.INVALID_ARGUMENT);

    expect(kv.dump()).toEqual(before);
    expect(manager.routingInfo()).toEqual(routingBefore);
  });
});
