// Tokens for attack tests: minted with a test cluster's own key (DATA_DIR/auth), so a test can act
// as any user, any storage node, or an admin of that cluster, and raw gRPC clients that send them.
import { join } from 'node:path';
import { channelOptionsWithToken } from '../../../common/auth/client-auth.js';
import { PRIVATE_KEY_FILE, readPrivateKeyFile } from '../../../common/auth/cluster-key.js';
import type { Principal } from '../../../common/auth/principal.js';
import { mintToken } from '../../../common/auth/token.js';
import { insecureChannel } from '../../../common/rpc.js';
import { MgmtClient, StorageClient } from '../../../proto/index.js';

export interface TokenMinter {
  /** A token of `principal`, signed by the cluster's key. */
  mint(principal: Principal): string;
  client(user: string, uid: number, gid?: number): string;
  storage(nodeId: number): string;
}

export async function tokenMinter(dataDir: string): Promise<TokenMinter> {
  const key = await readPrivateKeyFile(join(dataDir, 'auth', PRIVATE_KEY_FILE));
  const mint = (principal: Principal) => mintToken(key, principal, Date.now());
  return {
    mint,
    client: (user, uid, gid = uid) => mint({ role: 'client', user, uid, gid }),
    storage: (nodeId) => mint({ role: 'storage', user: `node-${nodeId}`, uid: 0, gid: 0, nodeId }),
  };
}

/** A raw Mgmt client that sends `token` on every call. */
export function mgmtAs(address: string, token: string): MgmtClient {
  return new MgmtClient(address, insecureChannel(), channelOptionsWithToken(token));
}

/** A raw Storage client that sends `token` on every call. */
export function storageAs(address: string, token: string): StorageClient {
  return new StorageClient(address, insecureChannel(), channelOptionsWithToken(token));
}
