// The distributed KvEngine: Spindle's metadata in an etcd cluster (v3 API, etcd 3.4 or later), so
// any number of stateless meta processes can serve one namespace.
//
// Guarantees (the contract of engine.ts, checked by the conformance suite against a real etcd):
// - serializable transactions by optimistic concurrency: snapshot reads at one etcd revision, then
//   one etcd Txn whose compares check every read (etcd-txn.ts); a failed compare re-runs fn, and
//   re-runs go one at a time (retry-lane.ts) so a hot key makes progress; after txnRetriesMax
//   re-runs: TXN_CONFLICT (retryable);
// - a resolved transaction is durable: etcd answers a Txn after a quorum has it in its raft log;
// - etcd's limits are checked before sending, with INVALID_ARGUMENT naming the etcd flag: writes
//   per transaction and compares per transaction (--max-txn-ops), request bytes
//   (--max-request-bytes); a server with lower limits than configured gets the same error back;
// - an unreachable or leaderless etcd fails a call within callTimeoutMs as RPC_UNAVAILABLE
//   (retryable), never hangs; the engine recovers by itself when etcd does;
// - every key lives under `prefix`, so several clusters (or tests) can share one etcd.
import { Etcd3 } from 'etcd3';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { KV_TXN_RETRIES_DEFAULT, KV_TXN_RETRIES_MAX } from './constants.js';
import type { KvEngine, KvTransactionOptions, KvTxn } from './engine.js';
import { etcdError, isCompactedError } from './etcd-errors.js';
import { EtcdTxn, type EtcdTxnContext } from './etcd-txn.js';
import { cancelledError, RetryLane } from './retry-lane.js';

/** etcd's default --max-txn-ops: the engine assumes it unless told the server's own. */
const ETCD_TXN_OPS_DEFAULT = 128;
/** etcd's default --max-request-bytes (1.5 MiB). */
const ETCD_REQUEST_BYTES_DEFAULT = 1.5 * 1024 * 1024;
/** One etcd call's deadline: a leader election takes ~1 s; beyond this the caller hears UNAVAILABLE. */
const ETCD_CALL_TIMEOUT_MS_DEFAULT = 5000;
/** Replies up to this size: a range page of 64 keys with 1 MiB values, plus headroom. */
const ETCD_RECEIVE_BYTES_MAX = 80 * 1024 * 1024;

export interface EtcdEngineOptions {
  /** Client URLs or host:port of the etcd members. */
  endpoints: readonly string[];
  /** Namespace of this cluster's keys in etcd (default 'spindle/'). */
  prefix?: string;
  txnRetriesMax?: number;
  /** The server's --max-txn-ops (default etcd's 128). */
  txnOpsMax?: number;
  /** The server's --max-request-bytes (default etcd's 1.5 MiB). */
  requestBytesMax?: number;
  callTimeoutMs?: number;
  logger?: Logger;
}

function checkOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}

export class EtcdEngine implements KvEngine {
  readonly name = 'etcd';
  /** The etcd client, shared with the manager election (meta/mgmt). */
  readonly client: Etcd3;
  readonly prefix: Buffer;
  private readonly endpoints: readonly string[];
  private readonly retriesMax: number;
  private readonly txnOpsMax: number;
  private readonly requestBytesMax: number;
  private readonly callTimeoutMs: number;
  private readonly lane = new RetryLane();
  private readonly context: EtcdTxnContext;
  private closed = false;

  constructor(options: EtcdEngineOptions) {
    if (options.endpoints.length === 0) {
      throw new SpindleError(ErrorCode.CONFIG_INVALID, 'the etcd engine needs at least one endpoint (--etcd URLS)');
    }
    this.endpoints = options.endpoints;
    this.retriesMax = checkOption(
      'txnRetriesMax',
      options.txnRetriesMax ?? KV_TXN_RETRIES_DEFAULT,
      0,
      KV_TXN_RETRIES_MAX,
    );
    this.txnOpsMax = checkOption('txnOpsMax', options.txnOpsMax ?? ETCD_TXN_OPS_DEFAULT, 1, 1_000_000);
    this.requestBytesMax = checkOption(
      'requestBytesMax',
      options.requestBytesMax ?? ETCD_REQUEST_BYTES_DEFAULT,
      1024,
      2 ** 31 - 1,
    );
    this.callTimeoutMs = checkOption(
      'callTimeoutMs',
      options.callTimeoutMs ?? ETCD_CALL_TIMEOUT_MS_DEFAULT,
      1,
      600_000,
    );
    this.prefix = Buffer.from(options.prefix ?? 'spindle/');
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      grpcOptions: {
        'grpc.max_receive_message_length': ETCD_RECEIVE_BYTES_MAX,
        'grpc.max_send_message_length': ETCD_RECEIVE_BYTES_MAX,
      },
      // Date.now(): grpc deadlines are wall-clock instants.
      defaultCallOptions: () => ({ deadline: Date.now() + this.callTimeoutMs }),
    });
    this.context = {
      kv: this.client.kv,
      prefix: this.prefix,
      writesMax: this.txnOpsMax,
      call: (fn) => this.call(fn),
    };
  }

  /** Runs one etcd call, mapping its failure to a SpindleError. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new SpindleError(ErrorCode.CANCELLED, 'kv engine etcd is closed');
    try {
      return await fn();
    } catch (error) {
      if (isCompactedError(error)) throw error;
      throw etcdError(error, this.endpoints, this.limitsText());
    }
  }

  private limitsText(): string {
    return `the engine assumes --max-txn-ops ${this.txnOpsMax}, --max-request-bytes ${this.requestBytesMax}`;
  }

  async transaction<T>(fn: (txn: KvTxn) => Promise<T>, options: KvTransactionOptions = {}): Promise<T> {
    const readOnly = options.readOnly === true;
    const signal = options.signal;
    if (this.closed) throw new SpindleError(ErrorCode.CANCELLED, 'kv engine etcd is closed');
    if (signal?.aborted) throw cancelledError(signal);
    let laneHeld = false;
    try {
      for (let attempt = 1; ; attempt++) {
        if (attempt > 1 && !laneHeld) {
          await this.lane.acquire(signal);
          laneHeld = true;
        }
        if (signal?.aborted) throw cancelledError(signal);
        const txn = new EtcdTxn(this.context, readOnly);
        let committed: boolean;
        let result: T;
        try {
          result = await fn(txn);
          if (signal?.aborted) throw cancelledError(signal);
          if (this.closed) throw new SpindleError(ErrorCode.CANCELLED, 'kv engine etcd is closed');
          committed = readOnly || (await this.commit(txn));
        } catch (error) {
          // A snapshot etcd compacted away is the engine's doing: re-run fn at a newer revision.
          if (!isCompactedError(error)) throw error;
          committed = false;
          result = undefined as T;
        }
        if (!committed) {
          if (attempt > this.retriesMax) {
            throw new SpindleError(
              ErrorCode.TXN_CONFLICT,
              `kv transaction conflicted ${attempt} times with concurrent writers; retry later`,
            );
          }
          continue;
        }
        options.onCommitted?.();
        return result;
      }
    } finally {
      if (laneHeld) this.lane.release();
    }
  }

  /** Sends the attempt's writes conditional on its reads; false when a compare failed. */
  private async commit(txn: EtcdTxn): Promise<boolean> {
    if (txn.writes.size === 0) return true;
    const compares = txn.compares();
    if (compares.length > this.txnOpsMax) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `kv transaction read ${compares.length} keys and ranges before writing; etcd checks at most ` +
          `${this.txnOpsMax} (--max-txn-ops) in one commit: read less in a writing transaction`,
      );
    }
    const bytes = txn.requestBytes();
    if (bytes > this.requestBytesMax) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `kv transaction is about ${bytes} bytes; etcd accepts at most ${this.requestBytesMax} ` +
          '(--max-request-bytes): split it into smaller transactions',
      );
    }
    const response = await this.call(() => this.client.kv.txn({ compare: compares, success: txn.operations() }));
    return response.succeeded;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}

export async function createEtcdEngine(options: EtcdEngineOptions): Promise<EtcdEngine> {
  return new EtcdEngine(options);
}
