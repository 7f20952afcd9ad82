// When a cluster counts as writable, and how waiting for it ends when it does not get there.
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { RoutingInfo } from '../proto/index.js';
import { chainTableComplete, waitForChainTable } from './chain-table.js';

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
    expect(chainTableComplete(undefined, 3)).toBe(false);
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
