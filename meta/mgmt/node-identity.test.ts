// Node identity on a real ClusterManager over a KvEngine: who may register and heartbeat which id,
// and that the binding survives a manager restart.
import { describe, expect, it } from 'vitest';
import { ANONYMOUS_ADMIN, type Principal } from '../../common/auth/principal.js';
import { ManualClock } from '../../common/clock.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { ClusterManager } from './cluster-manager.js';
import { TestKv } from './testing/test-kv.js';

const storage = (nodeId: number): Principal => ({ role: 'storage', user: `node-${nodeId}`, uid: 0, gid: 0, nodeId });
const client: Principal = { role: 'client', user: 'alice', uid: 1000, gid: 1000 };
const admin: Principal = { role: 'admin', user: 'ops', uid: 0, gid: 0 };

function open(kv: TestKv): Promise<ClusterManager> {
  return ClusterManager.open({
    kv,
    replicas: 1,
    storageNodesExpected: 0,
    nodeLeaseMs: 1_000,
    clock: new ManualClock(1),
  });
}

const registration = (nodeId: number, port: number) => ({
  nodeId,
  address: `127.0.0.1:${port}`,
  hostname: 'h',
  targetPaths: [`/data/${port}/t0`],
});

async function refusal(promise: Promise<unknown>): Promise<SpindleError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SpindleError);
  expect((err as SpindleError).errorCode).toBe(ErrorCode.PERMISSION_DENIED);
  return err as SpindleError;
}

describe('node identity', () => {
  it('a storage credential joins under its own id and binds it; nobody else can take the id over', async () => {
    const kv = new TestKv();
    const manager = await open(kv);
    const joined = await manager.registerNode(registration(0, 7501), storage(3));
    expect(joined.nodeId).toBe(3);
    const before = manager.routingVersion;

    // Another node, a client and an admin all try to move node 3 to their own address.
    await refusal(manager.registerNode(registration(3, 6666), storage(4)));
    await refusal(manager.registerNode(registration(3, 6666), client));
    await refusal(manager.registerNode(registration(3, 6666), admin));
    // A retried-first-registration lookalike (id 0, node 3's address and paths) does not get node 3 either.
    await refusal(manager.registerNode(registration(0, 7501), admin));
    await refusal(manager.heartbeat({ nodeId: 3, targets: [], routingVersion: 0, resyncs: [] }, storage(4)));
    await refusal(manager.heartbeat({ nodeId: 3, targets: [], routingVersion: 0, resyncs: [] }, admin));
    await refusal(manager.heartbeat({ nodeId: 3, targets: [], routingVersion: 0, resyncs: [] }, client));
    expect(manager.routingVersion).toBe(before);
    expect(manager.routingInfo().nodes.find((n) => n.nodeId === 3)?.address).toBe('127.0.0.1:7501');

    // The node itself may move (it proves the id by its credential) and heartbeat.
    await manager.registerNode(registration(3, 7502), storage(3));
    await manager.heartbeat({ nodeId: 3, targets: [], routingVersion: 0, resyncs: [] }, storage(3));
    expect(manager.routingInfo().nodes.find((n) => n.nodeId === 3)?.address).toBe('127.0.0.1:7502');
    await manager.close();

    // The binding is stored: a restarted manager still refuses node 4's credential for id 3.
    const reopened = await open(kv);
    await refusal(reopened.registerNode(registration(3, 6666), storage(4)));
    // New nodes allocated by id start past the ids credentials claimed.
    expect((await reopened.registerNode(registration(0, 7600), admin)).nodeId).toBe(4);
    await reopened.close();
  });

  it('a storage credential cannot name another id; a node registered before auth is bound by its own', async () => {
    const kv = new TestKv();
    const manager = await open(kv);
    const err = await refusal(manager.registerNode(registration(2, 7503), storage(1)));
    expect(err.message).toMatch(/registers only as itself/);
    // Joined with authentication off (anonymous admin), later restarted with its node credential.
    const legacy = await manager.registerNode(registration(0, 7504), ANONYMOUS_ADMIN);
    expect(legacy.nodeId).toBe(1);
    await manager.heartbeat({ nodeId: 1, targets: [], routingVersion: 0, resyncs: [] }, ANONYMOUS_ADMIN);
    await manager.registerNode(registration(1, 7504), storage(1));
    await refusal(manager.registerNode(registration(1, 7504), admin));
    await manager.close();
  });

  it('a server with authentication off checks nothing: a cluster restarted with --auth off keeps working', async () => {
    const kv = new TestKv();
    const manager = await open(kv);
    await manager.registerNode(registration(0, 7505), storage(2));
    await manager.registerNode(registration(2, 7505), ANONYMOUS_ADMIN);
    await manager.heartbeat({ nodeId: 2, targets: [], routingVersion: 0, resyncs: [] }, ANONYMOUS_ADMIN);
    // The binding stays for when authentication is back on.
    await refusal(manager.registerNode(registration(2, 6666), storage(5)));
    await manager.close();
  });
});
