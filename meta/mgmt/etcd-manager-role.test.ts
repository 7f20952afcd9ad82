// The cluster-manager role on a real etcd-server: of two campaigning processes exactly one holds
// the role; the holder's fence passes inside a transaction and a standby's refuses; a clean close
// hands the role over at once; and when the holder's key goes (its lease ended) while a change is
// in flight, that change cannot commit — the fencing the cluster manager relies on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdProcess, startEtcd } from '../../cluster/etcd-service.js';
import { systemClock } from '../../common/clock.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { createEtcdEngine, type EtcdEngine } from '../kv/etcd-engine.js';
import { EtcdManagerRole } from './etcd-manager-role.js';
import { MANAGER_ROLE_KEY } from './manager-role.js';

let baseDir = '';
let etcd: EtcdProcess[] = [];
let prefixes = 0;

beforeAll(async () => {
  baseDir = mkdtempSync(join(tmpdir(), 'spindle-role-'));
  etcd = await startEtcd({ baseDir, logDir: baseDir, detached: false });
}, 60_000);

afterAll(async () => {
  await Promise.all(etcd.map((member) => member.stop()));
  rmSync(baseDir, { recursive: true, force: true });
});

interface Candidate {
  engine: EtcdEngine;
  role: EtcdManagerRole;
  events: string[];
}

async function candidates(count: number): Promise<Candidate[]> {
  const prefix = `role-${process.pid}-${prefixes++}/`;
  const out: Candidate[] = [];
  for (let i = 0; i < count; i++) {
    const engine = await createEtcdEngine({ endpoints: [etcd[0]!.ready.endpoint], prefix });
    const role = new EtcdManagerRole({
      engine,
      address: Promise.resolve(`meta-${i}:7400`),
      ttlSeconds: 2,
      pollIntervalMs: 50,
      clock: systemClock,
      logger: silentLogger(),
    });
    const events: string[] = [];
    role.start({ acquired: async () => void events.push('acquired'), lost: () => void events.push('lost') });
    out.push({ engine, role, events });
  }
  return out;
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const holds = (c: Candidate) => c.events.at(-1) === 'acquired';

/** A change fenced by `c`'s role: a write that commits only while it holds the role. */
function fencedWrite(c: Candidate, value: string, beforeCommit?: () => Promise<void>): Promise<void> {
  return c.engine.transaction(async (txn) => {
    await c.role.fence(txn);
    await beforeCommit?.();
    txn.put(Buffer.from('change'), Buffer.from(value));
  });
}

describe('EtcdManagerRole', () => {
  it('gives the role to exactly one candidate, fences the other, and hands over on close', async () => {
    const all = await candidates(2);
    try {
      await until('one holder', () => all.some(holds));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(all.filter(holds)).toHaveLength(1);
      const holder = all.find(holds)!;
      const standby = all.find((c) => c !== holder)!;
      expect(standby.role.holderAddress()).toBe(holder.role.holderAddress());
      await fencedWrite(holder, 'by holder');
      const refused = await fencedWrite(standby, 'by standby').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(SpindleError);
      expect((refused as SpindleError).errorCode).toBe(ErrorCode.RPC_UNAVAILABLE);
      expect((refused as SpindleError).retryable).toBe(true);

      const closedAt = Date.now();
      await holder.role.close();
      await until('the standby to take over', () => holds(standby), 5_000);
      // A clean close revokes the lease: no wait for the 2 s TTL.
      expect(Date.now() - closedAt).toBeLessThan(1_500);
      await fencedWrite(standby, 'by new holder');
    } finally {
      for (const c of all) {
        await c.role.close();
        await c.engine.close();
      }
    }
  });

  it('fails a change in flight when another process takes the role before it commits', async () => {
    const [holder] = await candidates(1);
    try {
      await until('the role', () => holds(holder!));
      const error = await fencedWrite(holder!, 'too late', async () => {
        // The lease ended (the holder was paused past its TTL) and a standby took the role.
        const key = Buffer.concat([holder!.engine.prefix, MANAGER_ROLE_KEY]);
        await holder!.engine.client.put(key).value(JSON.stringify({ id: 'standby', address: 'meta-9:7400' }));
      }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(SpindleError);
      expect((error as SpindleError).errorCode).toBe(ErrorCode.RPC_UNAVAILABLE);
      const stored = await holder!.engine.transaction((txn) => txn.get(Buffer.from('change')), { readOnly: true });
      expect(stored).toBeUndefined();
      expect((error as SpindleError).message).toContain('meta-9:7400');
      await until('the holder to notice', () => holder!.events.includes('lost'));
    } finally {
      await holder!.role.close();
      await holder!.engine.close();
    }
  });
});
