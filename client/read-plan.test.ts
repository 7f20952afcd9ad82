// Read planning alone (no nodes): the items of a read cover its range exactly, a node's budget
// splits an item, and a first attempt goes to the replica with the fewest read bytes in flight.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRng } from '../common/clock.js';
import { READ_BUDGET_MIN_BYTES } from './constants.js';
import { ReadBudgets } from './read-budgets.js';
import { planReads, readItemsFor, type ReadItem } from './read-plan.js';
import { ReplicaChoice } from './replica-choice.js';
import { RoutingCache } from './routing-cache.js';
import { StorageConnections } from './storage-connections.js';
import { CHAINS, CHUNK, layout, routingFor } from './testing/fake-storage-nodes.js';

const ADDRESSES = ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'];

/** The byte ranges items cover in the caller's buffer, in order. */
const coverage = (items: readonly ReadItem[]) =>
  items.map((item) => [item.targetOffset, item.targetOffset + item.length]).sort((a, b) => a[0]! - b[0]!);

describe('readItemsFor', () => {
  it('cuts a range at chunk boundaries and into parts of at most one batch, covering it exactly', () => {
    const offset = CHUNK - 1_000;
    const length = 2 * CHUNK + 5_000;
    const items = readItemsFor(layout, CHAINS, offset, length, 20_000, createRng(1));
    const ranges = coverage(items);
    expect(ranges[0]![0]).toBe(0);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1]);
    expect(ranges.at(-1)![1]).toBe(length);
    for (const item of items) {
      expect(item.length).toBeLessThanOrEqual(20_000);
      expect(item.chunkOffset + item.length).toBeLessThanOrEqual(CHUNK);
      // The file byte an item starts at is where the caller's buffer says it is.
      expect(item.chunkIndex * CHUNK + item.chunkOffset).toBe(offset + item.targetOffset);
    }
  });
});

describe('planReads', () => {
  let routing: RoutingCache;
  let connections: StorageConnections;
  let replicas: ReplicaChoice;

  beforeEach(async () => {
    const published = routingFor(1, ADDRESSES, new Map(CHAINS.map((chainId) => [chainId, 1])));
    routing = new RoutingCache({ fetch: async () => ({ routing: published, version: 1 }), refreshIntervalMs: 0 });
    await routing.refresh();
    connections = new StorageConnections();
    replicas = new ReplicaChoice(routing, connections);
  });

  afterEach(() => {
    routing.close();
    connections.close();
  });

  it("splits an item larger than its node's budget; the parts join the read and cover the same bytes", () => {
    const budgets = new ReadBudgets(CHUNK);
    for (const address of ADDRESSES) budgets.refused(address, 2 * 10_000);
    const all = readItemsFor(layout, CHAINS, 0, CHUNK, CHUNK, createRng(2));
    expect(all).toHaveLength(1);
    const planned = planReads(all, all, replicas, budgets);
    expect(planned.length).toBe(Math.ceil(CHUNK / 10_000));
    expect(all).toEqual(planned);
    for (const item of planned) expect(item.length).toBeLessThanOrEqual(10_000);
    expect(coverage(planned)).toEqual(
      Array.from({ length: planned.length }, (_, i) => [i * 10_000, Math.min(CHUNK, (i + 1) * 10_000)]),
    );
  });

  it('sends first attempts to the replica with the fewest read bytes in flight, failovers to the next one', () => {
    const budgets = new ReadBudgets(CHUNK);
    const items = Array.from({ length: 3 }, () => readItemsFor(layout, CHAINS, 0, 1_000, CHUNK, createRng(3))[0]!);
    // Same chain, same rotation: a rotation alone would send all three to one node.
    planReads(items, [...items], replicas, budgets);
    expect(new Set(items.map((item) => item.address)).size).toBe(3);
    const failed = items[0]!;
    const before = failed.address;
    failed.rotation++;
    failed.failovers = 1;
    planReads([failed], [failed], replicas, budgets);
    const serving = replicas.serving(failed.chainId).map((target) => target.address);
    expect(failed.address).toBe(serving[(serving.indexOf(before) + 1) % serving.length]);
  });
});

describe('ReadBudgets', () => {
  it('halves what a node is asked after a refusal, never below the minimum, never up again', () => {
    const budgets = new ReadBudgets(1 << 20);
    expect(budgets.of('a')).toBe(1 << 20);
    expect(budgets.refused('a', 1 << 20)).toBe(true);
    expect(budgets.of('a')).toBe(1 << 19);
    expect(budgets.of('b')).toBe(1 << 20);
    // A refusal of a batch asked before the budget went down does not raise it.
    expect(budgets.refused('a', 1 << 20)).toBe(true);
    expect(budgets.of('a')).toBe(1 << 19);
    expect(budgets.refused('a', READ_BUDGET_MIN_BYTES + 1)).toBe(true);
    expect(budgets.of('a')).toBe(READ_BUDGET_MIN_BYTES);
    expect(budgets.refused('a', READ_BUDGET_MIN_BYTES)).toBe(false);
    expect(budgets.of('a')).toBe(READ_BUDGET_MIN_BYTES);
  });
});
