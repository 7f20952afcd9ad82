// Starting a storage process (storage/main.ts): its ready line, and the options a launcher gives
// it turned into the command line storage/args.ts reads (docs/architecture.md).
//
// Guarantees: every path on the command line is absolute (the child's cwd is the package root,
// not the caller's); options left undefined are left to the node's own config and defaults.
import { resolve } from 'node:path';
import type { DataTransport } from '../common/bulk/transport.js';
import type { Preset } from '../common/config.js';
import { DEFAULT_ENTRIES } from './entries.js';
import type { ServiceProcess } from './service-process.js';
import { spawnService } from './spawn-service.js';

/** Ready line of storage/main.ts (docs/architecture.md). */
export interface StorageReady {
  service: 'storage';
  id: number;
  addr: string;
  metrics: string;
  pid: number;
  dataDir: string;
  targets: number[];
}

/** The settings of a storage node that are flags on its command line. */
export interface StorageFlagOptions {
  dataDir: string;
  meta: string;
  host?: string;
  port?: number;
  metricsPort?: number;
  targets?: number;
  preset?: Preset;
  config?: string;
  /** Where chunk bytes travel (default: the config's, 'bulk'). */
  dataTransport?: DataTransport;
  /** Port of the bulk listener (default: the config's, 0 = pick one). */
  bulkPort?: number;
  /** The node's token file and the cluster's public key file, or 'off' (undefined: neither flag). */
  auth?: { tokenFile: string; publicKeyFile: string } | 'off';
}

export interface StorageOptions extends StorageFlagOptions {
  name?: string;
  logFile: string;
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  entry?: string;
  env?: Record<string, string>;
  detached?: boolean;
  /** See SpawnServiceOptions.commandPrefix. */
  commandPrefix?: string[];
}

/** The command-line flags of storage/main.ts for these options. */
export function storageFlags(o: StorageFlagOptions): string[] {
  const flags = ['--data-dir', resolve(o.dataDir), '--meta', o.meta, '--host', o.host ?? '127.0.0.1'];
  flags.push('--port', String(o.port ?? 0), '--metrics-port', String(o.metricsPort ?? 0));
  if (o.targets !== undefined) flags.push('--targets', String(o.targets));
  if (o.preset !== undefined) flags.push('--preset', o.preset);
  if (o.config !== undefined) flags.push('--config', resolve(o.config));
  if (o.dataTransport !== undefined) flags.push('--data-transport', o.dataTransport);
  if (o.bulkPort !== undefined) flags.push('--bulk-port', String(o.bulkPort));
  if (o.auth === 'off') flags.push('--auth', 'off');
  else if (o.auth !== undefined)
    flags.push('--token-file', resolve(o.auth.tokenFile), '--auth-public-key', resolve(o.auth.publicKeyFile));
  return flags;
}

export function startStorage(o: StorageOptions): Promise<ServiceProcess<StorageReady>> {
  return spawnService<StorageReady>({
    name: o.name ?? 'storage',
    entry: o.entry ?? DEFAULT_ENTRIES.storage,
    flags: storageFlags(o),
    logFile: o.logFile,
    readyTimeoutMs: o.readyTimeoutMs,
    signal: o.signal,
    env: o.env,
    detached: o.detached,
    commandPrefix: o.commandPrefix,
  });
}
