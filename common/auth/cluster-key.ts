// The cluster secret: an Ed25519 key pair. Meta (or the launcher) keeps the private key and mints
// tokens with it; every server gets only the public key, so it verifies tokens without asking meta
// and a compromised storage node cannot mint an admin token. Files: PEM, private key mode 0600.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, SpindleError } from '../errors.js';

/** File names of the key pair inside a directory (meta's DATA_DIR/auth, the launcher's data dir). */
export const PRIVATE_KEY_FILE = 'cluster-key.pem';
export const PUBLIC_KEY_FILE = 'cluster-key.pub.pem';

export interface ClusterPublicKey {
  readonly publicKey: KeyObject;
  /** First 16 hex digits of SHA-256 of the public key: names the cluster in tokens and messages. */
  readonly keyId: string;
}

export interface ClusterKey extends ClusterPublicKey {
  readonly privateKey: KeyObject;
}

function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

function publicKeyFromPem(pem: string, source: string): ClusterPublicKey {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(pem);
  } catch (err) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `${source} is not a PEM public key`, { cause: err });
  }
  if (publicKey.asymmetricKeyType !== 'ed25519')
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `${source} is not an Ed25519 key`);
  return { publicKey, keyId: keyIdOf(publicKey) };
}

export async function readPublicKeyFile(path: string): Promise<ClusterPublicKey> {
  return publicKeyFromPem(await readKeyText(path, 'cluster public key'), path);
}

async function readKeyText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `cannot read the ${what} ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export async function readPrivateKeyFile(path: string): Promise<ClusterKey> {
  const pem = await readKeyText(path, 'cluster private key');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `${path} is not a PEM private key`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `${path} is not an Ed25519 key`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

function publicKeyPem(key: ClusterPublicKey): string {
  return key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * The key pair in `dir` (PRIVATE_KEY_FILE), created with its public half (PUBLIC_KEY_FILE) when
 * missing. The private key is written with mode 0600 before any byte of it.
 */
export async function loadOrCreateClusterKey(dir: string): Promise<ClusterKey> {
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  try {
    return await readPrivateKeyFile(privatePath);
  } catch (err) {
    const missing = ((err as SpindleError).cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    if (!missing) throw err;
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await mkdir(dirname(privatePath), { recursive: true, mode: 0o700 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await writeFile(privatePath, pem, { mode: 0o600, flag: 'wx' });
  await chmod(privatePath, 0o600);
  const key = { privateKey, publicKey, keyId: keyIdOf(publicKey) };
  await writeFile(join(dir, PUBLIC_KEY_FILE), publicKeyPem(key), { mode: 0o644 });
  return key;
}
