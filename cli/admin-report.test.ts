import { describe, expect, it } from 'vitest';
import { LocalTargetState, PublicTargetState, type RoutingInfo } from '../proto/index.js';
import {
  chainRows,
  formatChains,
  formatNodes,
  formatResync,
  formatTargets,
  nodeRows,
  targetRows,
} from './admin-report.js';

const routing: RoutingInfo = {
  version: 42,
  nodes: [
    { nodeId: 1, address: '127.0.0.1:7401', hostname: 'a', lastHeartbeatUs: 9_900_000, alive: true },
    { nodeId: 2, address: '127.0.0.1:7402', hostname: 'b', lastHeartbeatUs: 0, alive: false },
  ],
  targets: [
    {
      targetId: 1000,
      nodeId: 1,
      chainId: 1,
      publicState: PublicTargetState.SERVING,
      localState: LocalTargetState.UPTODATE,
      path: '/a',
      usedBytes: 2048,
      capacityBytes: 0,
    },
    {
      targetId: 2000,
      nodeId: 2,
      chainId: 1,
      publicState: PublicTargetState.SYNCING,
      localState: LocalTargetState.ONLINE,
      path: '/b',
      usedBytes: 0,
      capacityBytes: 0,
      resync: {
        chainId: 1,
        chainVersion: 3,
        targetId: 2000,
        fromTargetId: 1000,
        chunksScanned: 10,
        chunksCopied: 4,
        chunksRemoved: 1,
        bytesCopied: 4 * 1024 * 1024,
        done: false,
        startedUs: 1,
        updatedUs: 2,
      },
    },
    {
      targetId: 2001,
      nodeId: 2,
      chainId: 0,
      publicState: PublicTargetState.OFFLINE,
      localState: LocalTargetState.LOCAL_OFFLINE,
      path: '/c',
      usedBytes: 0,
      capacityBytes: 0,
    },
  ],
  chains: [{ chainId: 1, chainVersion: 3, targetIds: [1000, 2000] }],
  chainTables: [{ tableId: 1, version: 1, chainIds: [1] }],
};

describe('spindle admin listings', () => {
  it('nodes: alive, time since the last heartbeat, target count', () => {
    const rows = nodeRows(routing, 10_000_000);
    expect(rows).toEqual([
      { nodeId: 1, address: '127.0.0.1:7401', hostname: 'a', alive: true, lastHeartbeatAgoMs: 100, targets: 1 },
      { nodeId: 2, address: '127.0.0.1:7402', hostname: 'b', alive: false, lastHeartbeatAgoMs: null, targets: 2 },
    ]);
    const lines = formatNodes(rows, routing.version);
    expect(lines[0]).toMatch(/^NODE +ADDRESS +ALIVE +LAST HEARTBEAT +TARGETS +HOST$/);
    expect(lines[1]).toMatch(/1 +127\.0\.0\.1:7401 +yes +100 ms ago +1 +a/);
    expect(lines[2]).toMatch(/2 +127\.0\.0\.1:7402 +NO +- +2 +b/);
    expect(lines.at(-1)).toBe('routing version 42');
  });

  it('targets: place in the chain, states by name, resync progress', () => {
    const rows = targetRows(routing);
    expect(rows.map((r) => [r.targetId, r.position, r.publicState, r.localState])).toEqual([
      [1000, 1, 'serving', 'uptodate'],
      [2000, 2, 'syncing', 'online'],
      [2001, 0, 'offline', 'offline'],
    ]);
    expect(rows[1]!.resync).toEqual({
      fromTargetId: 1000,
      chunksScanned: 10,
      chunksCopied: 4,
      chunksRemoved: 1,
      bytesCopied: 4 * 1024 * 1024,
      done: false,
    });
    expect(formatResync(rows[1]!.resync)).toBe('running (from 1000: 4 copied, 1 removed of 10 scanned, 4.00 MiB)');
    const lines = formatTargets(rows, routing.version);
    expect(lines[0]).toMatch(/^TARGET +NODE +CHAIN +POS +STATE +LOCAL +USED +RESYNC$/);
    expect(lines[2]).toMatch(/2000 +2 +1 +2 +syncing +online +0 B +running/);
    expect(lines[3]).toMatch(/2001 +2 +- +- +offline +offline/);
  });

  it('chains: version and targets head first with their states', () => {
    expect(chainRows(routing)).toEqual([
      {
        chainId: 1,
        chainVersion: 3,
        targets: [
          { targetId: 1000, publicState: 'serving' },
          { targetId: 2000, publicState: 'syncing' },
        ],
      },
    ]);
    expect(formatChains(chainRows(routing), 42)[1]).toMatch(/1 +3 +1000\(serving\) → 2000\(syncing\)/);
  });
});
