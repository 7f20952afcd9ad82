// One gRPC StorageClient per storage node address, created on first use with the channel options
// that matter for bulk data (CHANNEL_OPTIONS: 16 MiB flow-control window, large messages) and the
// copy-saving codecs of common/storage-codec.ts for the messages that carry chunk bytes.
// Guarantees: at most one channel per address; close() closes every channel and is idempotent;
// get() after close() is a CLIENT_CLOSED error.
import { ErrorCode, SpindleError } from '../common/errors.js';
import { channelOptionsWithToken } from '../common/auth/client-auth.js';
import { channelCredentials } from '../common/rpc.js';
import { StorageClientFast } from '../common/storage-codec.js';
import type { StorageClient } from '../proto/index.js';

export class StorageConnections {
  private readonly clients = new Map<string, StorageClient>();
  private isClosed = false;

  /** `token`: the bearer token every call carries (none: a cluster with authentication off). */
  constructor(private readonly options: { token?: string } = {}) {}

  /** The client for `address` (host:port), created on first use. */
  get(address: string): StorageClient {
    if (this.isClosed) throw new SpindleError(ErrorCode.CLIENT_CLOSED, 'storage connections are closed');
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new StorageClientFast(address, channelCredentials(), channelOptionsWithToken(this.options.token));
      this.clients.set(address, client);
    }
    return client;
  }

  /** Addresses with an open channel. */
  addresses(): string[] {
    return [...this.clients.keys()];
  }

  /** Closes one channel (e.g. after a node changed address); the next get() opens a new one. */
  drop(address: string): void {
    this.clients.get(address)?.close();
    this.clients.delete(address);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
