// The client's bulk sessions (issue 4): one open session per storage node bulk address, on which
// chunk bytes travel as frames instead of inside gRPC messages (common/bulk/transport.ts).
//
// Guarantees (from common/bulk/session-pool.ts, which holds the sessions): a session is opened on
// first use and concurrent users share the connect; a session found closed (the node restarted,
// the connection broke) is replaced on the next use; a failed connect is not cached; close()
// closes every session and is idempotent, and use after it is CLIENT_CLOSED. A connect failure
// is RPC_UNAVAILABLE, which the chunk store retries like a broken gRPC channel (another replica
// for reads, a backoff for writes).
import { BulkSessionPool } from '../common/bulk/session-pool.js';
import { TcpBulkTransport } from '../common/bulk/tcp-transport.js';
import type { BulkChannel, BulkTransport } from '../common/bulk/transport.js';
import type { Logger } from 'pino';

export interface BulkSessionsOptions {
  /** The transport (default: raw TCP). Tests pass an InProcessBulkTransport. */
  transport?: BulkTransport;
  /** Give up opening a session after this long. */
  connectTimeoutMs: number;
  /** The client's token, sent in every session's hello (none: the nodes must not check credentials). */
  credential?: string;
  logger?: Logger;
}

export class BulkSessions {
  readonly transport: BulkTransport;
  private readonly pool: BulkSessionPool;

  constructor(options: BulkSessionsOptions) {
    this.transport =
      options.transport ?? new TcpBulkTransport({ logger: options.logger, credential: options.credential });
    this.pool = new BulkSessionPool(this.transport, { connectTimeoutMs: options.connectTimeoutMs });
  }

  /** An open session to the bulk listener at `bulkAddress`, connecting when there is none. */
  get(bulkAddress: string, signal?: AbortSignal): Promise<BulkChannel> {
    return this.pool.get(bulkAddress, signal);
  }

  /** Closes the session to `bulkAddress` (the next get() connects again). */
  drop(bulkAddress: string): void {
    this.pool.drop(bulkAddress);
  }

  /** Addresses with a session open or opening. */
  addresses(): string[] {
    return this.pool.addresses();
  }

  close(): void {
    this.pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
