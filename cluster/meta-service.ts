// Starting the meta process (meta/main.ts): its ready line, and the options a launcher gives it
// turned into the command line meta/main.ts documents (docs/architecture.md).
//
// Guarantees: every path on the command line is absolute (the child's cwd is the package root,
// not the caller's); options left undefined are left to meta's own defaults.
import { resolve } from 'node:path';
import type { Preset } from '../common/config.js';
import { DEFAULT_ENTRIES } from './entries.js';
import type { ServiceProcess } from './service-process.js';
import { spawnService } from './spawn-service.js';

/** Ready line of meta/main.ts (docs/architecture.md). */
export interface MetaReady {
  service: 'meta';
  addr: string;
  metrics: string;
  pid: number;
  dataDir: string;
  kv?: 'lmdb' | 'etcd';
}

/** The settings of meta that are flags on its command line. */
export interface MetaFlagOptions {
  /** Required with lmdb; unused (may be omitted) with etcd. */
  dataDir?: string;
  kv?: 'lmdb' | 'etcd';
  /** etcd client URLs (with kv 'etcd'). */
  etcd?: string[];
  etcdPrefix?: string;
  /** The etcd server's --max-txn-ops and --max-request-bytes, when not etcd's defaults. */
  etcdTxnOpsMax?: number;
  etcdRequestBytesMax?: number;
  host?: string;
  port?: number;
  metricsPort?: number;
  replicas?: number;
  storageNodes?: number;
  preset?: Preset;
  config?: string;
  /** Bearer-token checks (default on, meta's own key); 'off' for a baseline without them. */
  auth?: 'on' | 'off';
  /** The cluster's private key file (with auth on; default meta's DATA_DIR/auth/cluster-key.pem). */
  authKey?: string;
}

export interface MetaOptions extends MetaFlagOptions {
  /** Name in messages (default 'meta'). */
  name?: string;
  logFile: string;
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  entry?: string;
  env?: Record<string, string>;
  detached?: boolean;
}

/** The command-line flags of meta/main.ts for these options. */
export function metaFlags(o: MetaFlagOptions): string[] {
  const flags = o.dataDir === undefined ? [] : ['--data-dir', resolve(o.dataDir)];
  flags.push('--host', o.host ?? '127.0.0.1', '--port', String(o.port ?? 0));
  if (o.kv !== undefined) flags.push('--kv', o.kv);
  if (o.etcd !== undefined) flags.push('--etcd', o.etcd.join(','));
  if (o.etcdPrefix !== undefined) flags.push('--etcd-prefix', o.etcdPrefix);
  if (o.etcdTxnOpsMax !== undefined) flags.push('--etcd-max-txn-ops', String(o.etcdTxnOpsMax));
  if (o.etcdRequestBytesMax !== undefined) flags.push('--etcd-max-request-bytes', String(o.etcdRequestBytesMax));
  flags.push('--metrics-port', String(o.metricsPort ?? 0));
  if (o.replicas !== undefined) flags.push('--replicas', String(o.replicas));
  if (o.storageNodes !== undefined) flags.push('--storage-nodes', String(o.storageNodes));
  if (o.preset !== undefined) flags.push('--preset', o.preset);
  if (o.config !== undefined) flags.push('--config', resolve(o.config));
  if (o.auth === 'off') flags.push('--auth', 'off');
  else if (o.authKey !== undefined) flags.push('--auth-key', resolve(o.authKey));
  return flags;
}

export function startMeta(o: MetaOptions): Promise<ServiceProcess<MetaReady>> {
  return spawnService<MetaReady>({
    name: o.name ?? 'meta',
    entry: o.entry ?? DEFAULT_ENTRIES.meta,
    flags: metaFlags(o),
    logFile: o.logFile,
    readyTimeoutMs: o.readyTimeoutMs,
    signal: o.signal,
    env: o.env,
    detached: o.detached,
  });
}
