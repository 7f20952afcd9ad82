// One open bulk session per peer address, for whoever sends chunk bytes to many nodes: clients
// (reads and writes) and storage nodes (updates forwarded down a chain).
//
// Guarantees: concurrent get()s of one address share one connect; a session found closed (the
// peer restarted, the connection broke) is replaced on the next get(); a failed connect is not
// cached (the next get() tries again); close() closes every session and get() after it is a
// CLIENT_CLOSED error.
import { ErrorCode, SpindleError } from '../errors.js';
import type { BulkChannel, BulkTransport } from './transport.js';

export interface BulkSessionPoolOptions {
  /** Give up a connect after this long (RPC_UNAVAILABLE). */
  connectTimeoutMs: number;
  /** Most sessions kept open; the least recently opened is closed beyond it. */
  maxSessions?: number;
}

const MAX_SESSIONS_DEFAULT = 256;

export class BulkSessionPool {
  private readonly sessions = new Map<string, Promise<BulkChannel>>();
  private isClosed = false;

  constructor(
    readonly transport: BulkTransport,
    private readonly options: BulkSessionPoolOptions,
  ) {}

  /** An open session to `address`, connecting when there is none. */
  async get(address: string, signal?: AbortSignal): Promise<BulkChannel> {
    if (this.isClosed) throw new SpindleError(ErrorCode.CLIENT_CLOSED, 'bulk sessions are closed');
    const known = this.sessions.get(address);
    if (known !== undefined) {
      const channel = await known.catch(() => undefined);
      if (channel !== undefined && !channel.closed) return channel;
      // Replace it, unless a concurrent caller already did.
      if (this.sessions.get(address) === known) this.sessions.delete(address);
      return this.get(address, signal);
    }
    const connecting = this.transport.connect(address, { timeoutMs: this.options.connectTimeoutMs, signal });
    this.sessions.set(address, connecting);
    this.evictBeyondLimit();
    try {
      const channel = await connecting;
      if (this.isClosed) {
        channel.close();
        throw new SpindleError(ErrorCode.CLIENT_CLOSED, 'bulk sessions are closed');
      }
      return channel;
    } catch (err) {
      if (this.sessions.get(address) === connecting) this.sessions.delete(address);
      throw err;
    }
  }

  /** Closes the session to `address` (the next get() connects again). */
  drop(address: string): void {
    const known = this.sessions.get(address);
    this.sessions.delete(address);
    void known?.then(
      (channel) => channel.close(),
      () => undefined,
    );
  }

  /** Addresses with a session open or opening. */
  addresses(): string[] {
    return [...this.sessions.keys()];
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const address of [...this.sessions.keys()]) this.drop(address);
  }

  private evictBeyondLimit(): void {
    const max = this.options.maxSessions ?? MAX_SESSIONS_DEFAULT;
    while (this.sessions.size > max) {
      const oldest = this.sessions.keys().next().value as string;
      this.drop(oldest);
    }
  }
}
