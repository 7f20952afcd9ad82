// `spindle admin token create`: asks meta (Mgmt.CreateToken, admin only) to mint a token and
// prints it — or writes it to --out FILE with mode 0600. Loaded only when the command runs.
import { writeFile } from 'node:fs/promises';
import { parseAddressList } from '../common/failover-clients.js';
import { isRetryableError } from '../common/retry.js';
import { callUnary, channelCredentials } from '../common/rpc.js';
import { type CreateTokenResponse, MgmtClient } from '../proto/index.js';
import { adminChannelOptions } from './credentials.js';

/** Answer deadline of one CreateToken call. */
const CREATE_TOKEN_TIMEOUT_MS = 10_000;

export interface TokenCreateOptions {
  role: 'client' | 'admin' | 'storage';
  user?: string;
  uid: number;
  gid: number;
  node?: number;
  ttlSeconds?: number;
}

export async function createToken(meta: string, o: TokenCreateOptions): Promise<CreateTokenResponse> {
  const addresses = parseAddressList(meta);
  for (let index = 0; ; index++) {
    const client = new MgmtClient(addresses[index]!, channelCredentials(), adminChannelOptions(meta));
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      return await callUnary(
        client,
        client.createToken,
        {
          role: o.role,
          user: o.user ?? '',
          uid: o.uid,
          gid: o.gid,
          nodeId: o.node ?? 0,
          ttlSeconds: o.ttlSeconds ?? 0,
        },
        'mgmt.CreateToken',
        { timeoutMs: CREATE_TOKEN_TIMEOUT_MS },
      );
    } catch (err) {
      if (index + 1 >= addresses.length || !isRetryableError(err)) throw err;
    } finally {
      clearInterval(keepAlive);
      client.close();
    }
  }
}

/** Writes a token where only its owner can read it. */
export async function writeTokenFile(path: string, token: string): Promise<void> {
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
}
