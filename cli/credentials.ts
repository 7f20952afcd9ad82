// The admin commands' credentials (docs/security.md): `--token-file FILE` (any command, see
// token-file-option.ts) or $SPINDLE_TOKEN / $SPINDLE_TOKEN_FILE, else the admin token `spindle up`
// stored for the --meta address in the credentials file.
import type { ChannelOptions } from '@grpc/grpc-js';
import { channelOptionsWithToken } from '../common/auth/client-auth.js';
import { resolveToken } from '../common/auth/token-source.js';

/** Channel options of an admin command's raw gRPC clients: the admin token for `meta`. */
export function adminChannelOptions(meta: string): ChannelOptions {
  return channelOptionsWithToken(resolveToken({ metaAddress: meta, role: 'admin' }));
}

/** The admin token for `meta`, for calls made through helpers that take one. */
export function adminToken(meta: string): string | undefined {
  return resolveToken({ metaAddress: meta, role: 'admin' });
}
