// Credentials on every call, against real processes (issue 16): a call without a token is
// UNAUTHENTICATED on Meta, Mgmt and Storage; a client token cannot change the cluster (chain
// tables, chain order, offline targets) or write behind a chain's head (Storage.Update), and
// nothing stored changes; a forged, altered or foreign token is refused; the admin token works.
import { generateKeyPairSync } from 'node:crypto';
import type { ChannelOptions } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { channelOptionsWithToken } from '../../common/auth/client-auth.js';
import { mintToken } from '../../common/auth/token.js';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, type SpindleError } from '../../common/errors.js';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { MetaClient, MgmtClient, StorageClient, UpdateType } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import { dumpFileChunks, routingOf, StorageClients, tableChains } from '../harness/replicas.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3 });

async function failure(call: Promise<unknown>): Promise<SpindleError> {
  const outcome = await call.then(
    () => undefined,
    (err: unknown) => err as SpindleError,
  );
  if (outcome === undefined) throw new Error('the call succeeded; it should have been refused');
  return outcome;
}

function clients(options: ChannelOptions) {
  const c = cluster();
  const node = c.nodes[0]!;
  return {
    meta: new MetaClient(c.metaAddress, insecureChannel(), options),
    mgmt: new MgmtClient(c.metaAddress, insecureChannel(), options),
    storage: new StorageClient(node.addr, insecureChannel(), options),
    close() {
      this.meta.close();
      this.mgmt.close();
      this.storage.close();
    },
  };
}

/** Everything a refused call must leave as it was: routing (tables, chains, versions) and the file's replicas. */
async function snapshot(ino: number) {
  const routing = await routingOf(cluster().metaAddress);
  const storage = new StorageClients();
  try {
    const replicas = await dumpFileChunks(storage, routing, ino);
    return {
      routingVersion: routing.version,
      chainTables: routing.chainTables,
      chains: routing.chains.map((c) => ({ chainId: c.chainId, version: c.chainVersion, targets: c.targetIds })),
      replicas: replicas.map((r) => ({
        target: r.targetId,
        chunk: r.meta.chunk,
        crc: r.meta.crc32c,
        v: r.meta.commitVersion,
      })),
    };
  } finally {
    storage.close();
  }
}

describe('calls without a token', () => {
  it('are UNAUTHENTICATED on Meta, Mgmt and Storage, with a message saying where credentials are', async () => {
    const raw = clients(channelOptionsWithToken(undefined));
    try {
      const errors = [
        await failure(callUnary(raw.meta, raw.meta.statFs, {}, 'meta.StatFs')),
        await failure(callUnary(raw.mgmt, raw.mgmt.getRoutingInfo, { knownVersion: 0 }, 'mgmt.GetRoutingInfo')),
        await failure(callUnary(raw.storage, raw.storage.batchRead, { ios: [] }, 'storage.BatchRead')),
      ];
      for (const err of errors) {
        expect(err.errorCode).toBe(ErrorCode.UNAUTHENTICATED);
        expect(err.message).toMatch(/--token-file/);
        expect(err.message).toMatch(/credentials\.json/);
      }
    } finally {
      raw.close();
    }
  });
});

describe('a client token', () => {
  it('cannot change chain tables, chains or targets, nor write behind the head; nothing changes', async () => {
    const c = cluster();
    const fs = await c.client();
    const original = Buffer.alloc(256 * 1024, 7);
    await fs.writeFile('/kept', original);
    const { ino } = await fs.stat('/kept');
    const before = await snapshot(ino);

    const raw = clients(c.channelOptions('client'));
    const chain = tableChains(await routingOf(c.metaAddress))[0]!;
    const tail = chain.targetIds[chain.targetIds.length - 1]!;
    const routing = await routingOf(c.metaAddress);
    const tailNode = routing.nodes.find((n) => n.nodeId === routing.targets.find((t) => t.targetId === tail)!.nodeId)!;
    const tailStorage = new StorageClient(tailNode.address, insecureChannel(), c.channelOptions('client'));
    try {
      const forged = Buffer.alloc(4096, 0x66);
      const refused = [
        await failure(callUnary(raw.mgmt, raw.mgmt.createChainTable, { replicas: 1 }, 'mgmt.CreateChainTable')),
        await failure(
          callUnary(
            raw.mgmt,
            raw.mgmt.updateChain,
            { chainId: chain.chainId, targetIds: [...chain.targetIds].reverse() },
            'mgmt.UpdateChain',
          ),
        ),
        await failure(callUnary(raw.mgmt, raw.mgmt.offlineTarget, { targetId: tail }, 'mgmt.OfflineTarget')),
        await failure(
          callUnary(
            tailStorage,
            tailStorage.update,
            {
              chainId: chain.chainId,
              chainVersion: chain.chainVersion,
              chunk: { ino, index: 0 },
              type: UpdateType.WRITE,
              offset: 0,
              data: forged,
              dataCrc32c: crc32c(forged),
              chunkSizeBytes: 4 * 1024 * 1024,
              updateVersion: 2,
              fromTargetId: chain.targetIds[chain.targetIds.length - 2] ?? 0,
            },
            'storage.Update',
          ),
        ),
      ];
      for (const err of refused) {
        expect(err.errorCode, err.message).toBe(ErrorCode.PERMISSION_DENIED);
        expect(err.message).toMatch(/needs a (admin|storage) credential/);
      }
    } finally {
      raw.close();
      tailStorage.close();
    }
    expect(await snapshot(ino)).toEqual(before);
    expect(Buffer.compare(Buffer.from(await fs.readFile('/kept')), original)).toBe(0);
  });

  it('reads and writes files (the namespace and data are a client’s)', async () => {
    const fs = await cluster().client({ token: cluster().clientToken });
    await fs.writeFile('/client-file', 'hello');
    expect(Buffer.from(await fs.readFile('/client-file')).toString()).toBe('hello');
  });
});

describe('tokens that are not this cluster’s', () => {
  it('forged, altered and foreign tokens are refused; the admin token is accepted', async () => {
    const c = cluster();
    const admin = c.adminToken!;
    const [prefix, claims, signature] = admin.split('.') as [string, string, string];
    const client = c.clientToken!;
    const [, clientClaims] = client.split('.') as [string, string, string];
    const otherKey = generateKeyPairSync('ed25519');
    const keyId = JSON.parse(Buffer.from(claims, 'base64url').toString()).k as string;
    const candidates = {
      // A client token's claims with the admin token's signature.
      spliced: `${prefix}.${clientClaims}.${signature}`,
      // The admin token with one byte of its signature changed.
      altered: `${prefix}.${claims}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`,
      // Claims naming this cluster's key, signed with another key.
      forged: mintToken(
        { privateKey: otherKey.privateKey, publicKey: otherKey.publicKey, keyId },
        { role: 'admin', user: 'mallory', uid: 0, gid: 0 },
        Date.now(),
      ),
      garbage: 'not-a-token',
    };
    for (const [what, token] of Object.entries(candidates)) {
      const raw = clients(channelOptionsWithToken(token));
      try {
        const err = await failure(
          callUnary(raw.mgmt, raw.mgmt.createChainTable, { replicas: 1 }, 'mgmt.CreateChainTable'),
        );
        expect(err.errorCode, `${what}: ${err.message}`).toBe(ErrorCode.UNAUTHENTICATED);
        const read = await failure(callUnary(raw.storage, raw.storage.batchRead, { ios: [] }, 'storage.BatchRead'));
        expect(read.errorCode, what).toBe(ErrorCode.UNAUTHENTICATED);
      } finally {
        raw.close();
      }
    }
    const raw = clients(channelOptionsWithToken(admin));
    try {
      const routing = await callUnary(raw.mgmt, raw.mgmt.getRoutingInfo, { knownVersion: 0 }, 'mgmt.GetRoutingInfo');
      expect(routing.routing?.chainTables.length).toBeGreaterThan(0);
    } finally {
      raw.close();
    }
  });

  it('/metrics stays open from loopback', async () => {
    const response = await fetch(`http://${cluster().local.meta.ready.metrics}/metrics`);
    expect(response.status).toBe(200);
  });
});
