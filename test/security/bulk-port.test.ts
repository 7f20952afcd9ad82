// A storage node's bulk data port under attack (issue 16): each attack of the issue, scripted with
// raw connections (testing/bulk-attacker.ts) against a real storage node whose config gives it
// short timeouts and small byte budgets, while a legitimate client on another loopback address
// keeps writing and reading through the same node. Each test says which defence it exercises:
//   - 4,096 idle sessions from one address: the per-peer session limit refuses all but
//     bulkSessionsPerPeerMax, and the idle timeout closes the rest;
//   - frames nobody claims (4 sessions × 4 × 64 MiB, and 4 headers of 256 MiB): the byte
//     budgets close the greediest sessions and the frame limit refuses the headers, peak RSS bounded;
//   - 16 half-sent 64 MiB frames: the progress timeout closes the stalled sessions;
//   - 2,000 headers of 64 MiB with no payload: nothing is allocated at a header (VmSize bounded);
//   - a 1 MB session id in a BulkRef: a short INVALID_ARGUMENT, and the caller's connection works on.
// Memory is read from /proc/<pid>/status; the bounds are generous (several times what the budgets
// allow) and far below what each attack took before (issue 16: +0.9 GB, +1.4 GB, 166 GB virtual).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, makeGenericClientConstructor, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { FrameType, encodeFrameHeader } from '../../common/bulk/tcp-transport.js';
import { CHANNEL_OPTIONS } from '../../common/rpc.js';
import { BatchReadRequest } from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import {
  MIB,
  allClosed,
  frameBytes,
  openRawBulkSession,
  processMemory,
  sampleMemory,
  writeOrClose,
  type RawBulkSession,
} from './testing/bulk-attacker.js';
import { callMetadata } from './testing/credentials.js';

const configDir = mkdtempSync(join(tmpdir(), 'bulk-hardening-port-'));
const configFile = join(configDir, 'storage.json');
const LIMITS = {
  bulkSessionsPerPeerMax: 64,
  bulkHelloTimeoutMs: 2_000,
  bulkIdleTimeoutMs: 3_000,
  // Long enough that a 64 MiB frame sent by this (loaded) test process is not taken for a stalled one.
  bulkProgressTimeoutMs: 6_000,
  bulkUnclaimedMaxBytes: 100 * MIB,
  bulkNodeHeldMaxBytes: 200 * MIB,
};
writeFileSync(configFile, JSON.stringify({ storage: LIMITS }));

const cluster = useCluster({
  storageNodes: 1,
  replicas: 1,
  targetsPerNode: 1,
  storageOverrides: { 1: { config: configFile } },
});
afterAll(() => rmSync(configDir, { recursive: true, force: true }));

/** What the attacker's hellos carry: a valid client token (a compromised client), if the cluster checks. */
const attackerCredential = () => cluster().clientToken ?? '';

function node() {
  const service = cluster().local.storage.get(1)!;
  return { pid: service.pid, bulk: (service.ready as unknown as { bulk: string }).bulk, logFile: service.logFile };
}

/** A legitimate client's write and read through the attacked node (from 127.0.0.1). */
async function legitimateRoundTrip(name: string): Promise<void> {
  const client = await cluster().client();
  const data = Buffer.alloc(300 * 1024, name);
  await client.writeFile(`/${name}`, data);
  expect((await client.readFile(`/${name}`)).equals(data)).toBe(true);
}

/** One line on stderr with a memory figure a test bounds (what the note reports). */
function report(what: string, bytes: number): void {
  process.stderr.write(`bulk-port: ${what}: ${(bytes / MIB).toFixed(0)} MiB\n`);
}

function logLines(pattern: RegExp): number {
  return readFileSync(node().logFile, 'utf8')
    .split('\n')
    .filter((line) => pattern.test(line)).length;
}

describe('the bulk data port under attack', () => {
  const sessions: RawBulkSession[] = [];
  const hold = (session: RawBulkSession) => {
    sessions.push(session);
    return session;
  };
  afterAll(() => {
    for (const session of sessions) session.socket.destroy();
  });

  it('4,096 idle sessions from one address: all but the per-peer limit refused, the rest closed idle', async () => {
    await legitimateRoundTrip('before-idle');
    const attack: RawBulkSession[] = [];
    const accepted = new Set<RawBulkSession>();
    let heldMost = 0;
    for (let batch = 0; batch < 16; batch++) {
      const opened = Array.from({ length: 256 }, () =>
        hold(openRawBulkSession(node().bulk, { localAddress: '127.0.0.2', credential: attackerCredential() })),
      );
      const answers = await Promise.all(opened.map((session) => session.accepted));
      opened.forEach((session, i) => answers[i] && accepted.add(session));
      attack.push(...opened);
      // Sessions closed for idleness free their slots: count what the attacker holds at once.
      heldMost = Math.max(heldMost, [...accepted].filter((session) => !session.isClosed()).length);
    }
    expect(heldMost).toBeGreaterThan(0);
    expect(heldMost).toBeLessThanOrEqual(LIMITS.bulkSessionsPerPeerMax);
    expect(attack.length - accepted.size, 'refused connections').toBeGreaterThan(3_000);
    // The node keeps serving while the attacker holds what it was given.
    await legitimateRoundTrip('during-idle');
    // Idle sessions are closed by the node (idle timeout 3 s; generous bound).
    expect(await allClosed(attack, 60_000)).toBe(0);
    expect(logLines(/bulk connections refused at a session limit/)).toBeGreaterThan(0);
    await legitimateRoundTrip('after-idle');
  }, 180_000);

  it('frames nobody claims: the byte budgets close the greediest sessions; peak RSS stays bounded', async () => {
    const before = processMemory(node().pid);
    const sampling = sampleMemory(node().pid);
    const payload = Buffer.alloc(64 * MIB, 7);
    const attack = Array.from({ length: 4 }, (_, i) =>
      hold(openRawBulkSession(node().bulk, { localAddress: `127.0.0.${10 + i}`, credential: attackerCredential() })),
    );
    expect(await Promise.all(attack.map((session) => session.accepted))).toEqual([true, true, true, true]);
    await Promise.all(
      attack.map(async (session) => {
        for (let id = 1; id <= 4; id++) await writeOrClose(session, frameBytes(FrameType.DATA, id, payload));
      }),
    );
    // Headers declaring 256 MiB (beyond the 64 MiB frame limit) are refused at the header.
    const oversized = Array.from({ length: 4 }, () =>
      hold(openRawBulkSession(node().bulk, { localAddress: '127.0.0.20', credential: attackerCredential() })),
    );
    await Promise.all(oversized.map((session) => session.accepted));
    for (const session of oversized) session.socket.write(encodeFrameHeader(FrameType.DATA, 1, 256 * MIB, 0));
    expect(await allClosed(oversized, 30_000)).toBe(0);

    await legitimateRoundTrip('after-unclaimed');
    const growth = sampling().residentMaxBytes - before.residentBytes;
    report('unclaimed frames, highest RSS growth', growth);
    // 4 × 256 MiB were sent; the node may hold 200 MiB of them (plus buffers in flight and GC lag).
    // Measured: ~160–230 MiB; ~740 MiB with the budgets off.
    expect(growth, `peak RSS grew by ${(growth / MIB).toFixed(0)} MiB`).toBeLessThan(450 * MIB);
    expect(logLines(/bulk session over its byte budget; closed/)).toBeGreaterThan(0);
    expect(logLines(/bulk frame longer than the frame limit/)).toBeGreaterThanOrEqual(4);
    for (const session of attack) session.socket.destroy();
  }, 180_000);

  it('16 half-sent 64 MiB frames: the progress timeout closes the stalled sessions', async () => {
    const half = Buffer.alloc(32 * MIB, 3);
    const before = processMemory(node().pid);
    const sampling = sampleMemory(node().pid);
    const attack = Array.from({ length: 16 }, (_, i) =>
      hold(openRawBulkSession(node().bulk, { localAddress: `127.0.1.${1 + i}`, credential: attackerCredential() })),
    );
    expect((await Promise.all(attack.map((session) => session.accepted))).every(Boolean)).toBe(true);
    const stalledBefore = logLines(/bulk frame made no progress in time/);
    await Promise.all(
      attack.map((session, i) =>
        writeOrClose(session, Buffer.concat([encodeFrameHeader(FrameType.DATA, i + 1, 64 * MIB, 0), half])),
      ),
    );
    // Every session ends: over the budget at once, or stalled until the progress timeout (6 s).
    expect(await allClosed(attack, 60_000)).toBe(0);
    expect(logLines(/bulk frame made no progress in time/)).toBeGreaterThan(stalledBefore);
    const growth = sampling().residentMaxBytes - before.residentBytes;
    report('half-sent frames, highest RSS growth', growth);
    expect(growth, `peak RSS grew by ${(growth / MIB).toFixed(0)} MiB`).toBeLessThan(600 * MIB);
    await legitimateRoundTrip('after-stalled');
  }, 180_000);

  it('2,000 headers of 64 MiB without payload: nothing is allocated at a header', async () => {
    const before = processMemory(node().pid);
    const sampling = sampleMemory(node().pid);
    const attack: RawBulkSession[] = [];
    for (let peer = 0; peer < 40; peer++) {
      const opened = Array.from({ length: 50 }, () =>
        hold(
          openRawBulkSession(node().bulk, { localAddress: `127.0.2.${1 + peer}`, credential: attackerCredential() }),
        ),
      );
      const accepted = await Promise.all(opened.map((session) => session.accepted));
      opened.forEach((session, i) => {
        if (accepted[i]) session.socket.write(encodeFrameHeader(FrameType.DATA, 1, 64 * MIB, 0));
      });
      attack.push(...opened);
    }
    await legitimateRoundTrip('during-headers');
    const during = sampling();
    const virtualGrowth = during.virtualMaxBytes - before.virtualBytes;
    report('2,000 headers, highest VmSize growth', virtualGrowth);
    report('2,000 headers, highest VmRSS growth', during.residentMaxBytes - before.residentBytes);
    // Before: 2,000 × 64 MiB = 125 GiB of virtual memory at once.
    expect(virtualGrowth, `VmSize grew by ${(virtualGrowth / MIB).toFixed(0)} MiB`).toBeLessThan(1024 * MIB);
    expect(during.residentMaxBytes - before.residentBytes).toBeLessThan(600 * MIB);
    expect(await allClosed(attack, 60_000)).toBe(0);
  }, 180_000);

  it('a 1 MB session id in a BulkRef: a short INVALID_ARGUMENT; the connection keeps working', async () => {
    const Generic = makeGenericClientConstructor({}, 'raw');
    const raw = new Generic(cluster().nodes[0]!.addr, credentials.createInsecure(), CHANNEL_OPTIONS);
    const identity = (bytes: Buffer) => bytes;
    const batchRead = (bulkSessionId: string) =>
      new Promise<ServiceError | null>((resolve) =>
        raw.makeUnaryRequest(
          '/spindle.Storage/BatchRead',
          identity,
          identity,
          Buffer.from(BatchReadRequest.encode({ ios: [], bulkSessionId }).finish()),
          callMetadata(cluster().clientToken),
          { deadline: Date.now() + 20_000 },
          (error) => resolve(error),
        ),
      );
    try {
      const error = await batchRead('x'.repeat(1024 * 1024));
      expect(error?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(error!.details).toMatch(/is not a session id/);
      expect(error!.details.length).toBeLessThan(400);
      // The same connection answers the next calls.
      for (let i = 0; i < 3; i++) expect(await batchRead('')).toBeNull();
    } finally {
      raw.close();
    }
  }, 60_000);
});
