// gRPC clients of the other storage nodes this node forwards updates to, one per address, created
// on first use and closed with the node. Bounded by PEER_CLIENTS_MAX (oldest closed first).
import { channelOptionsWithToken } from '../common/auth/client-auth.js';
import { channelCredentials } from '../common/rpc.js';
import { StorageClientFast } from '../common/storage-codec.js';
import type { StorageClient } from '../proto/index.js';
import { PEER_CLIENTS_MAX } from './constants.js';

export class PeerClients {
  private readonly clients = new Map<string, StorageClient>();
  private closed = false;

  /** `token`: the node's bearer token, which every call to a peer carries (none: auth off). */
  constructor(private readonly token?: string) {}

  get(address: string): StorageClient {
    let client = this.clients.get(address);
    if (client === undefined) {
      if (this.closed) throw new Error('peer clients are closed');
      client = new StorageClientFast(address, channelCredentials(), channelOptionsWithToken(this.token));
      this.clients.set(address, client);
      while (this.clients.size > PEER_CLIENTS_MAX) {
        const [oldest, stale] = this.clients.entries().next().value as [string, StorageClient];
        this.clients.delete(oldest);
        stale.close();
      }
    }
    return client;
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
