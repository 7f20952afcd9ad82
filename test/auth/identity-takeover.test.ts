// Node takeover, scripted against real processes (issue 16): an attacker holding a client token,
// or the storage token of another node (or even an admin token), calls Mgmt.RegisterNode with node
// id 3 and its own address, and heartbeats as node 3. Each attempt is refused with
// PERMISSION_DENIED and logged by meta; the routing does not change, node 3 keeps its address and
// stays serving, and every file reads back with the bytes that were written.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { callUnary } from '../../common/rpc.js';
import { PublicTargetState, type RoutingInfo } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import { routingOf } from '../harness/replicas.js';
import { mgmtAs, tokenMinter, type TokenMinter } from './testing/tokens.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3 });
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

let attacker: Server;
let attackerAddress: string;
let tokens: TokenMinter;

beforeAll(async () => {
  // The attacker's own server: where it would like node 3's chains to send their bytes.
  attacker = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerAddress = `127.0.0.1:${(attacker.address() as { port: number }).port}`;
  tokens = await tokenMinter(cluster().dataDir);
});

afterAll(async () => {
  await new Promise<void>((resolve) => attacker?.close(() => resolve()));
});

async function refusal(promise: Promise<unknown>): Promise<SpindleError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the attack must be refused').toBeInstanceOf(SpindleError);
  return err as SpindleError;
}

function nodeThree(routing: RoutingInfo) {
  const node = routing.nodes.find((n) => n.nodeId === 3);
  expect(node).toBeDefined();
  return node!;
}

describe('node takeover', () => {
  it('RegisterNode and Heartbeat for node 3 from any other credential are refused; node 3 keeps serving', async () => {
    const client = await cluster().client();
    const files = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const data = randomBytes(512 * 1024 + i * 4099);
      await client.writeFile(`/victim-${i}.bin`, data);
      files.set(`/victim-${i}.bin`, sha256(data));
    }
    const before = await routingOf(cluster().metaAddress);
    const realAddress = nodeThree(before).address;
    const targetPaths = before.targets.filter((t) => t.nodeId === 3).map((t) => t.path);

    const attackers: Array<[string, string]> = [
      ['a client token', tokens.client('mallory', 4242)],
      ["node 1's storage token", tokens.storage(1)],
      ['an admin token', tokens.mint({ role: 'admin', user: 'ops', uid: 0, gid: 0 })],
    ];
    for (const [what, token] of attackers) {
      const mgmt = mgmtAs(cluster().metaAddress, token);
      try {
        const registered = await refusal(
          callUnary(
            mgmt,
            mgmt.registerNode,
            { nodeId: 3, address: attackerAddress, hostname: 'attacker', targetPaths, bulkAddress: '' },
            'mgmt.RegisterNode',
          ),
        );
        expect(registered.errorCode, `${what}: ${registered.message}`).toBe(ErrorCode.PERMISSION_DENIED);
        const heartbeat = await refusal(
          callUnary(
            mgmt,
            mgmt.heartbeat,
            { nodeId: 3, targets: [], routingVersion: before.version, resyncs: [] },
            'mgmt.Heartbeat',
          ),
        );
        expect(heartbeat.errorCode, `${what}: ${heartbeat.message}`).toBe(ErrorCode.PERMISSION_DENIED);
      } finally {
        mgmt.close();
      }
    }

    // Nothing moved: same routing version, node 3 at its own address with its targets serving.
    const after = await routingOf(cluster().metaAddress);
    expect(after.version).toBe(before.version);
    expect(nodeThree(after).address).toBe(realAddress);
    expect(nodeThree(after).alive).toBe(true);
    for (const target of after.targets.filter((t) => t.nodeId === 3))
      expect(PublicTargetState[target.publicState]).toBe('SERVING');

    // Every read gets the real bytes, several times over (reads spread over the replicas).
    for (let round = 0; round < 3; round++) {
      for (const [path, digest] of files) expect(sha256(await client.readFile(path))).toBe(digest);
    }
    // The real node 3 still heartbeats and serves writes on its chains.
    await client.writeFile('/after-attack.bin', randomBytes(256 * 1024));
    expect(nodeThree(await routingOf(cluster().metaAddress)).alive).toBe(true);

    // Meta logged the refusals: node calls from a role that makes none (client, admin) at the call
    // check, and node 1 claiming node 3's id with the caller named.
    const metaLog = readFileSync(join(cluster().dataDir, 'logs', 'meta.log'), 'utf8').split('\n');
    const claims = metaLog.filter((line) => line.includes('the caller does not hold the node id'));
    expect(claims.filter((line) => line.includes('"callerNodeId":1') && line.includes('"nodeId":3')).length).toBe(2);
    expect(metaLog.some((line) => line.includes('call refused') && line.includes('RegisterNode'))).toBe(true);
  });
});
