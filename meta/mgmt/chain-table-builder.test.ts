import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { buildChainTable, type BuilderNode } from './chain-table-builder.js';

function cluster(nodeCount: number, targetsPerNode: number, firstNodeId = 1): BuilderNode[] {
  return Array.from({ length: nodeCount }, (_, n) => ({
    nodeId: firstNodeId + n,
    targetIds: Array.from({ length: targetsPerNode }, (_, t) => (firstNodeId + n) * 1000 + t),
  }));
}

const nodeOf = (targetId: number) => Math.floor(targetId / 1000);

function expectError(fn: () => unknown, code: ErrorCode, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(code);
    expect((err as SpindleError).message).toMatch(pattern);
    return;
  }
  throw new Error('expected an error');
}

describe('buildChainTable', () => {
  it('builds the default 3 nodes × 3 targets, 3 replicas: 3 chains, one head per node', () => {
    const chains = buildChainTable(cluster(3, 3), { replicas: 3 });
    expect(chains).toEqual([
      { chainId: 1, targetIds: [1000, 2000, 3000] },
      { chainId: 2, targetIds: [2001, 3001, 1001] },
      { chainId: 3, targetIds: [3002, 1002, 2002] },
    ]);
  });

  const shapes: Array<[number, number, number]> = [];
  for (let nodes = 1; nodes <= 9; nodes++) {
    for (let targets = 1; targets <= 7; targets++) {
      for (let replicas = 1; replicas <= Math.min(nodes, 5); replicas++) {
        if ((nodes * targets) % replicas === 0) shapes.push([nodes, targets, replicas]);
      }
    }
  }

  it.each(shapes)(
    '%i nodes × %i targets, %i replicas: a partition with distinct nodes and balanced heads',
    (nodes, targets, replicas) => {
      const input = cluster(nodes, targets, 4);
      const chains = buildChainTable(input, { replicas, firstChainId: 10 });
      const chainCount = (nodes * targets) / replicas;
      expect(chains).toHaveLength(chainCount);
      expect(chains.map((c) => c.chainId)).toEqual(Array.from({ length: chainCount }, (_, i) => 10 + i));

      // Every target exactly once.
      const all = chains.flatMap((c) => c.targetIds).sort((a, b) => a - b);
      expect(all).toEqual(input.flatMap((n) => n.targetIds).sort((a, b) => a - b));

      // R distinct nodes per chain.
      for (const chain of chains) {
        expect(chain.targetIds).toHaveLength(replicas);
        expect(new Set(chain.targetIds.map(nodeOf)).size).toBe(replicas);
      }

      // Heads: floor/ceil of chains per node, over every node.
      const heads = new Map<number, number>(input.map((n) => [n.nodeId, 0]));
      for (const chain of chains) heads.set(nodeOf(chain.targetIds[0]!), heads.get(nodeOf(chain.targetIds[0]!))! + 1);
      const low = Math.floor(chainCount / nodes);
      const high = Math.ceil(chainCount / nodes);
      for (const count of heads.values()) {
        expect(count).toBeGreaterThanOrEqual(low);
        expect(count).toBeLessThanOrEqual(high);
      }
    },
  );

  it('is deterministic and independent of the input order', () => {
    const input = cluster(5, 3);
    const shuffled = [...input].reverse().map((n) => ({ ...n, targetIds: [...n.targetIds].reverse() }));
    expect(buildChainTable(shuffled, { replicas: 3 })).toEqual(buildChainTable(input, { replicas: 3 }));
  });

  it('refuses more replicas than nodes with NOT_ENOUGH_NODES and says what to do', () => {
    expectError(
      () => buildChainTable(cluster(2, 3), { replicas: 3 }),
      ErrorCode.NOT_ENOUGH_NODES,
      /start more storage nodes or lower --replicas to at most 2/,
    );
    expectError(() => buildChainTable([], { replicas: 1 }), ErrorCode.NOT_ENOUGH_NODES, /0 are available/);
  });

  it('refuses a target count that is not a multiple of the replicas', () => {
    expectError(
      () => buildChainTable(cluster(4, 1), { replicas: 3 }),
      ErrorCode.NOT_ENOUGH_NODES,
      /4 targets cannot be cut into chains of 3.*--targets/,
    );
  });

  it('refuses nodes with different target counts, duplicate nodes or targets, and bad replicas', () => {
    const uneven = cluster(3, 2);
    uneven[1] = { nodeId: 2, targetIds: [2000] };
    expectError(
      () => buildChainTable(uneven, { replicas: 3 }),
      ErrorCode.INVALID_ARGUMENT,
      /same number of targets.*node 2: 1/,
    );
    expectError(
      () => buildChainTable([...cluster(2, 1), ...cluster(1, 1)], { replicas: 1 }),
      ErrorCode.INVALID_ARGUMENT,
      /node 1 is listed twice/,
    );
    expectError(
      () =>
        buildChainTable(
          [
            { nodeId: 1, targetIds: [5] },
            { nodeId: 2, targetIds: [5] },
          ],
          { replicas: 1 },
        ),
      ErrorCode.INVALID_ARGUMENT,
      /target 5 is listed twice/,
    );
    expectError(
      () => buildChainTable(cluster(3, 3), { replicas: 0 }),
      ErrorCode.INVALID_ARGUMENT,
      /replicas must be a positive integer/,
    );
    expectError(() => buildChainTable(cluster(3, 3), { replicas: 1.5 }), ErrorCode.INVALID_ARGUMENT, /replicas/);
    expectError(
      () => buildChainTable(cluster(3, 0), { replicas: 1 }),
      ErrorCode.NOT_ENOUGH_NODES,
      /--targets of at least 1/,
    );
  });
});
