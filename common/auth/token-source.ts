// Which token a client process sends, found the same way by the CLI, the mount, the agent and the
// client library: an explicit token, then --token-file, then $SPINDLE_TOKEN, then
// $SPINDLE_TOKEN_FILE, then the credentials file entry of the --meta address (the admin token for
// admin commands, the client token otherwise). None found: no token (a cluster with
// authentication off needs none; one with it on answers UNAUTHENTICATED saying where to look).
import { readFileSync } from 'node:fs';
import { ErrorCode, SpindleError } from '../errors.js';
import { credentialsFilePath, readCredentials } from './credentials-file.js';

export interface TokenSourceOptions {
  metaAddress: string;
  /** The token itself (a library caller that has one). */
  token?: string;
  /** A file holding the token (--token-file). */
  tokenFile?: string;
  /** Which stored credential to use (default client). */
  role?: 'client' | 'admin';
  env?: NodeJS.ProcessEnv;
}

function readTokenFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `cannot read the token file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const token = text.trim();
  if (token === '') throw new SpindleError(ErrorCode.CONFIG_INVALID, `the token file ${path} is empty`);
  return token;
}

export function resolveToken(options: TokenSourceOptions): string | undefined {
  const env = options.env ?? process.env;
  if (options.token !== undefined && options.token !== '') return options.token;
  if (options.tokenFile !== undefined) return readTokenFile(options.tokenFile);
  const fromEnv = env.SPINDLE_TOKEN?.trim();
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const fileFromEnv = env.SPINDLE_TOKEN_FILE;
  if (fileFromEnv !== undefined && fileFromEnv !== '') return readTokenFile(fileFromEnv);
  const stored = readCredentials(options.metaAddress, credentialsFilePath(env));
  return options.role === 'admin' ? stored?.admin : stored?.client;
}
