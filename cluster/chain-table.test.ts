// Reading the manager's routing, when a cluster counts as writable, and how waiting for it ends
// when it does not get there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { serviceImplementation, startGrpcServer, stopGrpcServer } from '../common/rpc.js';
import { type GetRoutingInfoResponse, MgmtService, type RoutingInfo } from '../proto/index.js';
import { chainTableComplete, fetchRouting, waitForChainTable } from './chain-table.js';

function routing(
  chains: Record<number, number[]>,
  tables: Array<{ version: number; chainIds: number[] }>,
): RoutingInfo {
  return {
    chains: Object.entries(chains).map(([id, targetIds]) => ({ chainId: Number(id), targetIds })),
    chainTables: tables.map((t) => ({ tableId: 1, ...t })),
  } as unknown as RoutingInfo;
}

describe('chainTableComplete', () => {
  it('needs table 1, in its latest version, with every chain at full length', () => {
    expect(chainTableComplete(routing({}, []), 3)).toBe(false);
    expect(chainTableComplete(routing({ 1: [1, 2, 3] }, [{ version: 1, chainIds: [] }]), 3)).toBe(false);
    expect(chainTableComplete(routing({ 1: [1, 2, 3], 2: [4, 5] }, [{ version: 1, chainIds: [1, 2] }]), 3)).toBe(false);
    const grown = routing({ 1: [1, 2, 3], 2: [4, 5] }, [
      { version: 2, chainIds: [1] },
      { version: 1, chainIds: [1, 2] },
    ]);
    expect(chainTableComplete(grown, 3)).toBe(true);
  });
});

describe('waitForChainTable', () => {
  it('ends with CANCELLED when the caller aborts', async () => {
    const err = await waitForChainTable('127.0.0.1:1', 3, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.CANCELLED);
  });

  it('ends with TIMEOUT, the last error and what to check, when no manager answers', async () => {
    const err = await waitForChainTable('127.0.0.1:1', 3, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.TIMEOUT);
    expect((err as SpindleError).message).toMatch(
      /did not publish a complete chain table within 200 ms \(last error: /,
    );
    expect((err as SpindleError).message).toContain('spindle admin nodes');
  });
});

describe('fetchRouting', () => {
  // A manager that answers GetRoutingInfo with `answer` and records the versions it was asked with.
  let answer: GetRoutingInfoResponse;
  const asked: number[] = [];
  let manager: Awaited<ReturnType<typeof startGrpcServer>>;
  beforeAll(async () => {
    const notImplemented = async () => {
      throw new Error('not implemented by the fake');
    };
    manager = await startGrpcServer(
      [
        {
          definition: MgmtService,
          implementation: serviceImplementation({
            registerNode: notImplemented,
            heartbeat: notImplemented,
            createChainTable: notImplemented,
            updateChain: notImplemented,
            getRoutingInfo: async (request: { knownVersion: number }) => {
              asked.push(request.knownVersion);
              return answer;
            },
          }),
        },
      ],
      '127.0.0.1',
      0,
    );
  });
  afterAll(() => stopGrpcServer(manager.server, 0));

  it('asks for the whole snapshot and resolves with it', async () => {
    const snapshot: RoutingInfo = {
      version: 4,
      nodes: [],
      targets: [],
      chains: [{ chainId: 1, chainVersion: 1, targetIds: [1001, 2001, 3001] }],
      chainTables: [{ tableId: 1, version: 1, chainIds: [1] }],
    };
    answer = { routing: snapshot, version: 4 };
    expect(await fetchRouting(manager.address)).toEqual(snapshot);
    expect(asked.at(-1)).toBe(0);
  });

  it('refuses an answer without a snapshot as ROUTING_NOT_READY, naming the manager', async () => {
    answer = { routing: undefined, version: 0 };
    const err = await fetchRouting(manager.address).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.ROUTING_NOT_READY);
    expect((err as SpindleError).message).toContain(`the cluster manager at ${manager.address}`);
  });

  it('fails with a typed error when no manager answers', async () => {
    const err = await fetchRouting('127.0.0.1:1', 1_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).retryable).toBe(true);
  });
});
