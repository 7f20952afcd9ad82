// The cluster-manager role held through an etcd lease: each meta process on the etcd engine
// campaigns by creating the role's key (manager-role.ts MANAGER_ROLE_KEY) attached to its own
// lease, only if the key does not exist. The holder's etcd client keeps the lease alive; when the
// holder dies or is paused past the lease's TTL, etcd deletes the key and a standby's next attempt
// (every pollIntervalMs) creates it. Takeover therefore takes about ttlSeconds + pollIntervalMs.
//
// Guarantees:
// - at most one process holds the key at a time (etcd's create-if-absent compare);
// - `fence(txn)` fails a change unless the key holds this process's record, and the engine's
//   compare on the key's mod revision makes that check part of the commit (manager-role.ts);
// - the holder checks its key every poll, and a lost lease or a key now held by another process
//   reports `lost` once; campaigning then starts again with a new lease;
// - close() revokes the lease, so a clean shutdown (an upgrade) hands the role over at once.
import { randomUUID } from 'node:crypto';
import type { Lease } from 'etcd3';
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.js';
import type { EtcdEngine } from '../kv/etcd-engine.js';
import type { KvTxn } from '../kv/engine.js';
import { MANAGER_ROLE_KEY, type ManagerRole, type ManagerRoleEvents, standbyError } from './manager-role.js';

export interface EtcdManagerRoleOptions {
  engine: EtcdEngine;
  /** The address this meta process serves on (known once it listens), stored in the holder record. */
  address: Promise<string>;
  /** Lease TTL: how long a dead or paused holder keeps the role (etcd's minimum is about 2 s). */
  ttlSeconds: number;
  /** How often a standby tries to take the role and the holder checks it still has it. */
  pollIntervalMs: number;
  clock: Clock;
  logger: Logger;
}

interface HolderRecord {
  id: string;
  address: string;
}

export class EtcdManagerRole implements ManagerRole {
  private record = Buffer.alloc(0);
  private address = '';
  private readonly fullKey: Buffer;
  private readonly logger: Logger;
  private lease: Lease | undefined;
  private held = false;
  private holder: string | undefined;
  private events: ManagerRoleEvents | undefined;
  private closed = false;
  private loop: Promise<void> | undefined;
  private readonly stop = new AbortController();

  constructor(private readonly options: EtcdManagerRoleOptions) {
    this.fullKey = Buffer.concat([options.engine.prefix, MANAGER_ROLE_KEY]);
    this.logger = options.logger.child({ component: 'meta.mgmt.role' });
  }

  start(events: ManagerRoleEvents): void {
    this.events = events;
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    // Campaign only once the address is known: standbys name the holder's address to callers.
    this.address = await Promise.race([
      this.options.address,
      new Promise<string>((resolve) => this.stop.signal.addEventListener('abort', () => resolve(''))),
    ]);
    const record: HolderRecord = { id: randomUUID(), address: this.address };
    this.record = Buffer.from(JSON.stringify(record));
    while (!this.closed) {
      try {
        if (this.held) await this.checkHeld();
        else await this.tryAcquire();
      } catch (err) {
        this.logger.warn({ err: (err as Error).message, held: this.held }, 'manager role check failed; retrying');
      }
      try {
        await this.options.clock.sleep(this.options.pollIntervalMs, this.stop.signal);
      } catch {
        // closed
      }
    }
  }

  private newLease(): Lease {
    const lease = this.options.engine.client.lease(this.options.ttlSeconds);
    lease.on('lost', (err) => {
      if (this.lease === lease) this.lose(`etcd lease lost: ${err.message}`);
    });
    return lease;
  }

  private async tryAcquire(): Promise<void> {
    this.lease ??= this.newLease();
    const lease = this.lease;
    const leaseId = await this.options.engine.call(() => lease.grant());
    const response = await this.options.engine.call(() =>
      this.options.engine.client.kv.txn({
        compare: [{ key: this.fullKey, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: this.fullKey, value: this.record, lease: leaseId } }],
        failure: [{ request_range: { key: this.fullKey } }],
      }),
    );
    if (this.closed || this.lease !== lease) return;
    if (!response.succeeded) {
      const value = response.responses[0]?.response_range?.kvs[0]?.value;
      this.holder = value === undefined ? undefined : parseHolder(value)?.address;
      return;
    }
    this.held = true;
    this.holder = this.address;
    this.logger.info({ address: this.address, leaseId }, 'cluster-manager role acquired');
    await this.events?.acquired();
  }

  private async checkHeld(): Promise<void> {
    const response = await this.options.engine.call(() => this.options.engine.client.kv.range({ key: this.fullKey }));
    const value = response.kvs[0]?.value;
    if (value === undefined || !value.equals(this.record)) {
      this.holder = value === undefined ? undefined : parseHolder(value)?.address;
      this.lose('the role key no longer holds this process (its lease ended)');
    }
  }

  private lose(reason: string): void {
    const lease = this.lease;
    this.lease = undefined;
    // Stops its keepalive (and frees it in etcd when reachable; an expired one is gone anyway).
    void lease?.revoke().catch(() => undefined);
    if (!this.held) return;
    this.held = false;
    if (this.holder === this.address) this.holder = undefined;
    this.logger.warn({ reason }, 'cluster-manager role lost');
    this.events?.lost(reason);
  }

  async fence(txn: KvTxn): Promise<void> {
    if (!this.held) throw standbyError(this.holder);
    const value = await txn.get(MANAGER_ROLE_KEY);
    if (value === undefined || !Buffer.from(value).equals(this.record)) {
      throw standbyError(value === undefined ? undefined : parseHolder(Buffer.from(value))?.address);
    }
  }

  holderAddress(): string | undefined {
    return this.holder;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    await this.loop;
    const lease = this.lease;
    this.lease = undefined;
    this.held = false;
    if (lease !== undefined) {
      try {
        await lease.revoke();
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'could not revoke the manager lease; it ends by its TTL');
      }
    }
  }
}

function parseHolder(value: Buffer): HolderRecord | undefined {
  try {
    return JSON.parse(value.toString()) as HolderRecord;
  } catch {
    return undefined;
  }
}
