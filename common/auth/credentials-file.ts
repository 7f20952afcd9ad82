// The per-user credentials file, like a kubeconfig: `spindle up` stores the client and admin tokens
// of the cluster it started under its meta address, and the CLI, the mount, the agent and the
// client library on the same machine find them there for that --meta address without flags.
// Path: $SPINDLE_CREDENTIALS, else ~/.spindle/credentials.json; mode 0600 in a 0700 directory.
// Writers take a lock file and replace the file by rename, so readers never see half a file and
// two clusters starting at once do not lose each other's entry.
import { readFileSync } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, SpindleError } from '../errors.js';

export interface ClusterCredentials {
  /** Token of role client (the default user of the CLI, mount and agent). */
  client?: string;
  /** Token of role admin (chain tables, offline targets, minting tokens). */
  admin?: string;
}

interface CredentialsFile {
  version: 1;
  /** Meta address (as `spindle up` printed it) → that cluster's tokens. */
  clusters: Record<string, ClusterCredentials>;
}

/** A lock older than this was left by a writer that died: it is broken. */
const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 10_000;
const LOCK_RETRY_MS = 20;

export function credentialsFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.SPINDLE_CREDENTIALS;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return join(homedir(), '.spindle', 'credentials.json');
}

function parse(text: string, path: string): CredentialsFile {
  try {
    const parsed = JSON.parse(text) as Partial<CredentialsFile>;
    if (
      parsed !== null &&
      typeof parsed === 'object' &&
      parsed.clusters !== null &&
      typeof parsed.clusters === 'object'
    )
      return { version: 1, clusters: parsed.clusters as Record<string, ClusterCredentials> };
  } catch {
    // Reported below.
  }
  throw new SpindleError(ErrorCode.CONFIG_INVALID, `${path} is not a Spindle credentials file; move it away`);
}

/** The addresses an address may have been stored under (`localhost` and 127.0.0.1 are one host). */
function aliases(address: string): string[] {
  const names = [address];
  if (address.startsWith('localhost:')) names.push(`127.0.0.1:${address.slice('localhost:'.length)}`);
  if (address.startsWith('127.0.0.1:')) names.push(`localhost:${address.slice('127.0.0.1:'.length)}`);
  return names;
}

/**
 * The tokens stored for `metaAddress` (a comma-separated list of meta addresses: the first one
 * found), or undefined. Synchronous: read once when a command or client starts.
 */
export function readCredentials(metaAddress: string, path = credentialsFilePath()): ClusterCredentials | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const file = parse(text, path);
  for (const address of metaAddress.split(',').map((a) => a.trim())) {
    for (const name of aliases(address)) {
      const found = file.clusters[name];
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

async function withLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await (await open(lock, 'wx', 0o600)).close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > LOCK_STALE_MS) await rm(lock, { force: true });
      else if (Date.now() > deadline)
        throw new SpindleError(ErrorCode.TIMEOUT, `${lock} is held by another process; remove it if none runs`);
      else await sleep(LOCK_RETRY_MS);
    }
  }
  try {
    return await work();
  } finally {
    await rm(lock, { force: true });
  }
}

async function update(path: string, change: (file: CredentialsFile) => void): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await withLock(path, async () => {
    const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    const file = text === undefined ? { version: 1 as const, clusters: {} } : parse(text, path);
    change(file);
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, path);
  });
}

/** Stores (replaces) the tokens of the cluster at `metaAddress`. */
export function storeCredentials(
  metaAddress: string,
  credentials: ClusterCredentials,
  path = credentialsFilePath(),
): Promise<void> {
  return update(path, (file) => {
    file.clusters[metaAddress] = credentials;
  });
}

/** Removes the entry of a cluster that stopped (its port may go to another cluster). */
export function forgetCredentials(metaAddress: string, path = credentialsFilePath()): Promise<void> {
  return update(path, (file) => {
    delete file.clusters[metaAddress];
  });
}
