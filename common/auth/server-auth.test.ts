// The check every server runs before a handler, on a real gRPC server and client: no token,
// a refused token and a wrong role never reach the handler; an accepted one does, with its principal.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerWritableStream, ServiceDefinition } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateChainTableRequest,
  CreateChainTableResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  LoaderClient,
  LoaderService,
  MgmtClient,
  MgmtService,
  StreamBatchesRequest,
} from '../../proto/index.js';
import { ErrorCode, type SpindleError } from '../errors.js';
import { fromGrpcError } from '../grpc-errors.js';
import {
  callUnary,
  insecureChannel,
  serviceImplementation,
  startGrpcServer,
  stopGrpcServer,
  type CallContext,
} from '../rpc.js';
import { channelOptionsWithToken } from './client-auth.js';
import { loadOrCreateClusterKey } from './cluster-key.js';
import type { Principal } from './principal.js';
import { mintToken } from './token.js';
import { TokenVerifier } from './token-verifier.js';

const dir = mkdtempSync(join(tmpdir(), 'auth-core-server-'));
const seen: Principal[] = [];
let address = '';
let stop: () => Promise<void> = async () => undefined;
let tokens: Record<'admin' | 'client' | 'node' | 'foreign', string>;

beforeAll(async () => {
  const key = await loadOrCreateClusterKey(join(dir, 'key'));
  const foreign = await loadOrCreateClusterKey(join(dir, 'other'));
  const now = Date.now();
  tokens = {
    admin: mintToken(key, { role: 'admin', user: 'root', uid: 0, gid: 0 }, now),
    client: mintToken(key, { role: 'client', user: 'alice', uid: 1000, gid: 100 }, now),
    node: mintToken(key, { role: 'storage', user: 'node-2', uid: 0, gid: 0, nodeId: 2 }, now),
    foreign: mintToken(foreign, { role: 'admin', user: 'root', uid: 0, gid: 0 }, now),
  };
  const record =
    <T>(response: T) =>
    async (_request: unknown, context: CallContext) => {
      seen.push(context.principal);
      return response;
    };
  const mgmt = serviceImplementation({
    createChainTable: record(CreateChainTableResponse.fromPartial({})),
    heartbeat: record(HeartbeatResponse.fromPartial({})),
  });
  const loader = {
    streamBatches: (call: ServerWritableStream<unknown, unknown>) => {
      seen.push({ role: 'client', user: 'stream', uid: 0, gid: 0 });
      call.end();
    },
  };
  const started = await startGrpcServer(
    [
      { definition: MgmtService as unknown as ServiceDefinition, implementation: mgmt },
      { definition: LoaderService as unknown as ServiceDefinition, implementation: loader },
    ],
    '127.0.0.1',
    0,
    { auth: { verifier: new TokenVerifier(key) } },
  );
  address = started.address;
  stop = () => stopGrpcServer(started.server, 100);
});

afterAll(async () => {
  await stop();
  rmSync(dir, { recursive: true, force: true });
});

async function createChainTable(token: string | undefined): Promise<SpindleError | undefined> {
  const client = new MgmtClient(address, insecureChannel(), channelOptionsWithToken(token));
  try {
    await callUnary(
      client,
      client.createChainTable,
      CreateChainTableRequest.fromPartial({ replicas: 1 }),
      'mgmt.CreateChainTable',
    );
    return undefined;
  } catch (err) {
    return err as SpindleError;
  } finally {
    client.close();
  }
}

describe('server credential check', () => {
  it('refuses a call without a token before the handler runs, saying where credentials are', async () => {
    seen.length = 0;
    const err = await createChainTable(undefined);
    expect(err?.errorCode).toBe(ErrorCode.UNAUTHENTICATED);
    expect(err?.message).toMatch(/--token-file|credentials\.json/);
    expect(seen).toEqual([]);
  });

  it('refuses forged and foreign tokens', async () => {
    const [prefix, claims] = tokens.client.split('.');
    for (const token of [`${prefix}.${claims}.AAAA`, tokens.foreign, 'garbage']) {
      expect((await createChainTable(token))?.errorCode).toBe(ErrorCode.UNAUTHENTICATED);
    }
    expect(seen).toEqual([]);
  });

  it('refuses the wrong role with PERMISSION_DENIED', async () => {
    for (const token of [tokens.client, tokens.node]) {
      const err = await createChainTable(token);
      expect(err?.errorCode).toBe(ErrorCode.PERMISSION_DENIED);
      expect(err?.message).toMatch(/needs a admin credential/);
    }
    expect(seen).toEqual([]);
  });

  it('runs the handler with the principal of an accepted token', async () => {
    expect(await createChainTable(tokens.admin)).toBeUndefined();
    expect(seen).toEqual([{ role: 'admin', user: 'root', uid: 0, gid: 0 }]);
    seen.length = 0;
    const client = new MgmtClient(address, insecureChannel(), channelOptionsWithToken(tokens.node));
    await callUnary(client, client.heartbeat, HeartbeatRequest.fromPartial({}), 'mgmt.Heartbeat');
    client.close();
    expect(seen).toEqual([{ role: 'storage', user: 'node-2', uid: 0, gid: 0, nodeId: 2 }]);
  });

  it('checks server-streaming calls too', async () => {
    seen.length = 0;
    const outcome = async (token: string | undefined) => {
      const client = new LoaderClient(address, insecureChannel(), channelOptionsWithToken(token));
      const stream = client.streamBatches(StreamBatchesRequest.fromPartial({}));
      try {
        await new Promise<void>((resolve, reject) => {
          stream.on('data', () => undefined);
          stream.on('end', resolve);
          stream.on('error', reject);
        });
        return ErrorCode.OK;
      } catch (err) {
        return fromGrpcError(err, 'loader.StreamBatches').errorCode;
      } finally {
        client.close();
      }
    };
    expect(await outcome(undefined)).toBe(ErrorCode.UNAUTHENTICATED);
    expect(seen).toEqual([]);
    expect(await outcome(tokens.client)).toBe(ErrorCode.OK);
    expect(seen).toHaveLength(1);
  });

  it('refuses to start a server hosting a method missing from the table', async () => {
    const key = await loadOrCreateClusterKey(join(dir, 'key'));
    const definition = {
      secret: { ...MgmtService.heartbeat, path: '/spindle.Mgmt/NotInTheTable' },
    } as unknown as ServiceDefinition;
    await expect(
      startGrpcServer([{ definition, implementation: { secret: () => undefined } }], '127.0.0.1', 0, {
        auth: { verifier: new TokenVerifier(key) },
      }),
    ).rejects.toThrow(/missing from common\/auth\/method-roles.ts/);
  });
});
