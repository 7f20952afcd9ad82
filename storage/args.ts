// Command line of the storage process (docs/architecture.md "Processes and their command lines").
// Values are read with the readers every entry shares (common/flags.ts, parsePreset), so a bad
// flag gets the same message here as from `spindle storage`; every problem is listed at once.
import { parseArgs } from 'node:util';
import {
  configIntegerRange,
  DEFAULT_PRESET,
  loadConfigFile,
  parsePreset,
  storageConfig,
  type Preset,
  type StorageConfig,
} from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { parseIntegerFlag, parsePortFlag } from '../common/flags.js';
import type { TlsFiles } from '../common/tls.js';

export interface StorageArgs {
  dataDir: string;
  metaAddress: string;
  host: string;
  port: number;
  metricsPort: number;
  /** Targets to create on first start; undefined = config.targetsPerNode. */
  targets: number | undefined;
  preset: Preset;
  config: StorageConfig;
  /** TLS files from --tls-cert/--tls-key/--tls-ca (undefined: from the environment, common/tls.ts). */
  tls: TlsFiles;
  /** Bearer-token files (docs/security.md); undefined: --auth off. */
  auth: { tokenFile: string; publicKeyFile: string } | undefined;
}

const STORAGE_USAGE = `usage: storage/main.ts --data-dir DIR --meta HOST:PORT [options]
  --data-dir DIR        node id in DIR/node.json, targets in DIR/targets/<i>/
  --meta HOST:PORT      cluster manager address
  --host 127.0.0.1      listen address
  --port 0              gRPC port (0 = pick one)
  --metrics-port 0      HTTP /metrics port (0 = pick one)
  --targets 3           targets to create on first start; later starts reuse what exists
  --preset production   production | test
  --data-transport bulk bulk (chunk bytes as frames on a raw TCP listener) | grpc (inside gRPC messages)
  --bulk-port 0         port of the bulk listener (0 = pick one)
  --config FILE         optional JSON config; its "storage" section overrides the preset
  --tls-cert FILE       PEM certificate this node presents (TLS on for gRPC and bulk; or SPINDLE_TLS_CERT)
  --tls-key FILE        PEM private key of --tls-cert (or SPINDLE_TLS_KEY)
  --tls-ca FILE         PEM CA that signed the cluster's certificates (or SPINDLE_TLS_CA)
  --token-file FILE     this node's token (role storage, names its node id; docs/security.md)
  --auth-public-key FILE  the cluster's public key (meta's DATA_DIR/auth/cluster-key.pub.pem)
  --auth on             on | off: check every caller's bearer token (off: anyone may do anything)`;

/** Parses and validates argv (without node and script); every problem is a CONFIG_INVALID error. */
export function parseStorageArgs(argv: readonly string[]): StorageArgs {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'data-dir': { type: 'string' },
        meta: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'metrics-port': { type: 'string' },
        targets: { type: 'string' },
        preset: { type: 'string' },
        config: { type: 'string' },
        'data-transport': { type: 'string' },
        'bulk-port': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-ca': { type: 'string' },
        'token-file': { type: 'string' },
        'auth-public-key': { type: 'string' },
        auth: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }) as { values: Record<string, string | undefined> });
  } catch (err) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `${(err as Error).message}\n${STORAGE_USAGE}`, { cause: err });
  }
  const problems: string[] = [];
  /** Reads flag `name` when given; a value it refuses becomes a problem (listed with the others). */
  const read = <T>(name: string, parse: (text: string) => T): T | undefined => {
    const text = values[name];
    if (text === undefined) return undefined;
    try {
      return parse(text);
    } catch (err) {
      problems.push((err as Error).message);
      return undefined;
    }
  };
  const dataDir = values['data-dir'];
  const metaAddress = values['meta'];
  if (!dataDir) problems.push('--data-dir is required');
  if (!metaAddress) problems.push('--meta is required (host:port of the cluster manager)');
  const preset = read('preset', (text) => parsePreset(text)) ?? DEFAULT_PRESET;
  const targetsRange = configIntegerRange('storage', 'targetsPerNode');
  const targets = read('targets', (text) => parseIntegerFlag('--targets', text, targetsRange));
  const grpcPort = read('port', (text) => parsePortFlag('--port', text)) ?? 0;
  const metricsPort = read('metrics-port', (text) => parsePortFlag('--metrics-port', text)) ?? 0;
  const transport = values['data-transport'];
  if (transport !== undefined && transport !== 'bulk' && transport !== 'grpc') {
    problems.push(`--data-transport must be bulk or grpc, got ${JSON.stringify(transport)}`);
  }
  const bulkPort = read('bulk-port', (text) => parsePortFlag('--bulk-port', text));
  const auth = authFiles(values, problems);
  if (problems.length > 0) throw new SpindleError(ErrorCode.CONFIG_INVALID, `${problems.join('\n')}\n${STORAGE_USAGE}`);
  const file = values['config'] === undefined ? undefined : loadConfigFile(values['config']);
  // Flags win over the config file.
  const config = storageConfig(preset, {
    ...file?.storage,
    ...(transport === undefined ? {} : { dataTransport: transport }),
    ...(bulkPort === undefined ? {} : { bulkPort }),
  });
  return {
    dataDir: dataDir!,
    metaAddress: metaAddress!,
    host: values['host'] ?? '127.0.0.1',
    port: grpcPort,
    metricsPort,
    targets,
    preset,
    config,
    tls: { certPath: values['tls-cert'], keyPath: values['tls-key'], caPath: values['tls-ca'] },
    auth,
  };
}

/** --auth, --token-file and --auth-public-key: both files with auth on, neither with it off. */
function authFiles(values: Record<string, string | undefined>, problems: string[]): StorageArgs['auth'] {
  const mode = values['auth'] ?? 'on';
  const tokenFile = values['token-file'];
  const publicKeyFile = values['auth-public-key'];
  if (mode === 'off') {
    if (tokenFile !== undefined || publicKeyFile !== undefined)
      problems.push('--token-file and --auth-public-key are only used with --auth on');
    return undefined;
  }
  if (mode !== 'on') problems.push(`--auth must be on or off, got ${JSON.stringify(mode)}`);
  if (tokenFile === undefined || publicKeyFile === undefined) {
    problems.push(
      '--token-file and --auth-public-key are required (the node token and the cluster public key; ' +
        '`spindle up` writes both), or --auth off',
    );
    return undefined;
  }
  return { tokenFile, publicKeyFile };
}
