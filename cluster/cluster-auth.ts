// The credentials of a local cluster (docs/security.md): the launcher makes the cluster key in
// DATA_DIR/auth (meta signs with the same file), mints an admin token, a client token for the user
// who runs it, and a token per storage node (written to a file in the node's data dir, never on a
// command line), and stores the admin and client tokens in the per-user credentials file under
// each meta address, so the CLI, mount and agent on this machine find them without flags.
import { readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import {
  loadOrCreateClusterKey,
  PRIVATE_KEY_FILE,
  PUBLIC_KEY_FILE,
  type ClusterKey,
} from '../common/auth/cluster-key.js';
import { forgetCredentials, storeCredentials } from '../common/auth/credentials-file.js';
import { mintToken } from '../common/auth/token.js';

/** Subdirectory of the cluster's data dir holding the key pair (the same one meta uses by default). */
const AUTH_DIRECTORY = 'auth';
/** A storage node's token, in its own data dir (mode 0600). */
const NODE_TOKEN_FILE = 'node-token';

export class ClusterAuth {
  readonly keyFile: string;
  readonly publicKeyFile: string;
  readonly adminToken: string;
  readonly clientToken: string;
  private readonly stored = new Set<string>();

  private constructor(
    private readonly key: ClusterKey,
    dir: string,
    private readonly credentialsFile: string | undefined,
  ) {
    this.keyFile = join(dir, PRIVATE_KEY_FILE);
    this.publicKeyFile = join(dir, PUBLIC_KEY_FILE);
    const now = Date.now();
    this.adminToken = mintToken(key, { role: 'admin', user: 'admin', uid: 0, gid: 0 }, now);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const user = safeUserName(uid);
    this.clientToken = mintToken(key, { role: 'client', user, uid, gid }, now);
  }

  /** Loads (or creates, on first start) the key of the cluster in `dataDir`. */
  static async open(dataDir: string, credentialsFile: string | undefined): Promise<ClusterAuth> {
    const dir = join(dataDir, AUTH_DIRECTORY);
    return new ClusterAuth(await loadOrCreateClusterKey(dir), dir, credentialsFile);
  }

  /**
   * Writes the token of the node in `storageDataDir` (local index `index`) and returns the file:
   * the node keeps the id in its node.json, a fresh node i joins as node i.
   */
  async nodeTokenFile(index: number, storageDataDir: string): Promise<string> {
    const nodeId = persistedNodeId(storageDataDir) ?? index;
    const token = mintToken(this.key, { role: 'storage', user: `node-${nodeId}`, uid: 0, gid: 0, nodeId }, Date.now());
    const path = join(storageDataDir, NODE_TOKEN_FILE);
    await mkdir(storageDataDir, { recursive: true });
    await writeFile(path, `${token}\n`, { mode: 0o600 });
    await chmod(path, 0o600);
    return path;
  }

  /** Stores the admin and client tokens under each meta address in the credentials file. */
  async store(metaAddresses: readonly string[]): Promise<void> {
    if (this.credentialsFile === undefined) return;
    for (const address of metaAddresses) {
      await storeCredentials(address, { admin: this.adminToken, client: this.clientToken }, this.credentialsFile);
      this.stored.add(address);
    }
  }

  /** Removes what store() wrote (the cluster stopped; its ports may go to another one). */
  async forget(): Promise<void> {
    if (this.credentialsFile === undefined) return;
    for (const address of this.stored) await forgetCredentials(address, this.credentialsFile).catch(() => undefined);
    this.stored.clear();
  }
}

function safeUserName(uid: number): string {
  try {
    return userInfo().username || `uid-${uid}`;
  } catch {
    return `uid-${uid}`;
  }
}

function persistedNodeId(storageDataDir: string): number | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(storageDataDir, 'node.json'), 'utf8')) as { nodeId?: unknown };
    return typeof parsed.nodeId === 'number' && Number.isSafeInteger(parsed.nodeId) ? parsed.nodeId : undefined;
  } catch {
    return undefined;
  }
}
